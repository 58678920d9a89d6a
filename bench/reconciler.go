package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
)

// scalePoint is one reconciler run from cold.
type scalePoint struct {
	spaces, services int
	converge         time.Duration
	cpu              time.Duration // the manager's CPU time while converging
	rssMiB           float64
	resyncWrites     int
	resyncReads      int
	// requests the manager made while converging, by method, and the
	// objects decco made in one space: the floor is those plus one status
	// write per space.
	requests   map[string]int
	objects    int
	reconciles int
}

func (p scalePoint) perSpace(n int) float64 { return float64(n) / float64(p.spaces) }

func (p scalePoint) totalRequests() int {
	n := 0
	for _, v := range p.requests {
		n += v
	}
	return n
}

// methods renders the requests per space by method, most first.
func (p scalePoint) methods() string {
	keys := slices.SortedFunc(maps.Keys(p.requests), func(a, b string) int { return cmp.Compare(p.requests[b], p.requests[a]) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%.1f %s", p.perSpace(p.requests[k]), k))
	}
	return strings.Join(parts, ", ")
}

// reconcilerSection measures the reconciler from cold at each size: the
// spaces and their Services exist before the manager starts, and the clock
// runs until every space's status says its policies, routes and DNS are
// in place and its PKI objects exist. cert-manager does not run: issuance
// is cert-manager's work, not decco's, so PKI counts as done at "Issuing".
func reconcilerSection(w io.Writer, sizes []int, servicesPerSpace int) error {
	var points []scalePoint
	var failed error
	for _, n := range sizes {
		p, err := scaleRun(n, servicesPerSpace)
		if err != nil {
			// The points measured so far are still reported.
			failed = fmt.Errorf("%d spaces: %w", n, err)
			break
		}
		points = append(points, p)
		fmt.Fprintf(os.Stderr, "  %d spaces converged in %s (%.1f ms a space), manager CPU %.1f ms a space, RSS %.0f MiB (%.0f KiB a space); after a restart %d writes, %d reads\n",
			n, p.converge, float64(p.converge.Milliseconds())/float64(n), float64(p.cpu.Milliseconds())/float64(n),
			p.rssMiB, p.rssMiB*1024/float64(n), p.resyncWrites, p.resyncReads)
	}
	if len(points) == 0 {
		return failed
	}
	defer func() {
		if failed != nil {
			fmt.Fprintf(w, "**Not measured:** %v.\n\n", failed)
		}
	}()
	projects := "spread over 20 projects"
	if projectSize > 0 {
		projects = fmt.Sprintf("%d per project", projectSize)
	}
	fmt.Fprintf(w, "## Reconciler from cold (%d Services per space, spaces %s), manager as its own process\n\n", servicesPerSpace, projects)
	fmt.Fprintln(w, "| spaces | Services | converged s | ms per space | manager CPU ms per space | peak RSS MiB | KiB per space | writes after a restart | reads after it |")
	fmt.Fprintln(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, p := range points {
		fmt.Fprintf(w, "| %d | %d | %.1f | %.1f | %.1f | %.0f | %.0f | %d | %d |\n", p.spaces, p.services, p.converge.Seconds(),
			float64(p.converge.Milliseconds())/float64(p.spaces), float64(p.cpu.Milliseconds())/float64(p.spaces),
			p.rssMiB, p.rssMiB*1024/float64(p.spaces), p.resyncWrites, p.resyncReads)
	}
	fmt.Fprintln(w, "\nRequests per space while converging, against the floor (the objects a space needs, plus one status write):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| spaces | requests per space | by method | floor: objects + status | reconciles per space |")
	fmt.Fprintln(w, "| ---: | ---: | --- | ---: | ---: |")
	for _, p := range points {
		fmt.Fprintf(w, "| %d | %.1f | %s | %d + 1 = %d | %.2f |\n", p.spaces, p.perSpace(p.totalRequests()), p.methods(),
			p.objects, p.objects+1, p.perSpace(p.reconciles))
	}
	fmt.Fprintln(w, "\nTargets: 1,000 spaces and 5,000 Services converged ≤ 60 s, RSS ≤ 150 MiB; 0 writes per resync; cost per space flat (ms and CPU at 10,000 within 20% of 1,000; RSS per space falling).")
	fmt.Fprintln(w)
	return failed
}

func scaleRun(spaces, servicesPerSpace int) (scalePoint, error) {
	ctx := context.Background()
	p := scalePoint{spaces: spaces, services: spaces * servicesPerSpace}
	cluster, err := controlplane.Start(ctx, controlplane.Options{Out: os.Stderr, WithoutControllerManager: true,
		APIServerArgs: map[string][]string{"max-requests-inflight": {"2000"}, "max-mutating-requests-inflight": {"1000"},
			// Room for thousands of Services; no proxy runs, so these addresses
			// are never dialed.
			"service-cluster-ip-range": {"10.96.0.0/12"}}})
	if err != nil {
		return p, err
	}
	defer cluster.Stop()
	if err := deccotest.Gateway(ctx, cluster.Client, "gateway", "shared", "192.0.2.30"); err != nil {
		return p, err
	}
	if err := populate(ctx, cluster.Config, spaces, servicesPerSpace); err != nil {
		return p, err
	}
	mgr, err := startManagerProcess(ctx, cluster)
	if err != nil {
		return p, err
	}
	start := time.Now()
	if profileDir != "" {
		time.Sleep(time.Second) // let the pprof server come up
		go mgr.profile(15*time.Second, fmt.Sprintf("reconciler-%d", spaces))
	}
	if err := waitAllConverged(ctx, cluster.Config, spaces, convergeStall); err != nil {
		mgr.stop()
		return p, fmt.Errorf("%w\nmanager log tail:\n%s", err, mgr.tail())
	}
	p.converge = time.Since(start)
	p.cpu = mgr.cpuTime()
	p.rssMiB = mgr.peakRSSMiB()
	if p.requests, err = mgr.metric("rest_client_requests_total", "method"); err != nil {
		return p, err
	}
	recs, err := mgr.metric("controller_runtime_reconcile_total", "controller")
	if err != nil {
		return p, err
	}
	p.reconciles = recs["space"]
	if p.objects, err = managedObjects(ctx, cluster.Client, "tenant-0000"); err != nil {
		return p, err
	}
	fmt.Fprintf(os.Stderr, "  requests per space while converging: %s; reconciles %v\n", p.methods(), recs)
	if writes, err := apiserverWrites(ctx, cluster); err == nil {
		// The apiserver's view: which resources the writes went to (the
		// bench's own creates are POSTs; no other client writes).
		fmt.Fprintf(os.Stderr, "  writes per space by verb and resource (apiserver): %s\n", perSpace(writes, spaces))
	}
	mgr, p.resyncWrites, p.resyncReads, err = restartWrites(ctx, cluster, mgr, spaces)
	if mgr != nil {
		defer mgr.stop()
	}
	return p, err
}

// managedKinds are the kinds decco makes in a space (Gateway API mode,
// DNS records as external-dns DNSEndpoints).
var managedKinds = []schema.GroupVersionKind{
	networkingv1.SchemeGroupVersion.WithKind("NetworkPolicyList"),
	certmanagerv1.SchemeGroupVersion.WithKind("IssuerList"),
	certmanagerv1.SchemeGroupVersion.WithKind("CertificateList"),
	corev1.SchemeGroupVersion.WithKind("ConfigMapList"),
	schema.GroupVersion(gatewayv1.GroupVersion).WithKind("ListenerSetList"),
	schema.GroupVersion(gatewayv1.GroupVersion).WithKind("BackendTLSPolicyList"),
	schema.GroupVersion(gatewayv1.GroupVersion).WithKind("HTTPRouteList"),
	schema.GroupVersion(gatewayv1.GroupVersion).WithKind("TLSRouteList"),
	endpoint.GroupVersion.WithKind("DNSEndpointList"),
}

// managedObjects counts the objects decco made in namespace ns.
func managedObjects(ctx context.Context, c client.Client, ns string) (int, error) {
	n := 0
	for _, gvk := range managedKinds {
		var list metav1.PartialObjectMetadataList
		list.SetGroupVersionKind(gvk)
		if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: reconciler.ManagedSelector()}); err != nil {
			return 0, fmt.Errorf("counting %s in %s: %w", gvk.Kind, ns, err)
		}
		n += len(list.Items)
	}
	return n, nil
}

// apiserverWrites counts the apiserver's PATCH and APPLY requests by
// verb and resource, from its own metrics.
func apiserverWrites(ctx context.Context, cluster *controlplane.Cluster) (map[string]float64, error) {
	body, err := cluster.Get(ctx, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		verb, resource := promLabel(line, "verb"), promLabel(line, "resource")
		if verb != "PATCH" && verb != "APPLY" {
			continue
		}
		fields := strings.Fields(line)
		v, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
		out[verb+" "+resource] += v
	}
	return out, sc.Err()
}

// promLabel is the value of label in a Prometheus text-format line.
func promLabel(line, label string) string {
	i := strings.Index(line, label+`="`)
	if i < 0 {
		return ""
	}
	v := line[i+len(label)+2:]
	return v[:strings.IndexByte(v, '"')]
}

func perSpace(counts map[string]float64, spaces int) string {
	keys := slices.Sorted(maps.Keys(counts))
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, counts[k]/float64(spaces)))
	}
	return strings.Join(parts, ", ")
}

// scaleTimeout bounds a wait on n spaces: 30 minutes, or 600 ms a space
// for the largest runs on a shared machine (3,000 spaces took over 10
// minutes at load average 20).
func scaleTimeout(n int) time.Duration {
	return max(30*time.Minute, time.Duration(n)*600*time.Millisecond)
}

// populate creates the spaces and Services concurrently, as fast as the
// apiserver takes them: with client-go's default limit (5 requests/s per
// resource) the 60,000 objects of 10,000 spaces took over an hour.
func populate(ctx context.Context, cfg *rest.Config, spaces, servicesPerSpace int) error {
	unlimited := rest.CopyConfig(cfg)
	unlimited.QPS = -1
	c, err := client.New(unlimited, client.Options{Scheme: controlplane.Scheme})
	if err != nil {
		return fmt.Errorf("a client for populating: %w", err)
	}
	start := time.Now()
	defer func() {
		fmt.Fprintf(os.Stderr, "  populated %d spaces, %d Services in %s\n", spaces, spaces*servicesPerSpace, time.Since(start).Round(time.Second))
	}()
	jobs := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := createScaleSpace(ctx, c, i, servicesPerSpace); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range spaces {
		select {
		case jobs <- i:
		case err := <-errs:
			close(jobs)
			return err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func createScaleSpace(ctx context.Context, c client.Client, i, services int) error {
	name := fmt.Sprintf("tenant-%04d", i)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{space.LabelSpace: name},
		Annotations: map[string]string{space.AnnotationDomain: "example.com",
			space.AnnotationProject: projectOf(i)}}}
	if err := c.Create(ctx, ns); err != nil {
		return err
	}
	for j := range services {
		ann := map[string]string{space.AnnotationDNS: "true"}
		if j == 0 {
			ann = map[string]string{space.AnnotationHTTPPath: "/"}
		}
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: fmt.Sprintf("svc-%d", j),
				Labels: map[string]string{space.LabelSpace: name}, Annotations: ann},
			// Headless: the reconciler never reads a cluster IP, and the
			// apiserver's IP allocator lists every allocated address for each
			// new one (81% of its CPU while creating the 10,000 point's
			// Services), which made populating, not decco, the run's cost.
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "x"}, ClusterIP: corev1.ClusterIPNone,
				Ports: []corev1.ServicePort{{Name: "tcp", Port: 443}}},
		}
		if err := c.Create(ctx, svc); err != nil {
			return err
		}
	}
	return nil
}

// projectSize is -project-size: spaces per project, or 0 for 20 projects.
var projectSize int

// projectOf is space i's project. Each space's NetworkPolicy names its
// project's members, so the members per project, not the spaces in the
// cluster, set a policy's size: 20 projects over a growing run grow it with
// the run; a fixed size keeps it constant, as one customer's few spaces do.
func projectOf(i int) string {
	if projectSize > 0 {
		return fmt.Sprintf("project-%05d", i/projectSize)
	}
	return fmt.Sprintf("project-%02d", i%20)
}

// converged: decco's part of every space is done.
func converged(st space.Status) bool {
	for _, p := range []string{space.PartPolicies, space.PartRoutes, space.PartDNS} {
		if !st.Parts[p].Ready {
			return false
		}
	}
	_, pki := st.Parts[space.PartPKI]
	return pki
}

// waitAllConverged watches the spaces' namespaces until every one reports
// converged. It watches rather than lists: a List of thousands of
// namespaces every poll would load the apiserver in proportion to the
// run's size and bend the very curve being measured. It fails when no
// space converges for stall, so a slow shared machine stretches the run
// instead of failing it, while a stuck manager still fails.
func waitAllConverged(ctx context.Context, cfg *rest.Config, spaces int, stall time.Duration) error {
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("metadata client: %w", err)
	}
	var mu sync.Mutex
	done := map[string]bool{}
	record := func(obj any) {
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			return
		}
		st, err := space.ParseStatus(m.Annotations[space.AnnotationStatus])
		mu.Lock()
		done[m.Name] = err == nil && converged(st)
		mu.Unlock()
	}
	informer := metadatainformer.NewFilteredMetadataInformer(mc, corev1.SchemeGroupVersion.WithResource("namespaces"), "", 0, nil,
		func(o *metav1.ListOptions) { o.LabelSelector = space.LabelSpace })
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
	}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go informer.Informer().RunWithContext(ctx)

	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, ok := range done {
			if ok {
				n++
			}
		}
		return n
	}
	start := time.Now()
	last, progressed, reported := -1, start, start
	for {
		n := count()
		if n >= spaces {
			return nil
		}
		if n > last {
			last, progressed = n, time.Now()
		}
		if time.Since(progressed) > stall {
			return fmt.Errorf("only %d of %d spaces converged after %s: none for %s",
				last, spaces, time.Since(start).Round(time.Second), stall)
		}
		if time.Since(reported) > 30*time.Second {
			// Progress, for the long runs of make bench-scale.
			fmt.Fprintf(os.Stderr, "  %d of %d spaces converged after %s\n", n, spaces, time.Since(start).Round(time.Second))
			reported = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// convergeStall is how long a convergence may go without one more space
// converging before the benchmark gives up on it.
const convergeStall = 3 * time.Minute

// reconcilerWorkers is the manager's --reconciler-workers in this run.
var reconcilerWorkers = 4

// managerProcess is cmd/decco running against the cluster, metrics on.
type managerProcess struct {
	cmd     *exec.Cmd
	log     string
	metrics string
	pprof   string
}

// profileDir, when set, receives CPU and heap profiles of the manager
// while it converges the cluster, and the apiserver's CPU profile of each
// namespace's pod creates.
var profileDir string

// profile saves a CPU profile of the next d and then a heap profile.
func (m *managerProcess) profile(d time.Duration, tag string) {
	if m.pprof == "" {
		return
	}
	save := func(url, file string) {
		resp, err := http.Get(url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(profileDir, file))
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}
	save(fmt.Sprintf("%s/profile?seconds=%d", m.pprof, int(d.Seconds())), tag+"-cpu.pprof")
	save(m.pprof+"/heap", tag+"-heap.pprof")
}

func startManagerProcess(ctx context.Context, cluster *controlplane.Cluster) (*managerProcess, error) {
	bin := filepath.Join(cluster.Dir, "decco")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/decco")
	build.Dir = controlplane.RepoRoot()
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, err
	}
	certDir := filepath.Join(cluster.Dir, "webhook-tls")
	if _, err := deccotest.ServingCert(certDir); err != nil {
		return nil, err
	}
	webhookPort, err := deccotest.FreePort()
	if err != nil {
		return nil, err
	}
	metricsPort, err := deccotest.FreePort()
	if err != nil {
		return nil, err
	}
	m := &managerProcess{log: filepath.Join(cluster.Dir, "decco.log"), metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)}
	logFile, err := os.Create(m.log)
	if err != nil {
		return nil, err
	}
	m.cmd = exec.Command(bin,
		"--kubeconfig="+cluster.Kubeconfig,
		"--webhook-host=127.0.0.1", "--webhook-port="+strconv.Itoa(webhookPort), "--webhook-cert-dir="+certDir,
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(metricsPort),
		"--health-probe-bind-address=0",
		"--leader-elect=false",
		"--gateway=gateway/shared",
		"--kube-api-qps=500", "--kube-api-burst=1000",
		"--reconciler-workers="+strconv.Itoa(reconcilerWorkers),
	)
	if profileDir != "" {
		pprofPort, err := deccotest.FreePort()
		if err != nil {
			return nil, err
		}
		m.pprof = fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", pprofPort)
		m.cmd.Args = append(m.cmd.Args, "--pprof-bind-address=127.0.0.1:"+strconv.Itoa(pprofPort))
	}
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return m, m.cmd.Start()
}

func (m *managerProcess) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	_ = m.cmd.Wait()
}

func (m *managerProcess) tail() string {
	b, _ := os.ReadFile(m.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// cpuTime is the user and system CPU time the process has used.
func (m *managerProcess) cpuTime() time.Duration { return procCPU(m.cmd.Process.Pid) }

// peakRSSMiB is the process's high-water resident set size.
func (m *managerProcess) peakRSSMiB() float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// restartWrites stops the manager and starts a fresh one over the
// converged cluster: every space is reconciled again from scratch, which
// is the most a resync (or a leader failover) can do. It returns the API
// writes and reads the new process made by the time it went idle.
func restartWrites(ctx context.Context, cluster *controlplane.Cluster, old *managerProcess, spaces int) (*managerProcess, int, int, error) {
	old.stop()
	m, err := startManagerProcess(ctx, cluster)
	if err != nil {
		return nil, 0, 0, err
	}
	if err := m.waitIdle(spaces, scaleTimeout(spaces)); err != nil {
		return m, 0, 0, fmt.Errorf("%w\nmanager log tail:\n%s", err, m.tail())
	}
	reqs, err := m.metric("rest_client_requests_total", "method")
	if err != nil {
		return m, 0, 0, err
	}
	writes, reads := 0, 0
	for method, n := range reqs {
		switch method {
		case "GET", "LIST", "WATCH":
			reads += n
		default:
			writes += n
		}
	}
	return m, writes, reads, nil
}

// waitIdle waits until the space controller has reconciled at least n
// times and then done nothing for two seconds.
func (m *managerProcess) waitIdle(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last, quietSince := -1, time.Now()
	for time.Now().Before(deadline) {
		counts, err := m.metric("controller_runtime_reconcile_total", "controller")
		if err == nil {
			total := counts["space"]
			if total != last {
				last, quietSince = total, time.Now()
			} else if total >= n && time.Since(quietSince) > 2*time.Second {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the space controller did not finish %d reconciles within %s (did %d)", n, timeout, last)
}

// metric sums a counter from the manager's /metrics by one label.
func (m *managerProcess) metric(name, label string) (map[string]int, error) {
	resp, err := http.Get(m.metrics)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		value := promLabel(line, label)
		if value == "" {
			continue
		}
		fields := strings.Fields(line)
		v, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
		out[value] += int(v)
	}
	return out, sc.Err()
}

package compat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
)

// docsEnv names the file to write the table to instead of comparing it
// with the committed one.
const docsEnv = "DECCO_COMPAT_DOCS"

// podsTimeout bounds the wait for a workload's controller to create its
// pods or report why it can't.
const podsTimeout = 2 * time.Minute

// TestChartCorpus applies every chart of test/testdata/charts into its own
// space and records, per chart, what decco did; the table it makes must
// equal the committed one.
func TestChartCorpus(t *testing.T) {
	cluster.Need(t)
	dp, err := current()
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(controlplane.RepoRoot(), "test", "testdata", "charts", "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 15, "the corpus holds at least 15 charts")

	var mu sync.Mutex
	var results []chartResult
	t.Run("charts", func(t *testing.T) {
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".yaml")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				res := applyChart(t, dp, name, f)
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
			})
		}
	})
	if t.Failed() {
		return
	}
	sort.Slice(results, func(i, j int) bool { return results[i].name < results[j].name })
	doc := renderDoc(dp, results)
	if path := os.Getenv(docsEnv); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
		return
	}
	committed, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), dp.doc))
	require.NoError(t, err)
	assert.Equal(t, string(committed), doc, "%s is stale; regenerate it with %s=$PWD/%s go test ./test/compat", dp.doc, docsEnv, dp.doc)
}

// chartResult is what applying one chart did.
type chartResult struct {
	name, chart, version string
	// values are the chart's values set at render time, beyond defaults.
	values []string
	// refused are objects the apiserver refused at apply, with why.
	refused []string
	// warnings are the admission warnings applying the chart produced.
	warnings  []string
	workloads []workloadResult
	services  []serviceResult
	// holes are the chart's own NetworkPolicies that admit other pods to
	// a port decco keeps plaintext.
	holes []string
}

type workloadResult struct {
	kind, name string
	// want and got count the pods the controller should create here and
	// did create.
	want, got int
	// note says why want differs from the workload's replicas, or how its
	// pods were made.
	note string
	// failed is why its pods were refused, if they were.
	failed string
	// injected counts its pods that carry decco's sidecar.
	injected int
	// tls are the sidecar's listeners on its first pod.
	tls []sidecar.Listener
}

type serviceResult struct {
	name string
	// ports say, per Service port, where its target lands.
	ports []string
	// mismatches are its ports no listener serves on some selected pod.
	mismatches []space.PortMismatch
	// plaintext and tls count its ports by where they land.
	plaintext, tls, udp int
	// headless is set for a Service without a cluster IP, whose DNS names
	// are the pods' addresses: peers dial the port numbers directly.
	headless bool
	// selected counts the pods it selects.
	selected int
	// direct are its port numbers that a peer dialing a selected pod's
	// address doesn't reach over TLS, and where they land instead.
	direct      []string
	directWhere string
}

// works reports whether the chart works unmodified: nothing refused,
// every pod created and injected, every TCP Service port on a TLS
// listener of every pod it selects.
func (r chartResult) works() bool {
	return len(r.holes) == 0 && r.admittedOnTLS()
}

// admittedOnTLS is works but for the chart's own NetworkPolicies.
func (r chartResult) admittedOnTLS() bool {
	if len(r.refused) > 0 {
		return false
	}
	for _, w := range r.workloads {
		if w.failed != "" || w.got < w.want || w.injected < w.got {
			return false
		}
	}
	for _, s := range r.services {
		if len(s.mismatches) > 0 || s.plaintext > 0 || s.peersInPlaintext() {
			return false
		}
	}
	return true
}

// peersInPlaintext: the pods behind a headless Service are several, so
// they are peers that dial each other's addresses, and some port of it
// doesn't reach TLS that way.
func (s serviceResult) peersInPlaintext() bool {
	return s.headless && s.selected > 1 && len(s.direct) > 0
}

var (
	header    = regexp.MustCompile(`(?m)^# Chart (\S+) (\S+) `)
	setValues = regexp.MustCompile(`(?m)^# with default values and (.*);`)
)

func applyChart(t *testing.T, dp dataplane, ns, file string) chartResult {
	ctx := context.Background()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	m := header.FindSubmatch(data)
	require.NotNil(t, m, "%s: no '# Chart <name> <version>' header", file)
	res := chartResult{name: ns, chart: string(m[1]), version: string(m[2])}
	if v := setValues.FindSubmatch(data); v != nil {
		res.values = strings.Fields(strings.ReplaceAll(string(v[1]), "--set ", ""))
	}
	objs, err := deccotest.DecodeYAML(data)
	require.NoError(t, err)

	createSpace(t, ns)
	warn := &warnings{}
	c := clientWithWarnings(t, warn)
	var applied []*unstructured.Unstructured
	for _, obj := range objs {
		namespaced, err := c.IsObjectNamespaced(obj)
		require.NoError(t, err, "%s %s", obj.GetKind(), obj.GetName())
		if namespaced && obj.GetNamespace() == "" {
			obj.SetNamespace(ns)
		}
		err = c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("decco-compat"), client.ForceOwnership)
		if err != nil {
			require.True(t, apierrors.IsForbidden(err) || apierrors.IsInvalid(err), "applying %s %s: %v", obj.GetKind(), obj.GetName(), err)
			res.refused = append(res.refused, fmt.Sprintf("%s %s: %s", obj.GetKind(), obj.GetName(), cleanRefusal(err.Error())))
			continue
		}
		applied = append(applied, obj)
	}
	t.Cleanup(func() {
		_ = cluster.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})

	var pods []corev1.Pod
	for _, obj := range applied {
		w, got, ok := workload(t, c, obj)
		if ok {
			res.workloads = append(res.workloads, w)
			pods = append(pods, got...)
		}
	}
	for _, obj := range applied {
		if obj.GetKind() == "Service" {
			res.services = append(res.services, service(t, dp, obj.GetNamespace(), obj.GetName(), pods))
		}
	}
	for _, obj := range applied {
		if obj.GetKind() == "NetworkPolicy" {
			var np networkingv1.NetworkPolicy
			fromUnstructured(t, obj, &np)
			if hole := plaintextHole(dp, &np, pods); hole != "" {
				res.holes = append(res.holes, hole)
			}
		}
	}
	res.warnings = warn.list()
	return res
}

// plaintextHole says which ports a chart's NetworkPolicy opens to other
// pods that land on an app container rather than on TLS (decco's listener,
// or the cni data plane's interception) (a NetworkPolicy adds to decco's:
// it can only open more); "" when none.
func plaintextHole(dp dataplane, np *networkingv1.NetworkPolicy, pods []corev1.Pod) string {
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		return ""
	}
	var open []string
	for i := range pods {
		pod := &pods[i]
		if pod.Namespace != np.Namespace || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				return fmt.Sprintf("NetworkPolicy %s admits other pods to every port", np.Name)
			}
			for _, p := range rule.Ports {
				if p.Port == nil || p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
					continue
				}
				_, cp, ok := space.TargetedBy(pod, corev1.ServicePort{TargetPort: *p.Port})
				if !ok {
					continue
				}
				if tls, _ := dp.direct(pod, cp.ContainerPort); !tls && !slices.Contains(open, fmt.Sprint(cp.ContainerPort)) {
					open = append(open, fmt.Sprint(cp.ContainerPort))
				}
			}
		}
		break // the pods it selects share a template
	}
	if len(open) == 0 {
		return ""
	}
	return fmt.Sprintf("NetworkPolicy %s admits other pods to the app's plaintext port %s", np.Name, strings.Join(open, ", "))
}

// createSpace makes namespace ns a space and waits for decco's Pod
// Security labels, so the chart's pods meet the level every space has.
func createSpace(t *testing.T, ns string) {
	ctx := context.Background()
	require.NoError(t, cluster.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels:      map[string]string{space.LabelSpace: ns},
		Annotations: map[string]string{space.AnnotationDomain: "example.com"}}}))
	deccotest.WaitFor(t, time.Minute, "decco's Pod Security labels on space "+ns, func() error {
		var obj corev1.Namespace
		if err := cluster.Client.Get(ctx, client.ObjectKey{Name: ns}, &obj); err != nil {
			return err
		}
		if obj.Labels[space.PodSecurityPrefix+"enforce"] == "" {
			return fmt.Errorf("no label %senforce yet", space.PodSecurityPrefix)
		}
		return nil
	})
}

// warnings collects the apiserver's warnings (admission warnings among
// them), once each.
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Contains(w.seen, text) {
		w.seen = append(w.seen, text)
	}
}

func (w *warnings) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.seen)
}

func clientWithWarnings(t *testing.T, w *warnings) client.Client {
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WarningHandler, cfg.WarningHandlerWithContext = nil, w
	c, err := client.New(cfg, client.Options{Scheme: cluster.Client.Scheme(), Mapper: cluster.Client.RESTMapper()})
	require.NoError(t, err)
	return c
}

var (
	webhookPrefix     = regexp.MustCompile(`admission webhook "[^"]+" denied the request: `)
	forbiddenPod      = regexp.MustCompile(`pods "[^"]+" is forbidden: `)
	statefulSetPrefix = regexp.MustCompile(`(?i)^create Pod \S+ in StatefulSet \S+ failed error: `)
	// A workload's pod names carry a random suffix.
	generatedName = regexp.MustCompile(`(pod|Pod) [a-z0-9-]+/[a-z0-9-]+-[a-z0-9]{5}\b`)
)

// cleanRefusal keeps what a refusal says, without the parts that name a
// random pod or the webhook.
func cleanRefusal(msg string) string {
	msg = webhookPrefix.ReplaceAllString(msg, "")
	msg = forbiddenPod.ReplaceAllString(msg, "")
	return generatedName.ReplaceAllString(msg, "$1")
}

// workload waits for the pods of obj, if it is a workload, and says what
// became of them.
func workload(t *testing.T, c client.Client, obj *unstructured.Unstructured) (workloadResult, []corev1.Pod, bool) {
	ctx := context.Background()
	w := workloadResult{kind: obj.GetKind(), name: obj.GetName()}
	var selector *metav1.LabelSelector
	switch obj.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		fromUnstructured(t, obj, &d)
		w.want, selector = replicas(d.Spec.Replicas), d.Spec.Selector
	case "StatefulSet":
		var s appsv1.StatefulSet
		fromUnstructured(t, obj, &s)
		w.want, selector = replicas(s.Spec.Replicas), s.Spec.Selector
		if s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement && w.want > 1 {
			w.note = fmt.Sprintf("%d replicas, OrderedReady: pod 1 waits for pod 0 to be Ready, and nothing runs pods here", w.want)
			w.want = 1
		}
	case "DaemonSet":
		var d appsv1.DaemonSet
		fromUnstructured(t, obj, &d)
		pod, err := dryRunPod(ctx, c, d.Namespace, d.Name, d.Spec.Template)
		w.want, w.note = 1, "a DaemonSet's pod, created with dryRun (the cluster has no node to run it on)"
		if err != nil {
			w.failed = cleanRefusal(err.Error())
			return w, nil, true
		}
		w.got = 1
		count(&w, []corev1.Pod{*pod})
		return w, []corev1.Pod{*pod}, true
	default:
		return w, nil, false
	}
	var pods []corev1.Pod
	deccotest.WaitFor(t, podsTimeout, fmt.Sprintf("pods of %s %s", w.kind, w.name), func() error {
		var err error
		if pods, err = selectedPods(ctx, obj.GetNamespace(), selector); err != nil {
			return err
		}
		if len(pods) >= w.want {
			return nil
		}
		if w.failed = creationFailure(ctx, obj); w.failed != "" {
			return nil
		}
		return fmt.Errorf("%d of %d pods", len(pods), w.want)
	})
	w.got = len(pods)
	count(&w, pods)
	return w, pods, true
}

func replicas(r *int32) int {
	if r == nil {
		return 1
	}
	return int(*r)
}

func fromUnstructured(t *testing.T, obj *unstructured.Unstructured, into any) {
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, into))
}

// count records how many of pods carry the sidecar, and the first one's
// listeners.
func count(w *workloadResult, pods []corev1.Pod) {
	for i := range pods {
		if !deccotest.Injected(&pods[i]) {
			continue
		}
		w.injected++
		if w.tls == nil {
			w.tls = listeners(&pods[i])
		}
	}
}

// listeners reads the sidecar's listeners from its arguments.
func listeners(pod *corev1.Pod) []sidecar.Listener {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name != inject.SidecarName {
				continue
			}
			cfg, err := sidecar.ParseArgs(c.Args)
			if err != nil {
				return nil
			}
			return cfg.Listeners
		}
	}
	return nil
}

func selectedPods(ctx context.Context, ns string, selector *metav1.LabelSelector) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, err
	}
	var list corev1.PodList
	if err := cluster.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// creationFailure is why the controller of obj could not create its
// pods, as it reports it: a ReplicaSet's ReplicaFailure condition, a
// StatefulSet's FailedCreate Event; "" while there is none.
func creationFailure(ctx context.Context, obj *unstructured.Unstructured) string {
	ns := obj.GetNamespace()
	switch obj.GetKind() {
	case "Deployment":
		var rss appsv1.ReplicaSetList
		if err := cluster.Client.List(ctx, &rss, client.InNamespace(ns)); err != nil {
			return ""
		}
		for _, rs := range rss.Items {
			if !metav1.IsControlledBy(&rs, obj) {
				continue
			}
			for _, c := range rs.Status.Conditions {
				if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
					return cleanRefusal(c.Message)
				}
			}
		}
	case "StatefulSet":
		var events corev1.EventList
		if err := cluster.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return ""
		}
		for _, e := range events.Items {
			if e.InvolvedObject.UID == obj.GetUID() && e.Reason == "FailedCreate" {
				return cleanRefusal(statefulSetPrefix.ReplaceAllString(e.Message, ""))
			}
		}
	}
	return ""
}

// dryRunPod admits a pod of tmpl without storing it: the apiserver runs
// every admission step (decco's webhook, Pod Security) and returns the
// pod as it would be stored.
func dryRunPod(ctx context.Context, c client.Client, ns, name string, tmpl corev1.PodTemplateSpec) (*corev1.Pod, error) {
	pod := &corev1.Pod{ObjectMeta: *tmpl.ObjectMeta.DeepCopy(), Spec: *tmpl.Spec.DeepCopy()}
	pod.Namespace, pod.GenerateName = ns, name+"-"
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		return nil, err
	}
	return pod, nil
}

// service says where each port of Service ns/name lands on the pods it
// selects.
func service(t *testing.T, dp dataplane, ns, name string, pods []corev1.Pod) serviceResult {
	var svc corev1.Service
	require.NoError(t, cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc))
	res := serviceResult{name: name, headless: svc.Spec.ClusterIP == corev1.ClusterIPNone}
	if dp.mismatches {
		res.mismatches = space.PortMismatches(&svc, pods)
	}
	selected := selectedBy(&svc, pods)
	res.selected = len(selected)
	if res.headless && len(selected) > 0 {
		for _, p := range svc.Spec.Ports {
			if p.Protocol == corev1.ProtocolUDP {
				continue
			}
			if tls, where := dp.direct(&selected[0], p.Port); !tls {
				res.direct = append(res.direct, fmt.Sprint(p.Port))
				res.directWhere = where
			}
		}
	}
	for _, p := range svc.Spec.Ports {
		where := dp.land(p, selected)
		switch {
		case p.Protocol == corev1.ProtocolUDP:
			res.udp++
		case strings.HasPrefix(where, "TLS"):
			res.tls++
		case strings.HasPrefix(where, "plaintext"):
			res.plaintext++
		}
		res.ports = append(res.ports, fmt.Sprintf("%d→%s: %s", p.Port, p.TargetPort.String(), where))
	}
	return res
}

func selectedBy(svc *corev1.Service, pods []corev1.Pod) []corev1.Pod {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	var out []corev1.Pod
	for _, p := range pods {
		match := true
		for k, v := range svc.Spec.Selector {
			if p.Labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, p)
		}
	}
	return out
}

// landing says where Service port p reaches on the pods selected: the
// sidecar's TLS listener, an app container's plaintext port, or nothing.
func landing(p corev1.ServicePort, pods []corev1.Pod) string {
	if p.Protocol == corev1.ProtocolUDP {
		return "UDP, not carried by decco"
	}
	if len(pods) == 0 {
		return "no pod selected"
	}
	owners := map[string]bool{}
	missing := 0
	var port int32
	for i := range pods {
		c, cp, ok := space.TargetedBy(&pods[i], p)
		if !ok {
			missing++
			continue
		}
		owners[c] = true
		port = cp.ContainerPort
	}
	switch {
	case missing == len(pods):
		return "no pod declares it"
	case len(owners) == 1 && owners[inject.SidecarName] && missing == 0:
		return fmt.Sprintf("TLS listener %d", port)
	case !owners[inject.SidecarName]:
		return fmt.Sprintf("plaintext app port %d", port)
	}
	return fmt.Sprintf("TLS on some pods, missing on %d of %d", missing, len(pods))
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

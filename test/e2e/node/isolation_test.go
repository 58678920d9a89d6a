package node

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// The isolation layout mirrors netpol/reachability_test.go: spaces a1 and
// a2 in one project, b1 in another, open1 in none, decco's own namespace,
// the gateway's, and an unrelated one. Every role is a namespace; matrix
// cells list roles, in this order.
var roles = []string{"a1", "a2", "b1", "open1", "decco-system", "gateway", "other"}

// Ports of the server pod "web" each space runs: an HTTP app and a
// MySQL-style app, both taken over by TLS listeners and exposed by a
// Service, and a metrics port the pod declares plaintext. The sidecar adds
// the listeners and its health port.
const (
	webHTTPPort    = 8080
	webMySQLPort   = 3306
	webMetricsPort = 9090
	strayPort      = 18080
)

// endpoint is one pod of the matrix as the cluster runs it.
type endpoint struct {
	role, name string
	pod        *corev1.Pod
	ports      []corev1.ContainerPort
}

func (e endpoint) row(p corev1.ContainerPort) string {
	return fmt.Sprintf("%s/%s:%d", e.role, e.name, p.ContainerPort)
}

// isolationLayout is the running layout: role -> namespace name, the
// servers whose ports are probed, and one agent per role that probes.
type isolationLayout struct {
	ns      map[string]string
	servers []endpoint
	agents  map[string]endpoint
}

// TestIsolationMatrixWithRealPackets measures decco's isolation with real
// TCP connections: an agent pod in every namespace of the layout connects
// to every port of every server pod (and of every other agent), and what
// connected must equal, cell by cell, what cyclonus's NetworkPolicy
// matcher (an implementation independent of decco and of kube-router)
// computes from the policies decco wrote, as the apiserver stored them,
// and the running pods' labels and ports. Before that, the computed
// matrix must be the one decco's design intends.
func TestIsolationMatrixWithRealPackets(t *testing.T) {
	node.Require(t)
	ctx := context.Background()
	l := startIsolationLayout(t, ctx)
	requireListening(t, l)

	var computed map[string]string
	deccotest.WaitFor(t, 60*time.Second, "decco's policies to give the intended matrix", func() error {
		computed = cyclonusMatrix(t, ctx, l)
		if diff := matrixDiff(intendedIsolation(l), computed, nil); diff != "" {
			return fmt.Errorf("intended vs computed from the stored policies:\n%s", diff)
		}
		return nil
	})

	observed, details, rounds, took := probeUntilEqual(t, l, computed, 60*time.Second)
	if diff := matrixDiff(computed, observed, details); diff != "" {
		t.Fatalf("what connected differs from cyclonus's matrix after %d rounds:\n%s\ncyclonus:\n%s\nobserved:\n%s",
			rounds, diff, formatMatrix(computed), formatMatrix(observed))
	}
	t.Logf("isolation matrix equal to cyclonus's after %d round(s), %s after the policies were read back:\n%s",
		rounds, took.Round(time.Millisecond), formatMatrix(observed))
}

// probeUntilEqual probes the whole matrix in rounds until it equals want
// or timeout passes: kube-router enforces policies some time after they
// are stored, and the observed matrix converges to the computed one. It
// returns the last round's matrix and answers, how many rounds ran and
// how long they took.
func probeUntilEqual(t *testing.T, l isolationLayout, want map[string]string, timeout time.Duration) (map[string]string, map[string]string, int, time.Duration) {
	t.Helper()
	start := time.Now()
	for rounds := 1; ; rounds++ {
		began := time.Now()
		observed, details := probeMatrix(t, l)
		t.Logf("round %d: %d probes (%d agents × %d destination ports, self excluded) in %s",
			rounds, countProbes(l), len(l.agents), countPorts(l), time.Since(began).Round(time.Millisecond))
		if matrixDiff(want, observed, nil) == "" || time.Since(start) > timeout {
			return observed, details, rounds, time.Since(start)
		}
	}
}

// startIsolationLayout creates the namespaces, pods and Services and
// waits for every pod to be Ready.
func startIsolationLayout(t *testing.T, ctx context.Context) isolationLayout {
	t.Helper()
	suffix := rand.String(5)
	// Agents in the namespaces every run shares get a name of their own.
	agentName := "agent-" + suffix
	projects := map[string]string{"a1": "alpha-" + suffix, "a2": "alpha-" + suffix, "b1": "beta-" + suffix, "open1": ""}
	l := isolationLayout{ns: map[string]string{
		"decco-system": systemNamespace,
		"gateway":      gatewayNamespace,
	}, agents: map[string]endpoint{}}
	for _, role := range []string{"decco-system", "gateway"} {
		ensureNamespace(t, ctx, l.ns[role])
	}
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "other-"}}
	require.NoError(t, suite.Client.Create(ctx, other))
	l.ns["other"] = other.Name

	for _, role := range []string{"a1", "a2", "b1", "open1"} {
		var annotations map[string]string
		if projects[role] != "" {
			annotations = map[string]string{space.AnnotationProject: projects[role]}
		}
		ns := suite.NewSpace(t, role, annotations)
		l.ns[role] = ns
		require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "web", webTemplate(ns))))
		require.NoError(t, suite.Client.Create(ctx, webService(ns, role == "a1")))
	}
	stray := nodetest.App(l.ns["a1"], "stray", nil, []corev1.ContainerPort{{Name: "http", ContainerPort: strayPort}}, "http", fmt.Sprintf("-listen=:%d", strayPort))
	delete(stray.Labels, space.LabelSpace)
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(l.ns["a1"], "stray", stray)))
	for _, role := range roles {
		// Agents declare no port, so in a space they are injected (a
		// sidecar, no listener) and their port 9000 stays outside every
		// listener policy; the host reaches it because the policy engine
		// admits the node.
		tmpl := nodetest.App(l.ns[role], agentName, nil, nil, "agent", fmt.Sprintf("-listen=:%d", agentPort))
		if _, isSpace := projects[role]; !isSpace {
			delete(tmpl.Labels, space.LabelSpace)
		}
		agent := nodetest.Deployment(l.ns[role], agentName, tmpl)
		require.NoError(t, suite.Client.Create(ctx, agent))
		t.Cleanup(func() { _ = suite.Client.Delete(context.Background(), agent) })
	}

	for _, role := range roles {
		if _, isSpace := projects[role]; isSpace {
			l.servers = append(l.servers, endpointOf(role, "web", suite.ReadyPod(t, l.ns[role], "web")))
		}
	}
	l.servers = append(l.servers, endpointOf("a1", "stray", suite.ReadyPod(t, l.ns["a1"], "stray")))
	for _, role := range roles {
		a := endpointOf(role, "agent", suite.ReadyPod(t, l.ns[role], agentName))
		a.ports = append(a.ports, corev1.ContainerPort{ContainerPort: agentPort, Protocol: corev1.ProtocolTCP})
		l.agents[role] = a
	}
	return l
}

// webTemplate is a space's server pod: three app containers, one per
// port, the metrics port left plaintext.
func webTemplate(ns string) corev1.PodTemplateSpec {
	tmpl := nodetest.App(ns, "web", map[string]string{space.AnnotationPlaintextPorts: "metrics"},
		[]corev1.ContainerPort{{Name: "http", ContainerPort: webHTTPPort}}, "http", fmt.Sprintf("-listen=:%d", webHTTPPort))
	for name, port := range map[string]int32{"mysql": webMySQLPort, "metrics": webMetricsPort} {
		c := tmpl.Spec.Containers[0]
		c.Name = name
		c.Ports = []corev1.ContainerPort{{Name: name, ContainerPort: port}}
		c.Args = []string{"tcp", fmt.Sprintf("-listen=:%d", port)}
		tmpl.Spec.Containers = append(tmpl.Spec.Containers, c)
	}
	return tmpl
}

// webService exposes the HTTP and MySQL-style apps: by numeric target
// ports, which the webhook rewrites to the listeners, or by the apps' port
// names, which the sidecar's listeners take over. Names are the case
// policy engines get wrong when the listener is a native sidecar's port
// (kube-router resolves names on regular containers only, and with no
// port resolved it opens every port): decco's policy must name the
// listeners by number either way.
func webService(ns string, named bool) *corev1.Service {
	s := nodetest.Service(ns, "web", nodetest.ServicePort("main", 80, 80))
	s.Spec.Ports = []corev1.ServicePort{
		{Name: "http", Port: 80, TargetPort: intstr.FromInt32(webHTTPPort)},
		{Name: "mysql", Port: webMySQLPort, TargetPort: intstr.FromInt32(webMySQLPort)},
	}
	if named {
		s.Spec.Ports[0].TargetPort = intstr.FromString("http")
		s.Spec.Ports[1].TargetPort = intstr.FromString("mysql")
	}
	return s
}

func ensureNamespace(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	err := suite.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err, "creating namespace %s", name)
	}
}

// endpointOf lists the TCP ports the pod declares, its sidecar's included.
func endpointOf(role, name string, p *corev1.Pod) endpoint {
	e := endpoint{role: role, name: name, pod: p}
	for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
		for _, cp := range c.Ports {
			if cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP {
				e.ports = append(e.ports, cp)
			}
		}
	}
	slices.SortFunc(e.ports, func(a, b corev1.ContainerPort) int { return int(a.ContainerPort - b.ContainerPort) })
	return e
}

// destinations are every probed pod: servers first, then agents.
func (l isolationLayout) destinations() []endpoint {
	out := slices.Clone(l.servers)
	for _, role := range roles {
		out = append(out, l.agents[role])
	}
	return out
}

// requireListening checks from the node, which the policy engine always
// admits, that something listens on every probed port: a closed cell of
// the matrix is then a policy dropping packets, not an empty port.
func requireListening(t *testing.T, l isolationLayout) {
	t.Helper()
	for _, d := range l.destinations() {
		for _, p := range d.ports {
			addr := net.JoinHostPort(d.pod.Status.PodIP, strconv.Itoa(int(p.ContainerPort)))
			deccotest.WaitFor(t, 10*time.Second, d.row(p)+" to accept a connection from the node", func() error {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					return err
				}
				return c.Close()
			})
		}
	}
}

func countPorts(l isolationLayout) int {
	n := 0
	for _, d := range l.destinations() {
		n += len(d.ports)
	}
	return n
}

func countProbes(l isolationLayout) int {
	n := 0
	for _, d := range l.destinations() {
		for _, role := range roles {
			if l.agents[role].pod.UID != d.pod.UID {
				n += len(d.ports)
			}
		}
	}
	return n
}

// intendedIsolation is the seed's design for the layout, as in the netpol
// reachability test: a project's spaces reach each other's listeners,
// decco and the gateway reach every listener, an unprojected space is
// open to all; nobody reaches a plaintext port, the health port, a pod of
// a space outside the space, or an agent of a space. Agents outside
// spaces are open to everyone. A pod never probes itself.
func intendedIsolation(l isolationLayout) map[string]string {
	all := func(except string) string {
		return strings.Join(slices.DeleteFunc(slices.Clone(roles), func(r string) bool { return r == except }), " ")
	}
	listeners := map[string]string{
		"a1": "a1 a2 decco-system gateway", "a2": "a1 a2 decco-system gateway",
		"b1": "b1 decco-system gateway", "open1": all(""),
	}
	out := map[string]string{}
	for _, d := range l.destinations() {
		for _, p := range d.ports {
			cell := ""
			switch {
			case d.name == "web" && slices.Contains([]string{"http", "mysql"}, p.Name):
				cell = listeners[d.role]
			case d.name == "agent" && !slices.Contains([]string{"a1", "a2", "b1", "open1"}, d.role):
				cell = all(d.role)
			}
			out[d.row(p)] = cell
		}
	}
	return out
}

// cyclonusMatrix reads decco's policies and the namespaces back from the
// apiserver and asks cyclonus, for every agent and destination port,
// whether the traffic is allowed.
func cyclonusMatrix(t *testing.T, ctx context.Context, l isolationLayout) map[string]string {
	t.Helper()
	nsLabels := map[string]map[string]string{}
	var policies []*networkingv1.NetworkPolicy
	for _, role := range roles {
		var n corev1.Namespace
		require.NoError(t, suite.Client.Get(ctx, client.ObjectKey{Name: l.ns[role]}, &n))
		nsLabels[l.ns[role]] = n.Labels
		var list networkingv1.NetworkPolicyList
		require.NoError(t, suite.Client.List(ctx, &list, client.InNamespace(l.ns[role])))
		for i := range list.Items {
			policies = append(policies, &list.Items[i])
		}
	}
	pol := matcher.BuildNetworkPolicies(true, policies)
	peer := func(e endpoint) *matcher.TrafficPeer {
		return &matcher.TrafficPeer{IP: e.pod.Status.PodIP, Internal: &matcher.InternalPeer{
			Namespace: e.pod.Namespace, NamespaceLabels: nsLabels[e.pod.Namespace], PodLabels: e.pod.Labels}}
	}
	out := map[string]string{}
	for _, d := range l.destinations() {
		for _, p := range d.ports {
			var from []string
			for _, role := range roles {
				src := l.agents[role]
				if src.pod.UID == d.pod.UID {
					continue
				}
				tr := &matcher.Traffic{Source: peer(src), Destination: peer(d),
					ResolvedPort: int(p.ContainerPort), ResolvedPortName: p.Name, Protocol: corev1.ProtocolTCP}
				if pol.IsTrafficAllowed(tr).IsAllowed() {
					from = append(from, role)
				}
			}
			out[d.row(p)] = strings.Join(from, " ")
		}
	}
	requireDeccoPolicies(t, policies)
	return out
}

// requireDeccoPolicies checks that the computed matrix rests on decco's
// policies: both of them in every space, and nothing else anywhere.
func requireDeccoPolicies(t *testing.T, policies []*networkingv1.NetworkPolicy) {
	t.Helper()
	for _, p := range policies {
		require.Equal(t, space.ManagedByValue, p.Labels[space.LabelManagedBy], "policy %s/%s is not decco's", p.Namespace, p.Name)
		require.Contains(t, netpol.Names, p.Name)
	}
}

// probeMatrix has every agent connect to every port of every other
// destination pod, many at once, and returns which roles connected per
// row, and what each probe answered.
func probeMatrix(t *testing.T, l isolationLayout) (map[string]string, map[string]string) {
	t.Helper()
	type cell struct {
		row, role string
		src       endpoint
		addr      string
	}
	var cells []cell
	for _, d := range l.destinations() {
		for _, p := range d.ports {
			for _, role := range roles {
				if src := l.agents[role]; src.pod.UID != d.pod.UID {
					cells = append(cells, cell{d.row(p), role, src, fmt.Sprintf("%s:%d", d.pod.Status.PodIP, p.ContainerPort)})
				}
			}
		}
	}
	connected := make([]bool, len(cells))
	answers := make([]string, len(cells))
	errs := make([]error, len(cells))
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for i, c := range cells {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			connected[i], answers[i], errs[i] = connects(c.src.pod, c.addr)
		})
	}
	wg.Wait()
	rows := map[string][]string{}
	details := map[string]string{}
	for i, c := range cells {
		require.NoError(t, errs[i], "agent %s probing %s", c.role, c.row)
		if _, ok := rows[c.row]; !ok {
			rows[c.row] = nil
		}
		if connected[i] {
			rows[c.row] = append(rows[c.row], c.role)
		}
		details[c.row+" from "+c.role] = answers[i]
	}
	out := map[string]string{}
	for row, from := range rows {
		slices.SortFunc(from, func(a, b string) int { return slices.Index(roles, a) - slices.Index(roles, b) })
		out[row] = strings.Join(from, " ")
	}
	return out, details
}

var agentClient = &http.Client{Timeout: 10 * time.Second}

// connects asks the agent in pod to open a TCP connection to addr. A
// connection that opened counts even if the peer then reset it or sent
// nothing (a TLS listener waits for the client to speak); only a failed
// dial (dropped, refused, timed out) does not. The error is for the
// question not reaching the agent at all.
func connects(pod *corev1.Pod, addr string) (bool, string, error) {
	q := url.Values{"addr": {addr}, "timeout": {"1s"}}
	resp, err := agentClient.Get("http://" + pod.Status.PodIP + fmt.Sprintf(":%d/connect?", agentPort) + q.Encode())
	if err != nil {
		return false, "", fmt.Errorf("asking the agent in %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, "", fmt.Errorf("reading the agent's answer in %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	answer := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode == http.StatusOK:
		return true, "connected: " + answer, nil
	case resp.StatusCode == http.StatusBadGateway && strings.HasPrefix(answer, "dial "):
		return false, answer, nil
	case resp.StatusCode == http.StatusBadGateway:
		return true, "connected, then: " + answer, nil
	}
	return false, "", fmt.Errorf("the agent in %s/%s answered %s: %s", pod.Namespace, pod.Name, resp.Status, answer)
}

// matrixDiff lists the cells where got differs from want, one line per
// (row, source), with what the probe answered when details are given.
func matrixDiff(want, got map[string]string, details map[string]string) string {
	var lines []string
	for _, row := range slices.Sorted(maps.Keys(mergeKeys(want, got))) {
		w, g := strings.Fields(want[row]), strings.Fields(got[row])
		for _, role := range roles {
			inW, inG := slices.Contains(w, role), slices.Contains(g, role)
			if inW == inG {
				continue
			}
			line := fmt.Sprintf("  %s from %s: want %s, got %s", row, role, verdict(inW), verdict(inG))
			if d, ok := details[row+" from "+role]; ok {
				line += " (" + d + ")"
			}
			lines = append(lines, line)
		}
		if _, ok := got[row]; !ok {
			lines = append(lines, "  "+row+": missing")
		}
		if _, ok := want[row]; !ok {
			lines = append(lines, "  "+row+": unexpected")
		}
	}
	return strings.Join(lines, "\n")
}

func verdict(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}

func mergeKeys(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	for k := range b {
		out[k] = ""
	}
	return out
}

// formatMatrix prints one row per destination port, an X per source role
// that connects, a dot per one that does not (or is the pod itself).
func formatMatrix(m map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s", "")
	for _, r := range roles {
		fmt.Fprintf(&b, " %-6.6s", r)
	}
	b.WriteString("\n")
	for _, row := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%-24s", row)
		from := strings.Fields(m[row])
		for _, r := range roles {
			mark := "."
			if slices.Contains(from, r) {
				mark = "X"
			}
			fmt.Fprintf(&b, " %-6s", mark)
		}
		b.WriteString("\n")
	}
	return b.String()
}

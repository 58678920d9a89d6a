package netpol_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/space"
)

// The layout: four spaces, decco's own namespace, the gateway's, and an
// unrelated one. Sources are listed in this order in every matrix row.
const (
	systemNS  = "decco-system"
	gatewayNS = "gateway"
	otherNS   = "other"
)

var namespaces = []string{"a1", "a2", "b1", "open1", systemNS, gatewayNS, otherNS}

// layout is the cluster's namespaces as users wrote them: name -> labels
// and annotations. Spaces carry decco.io/space and maybe decco.io/project.
type layout map[string]*corev1.Namespace

func baseLayout() layout {
	l := layout{}
	for _, n := range namespaces {
		l[n] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{}, Annotations: map[string]string{}}}
	}
	for n, project := range map[string]string{"a1": "alpha", "a2": "alpha", "b1": "beta", "open1": ""} {
		l[n].Labels[space.LabelSpace] = n
		l[n].Annotations[space.AnnotationDomain] = "example.com"
		if project != "" {
			l[n].Annotations[space.AnnotationProject] = project
		}
	}
	return l
}

// Each matrix row is "<namespace>/<pod>:<port>" and lists, in namespace
// order, the namespaces whose pods may connect to it. Every space runs a
// pod "web" whose app listens on 8080 (TLS listener 18080, exposed by a
// Service) and on a plaintext metrics port 9090, plus the sidecar's health
// port; a1 also runs a "stray" pod outside the space that happens to
// listen on 18080.
var closed = map[string]string{
	"a1/web:8080": "", "a1/web:9090": "", "a1/web:15021": "",
	"a2/web:8080": "", "a2/web:9090": "", "a2/web:15021": "",
	"b1/web:8080": "", "b1/web:9090": "", "b1/web:15021": "",
	"open1/web:8080": "", "open1/web:9090": "", "open1/web:15021": "",
	"a1/stray:18080": "",
	// Pods of the space decco did not inject serve plaintext, even on a
	// port named or numbered like a listener: closed to everyone.
	"a1/optout:8080": "", "a1/optout:18080": "", "a1/predates:8080": "", "a1/predates:18080": "",
	"a2/optout:8080": "", "a2/optout:18080": "", "a2/predates:8080": "", "a2/predates:18080": "",
}

// intended is the matrix of the seed's design for the base layout: a
// project's spaces reach each other's listeners, decco reaches every
// listener, the gateway only the listeners of Services it routes to (b1's
// Service has no route), an unprojected space is open to all, and nobody
// reaches a plaintext port, the health port, or a pod outside the space.
var intended = with(closed, map[string]string{
	"a1/web:18080":    "a1 a2 decco-system gateway",
	"a2/web:18080":    "a1 a2 decco-system gateway",
	"b1/web:18080":    "b1 decco-system",
	"open1/web:18080": "a1 a2 b1 open1 decco-system gateway other",
})

// afterMove is the intended matrix once a2 has left alpha for beta.
var afterMove = with(closed, map[string]string{
	"a1/web:18080":    "a1 decco-system gateway",
	"a2/web:18080":    "a2 b1 decco-system gateway",
	"b1/web:18080":    "a2 b1 decco-system",
	"open1/web:18080": "a1 a2 b1 open1 decco-system gateway other",
})

// unrouted is the space whose Service has no route (the reconciler
// refused it: no selector, a hostname taken, ...).
const unrouted = "b1"

func with(base, rows map[string]string) map[string]string {
	out := maps.Clone(base)
	maps.Copy(out, rows)
	return out
}

// TestReachabilityMatrix computes, with cyclonus's NetworkPolicy matcher
// (an implementation independent of decco), who reaches what under the
// policies Policies builds for every space, and compares it with the
// intended matrix above. With a control plane (no -short) the policies go
// through the real apiserver first and the matrix is computed from what it
// stored, with the namespace labels it stored.
func TestReachabilityMatrix(t *testing.T) {
	ctx := context.Background()
	l := baseLayout()
	assert.Equal(t, intended, matrix(t, apply(t, ctx, l)), "base layout")

	// A tenant labels its namespace into another project, even forging the
	// name label: project isolation must not move.
	l["b1"].Labels[space.AnnotationProject] = "alpha"
	l["b1"].Labels["project"] = "alpha"
	l["b1"].Labels[corev1.LabelMetadataName] = "a1"
	st := apply(t, ctx, l)
	assert.Equal(t, "b1", st.nsLabels["b1"][corev1.LabelMetadataName], "the apiserver keeps the name label")
	assert.Equal(t, intended, matrix(t, st), "b1 labeled itself into alpha")

	// Membership changes (the annotation, set by whoever runs the cluster)
	// change every affected space's policies.
	l["a2"].Annotations[space.AnnotationProject] = "beta"
	assert.Equal(t, afterMove, matrix(t, apply(t, ctx, l)), "a2 moved from alpha to beta")
}

// everyone is a matrix cell open to every source namespace.
const everyone = "a1 a2 b1 open1 decco-system gateway other"

// tenantOpensItself is the intended matrix once tenant b1 has written its
// own permissive policies: b1 can open its own pods, plaintext ports
// included (NetworkPolicies only add up, and a namespace's policies are
// its owner's to write), but nothing about any other space changes.
var tenantOpensItself = with(intended, map[string]string{
	"b1/web:8080": everyone, "b1/web:9090": everyone, "b1/web:15021": everyone, "b1/web:18080": everyone,
})

// A tenant's own NetworkPolicies try to open another tenant: b1 allows
// ingress from everything and egress to a1's app, plaintext and health
// ports (and to everything else). Policies select pods of their own
// namespace only, so a1 must stay closed to b1 and every other space's
// plaintext ports closed to everyone. With a control plane, the tenant's
// policies are created through the apiserver and read back as stored.
func TestTenantPolicyCannotOpenAnotherTenant(t *testing.T) {
	ctx := context.Background()
	st := apply(t, ctx, baseLayout())
	st.policies = append(st.policies, tenantPolicies(t, ctx)...)
	got := matrix(t, st)
	assert.Equal(t, tenantOpensItself, got)
	for _, row := range []string{"a1/web:8080", "a1/web:9090", "a1/web:15021"} {
		assert.Empty(t, got[row], "%s must stay closed", row)
	}
	assert.NotContains(t, strings.Fields(got["a1/web:18080"]), "b1", "a1's listener must stay closed to b1 (another project)")
}

// tenantPolicies are b1's own policies, as stored by the apiserver when
// there is one; they are deleted when the test ends.
func tenantPolicies(t *testing.T, ctx context.Context) []*networkingv1.NetworkPolicy {
	t.Helper()
	a1 := &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "a1"}}
	tcp := corev1.ProtocolTCP
	var toA1 []networkingv1.NetworkPolicyPort
	for _, p := range []int32{8080, 9090, 15021, 18080} {
		toA1 = append(toA1, networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: ptrTo(intstr.FromInt32(p))})
	}
	policies := []*networkingv1.NetworkPolicy{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "b1", Name: "allow-everything-in"}, Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}}},
		}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "b1", Name: "reach-a1"}, Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: a1}}, Ports: toA1},
				{}, // and everything else, so b1's own egress is not what changes
			},
		}},
	}
	if cluster == nil {
		return policies
	}
	var stored []*networkingv1.NetworkPolicy
	for _, p := range policies {
		require.NoError(t, cluster.Client.Create(ctx, p.DeepCopy()), "the apiserver accepts a tenant's %s", p.Name)
		t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), p) })
		var got networkingv1.NetworkPolicy
		require.NoError(t, cluster.Client.Get(ctx, client.ObjectKeyFromObject(p), &got))
		stored = append(stored, &got)
	}
	return stored
}

func ptrTo[T any](v T) *T { return &v }

// state is what the matcher evaluates: the policies and namespace labels
// as stored (by the apiserver, or as built with -short).
type state struct {
	policies []*networkingv1.NetworkPolicy
	nsLabels map[string]map[string]string
}

// desired builds every space's policies from the layout, as the
// reconciler does: parse each namespace, group spaces by project, derive
// listener ports from the space's (webhook-rewritten) Services.
func desired(t *testing.T, l layout) []*networkingv1.NetworkPolicy {
	t.Helper()
	spaces := map[string]space.Space{}
	projects := map[string][]string{}
	for _, n := range namespaces {
		sp, err := space.FromNamespace(l[n])
		if err != nil {
			require.ErrorIs(t, err, space.ErrNotASpace)
			continue
		}
		spaces[n] = sp
		projects[sp.Project] = append(projects[sp.Project], n)
	}
	var out []*networkingv1.NetworkPolicy
	for _, n := range slices.Sorted(maps.Keys(spaces)) {
		sp := spaces[n]
		ports, err := netpol.ListenerPorts(sp, services(t, n), endpointSlices(n))
		require.NoError(t, err)
		exposed := ports
		if n == unrouted {
			exposed = nil
		}
		dests, err := netpol.ResolveEgress(egressEntries[n], "cluster.local", netpol.Gateway{Namespace: gatewayNS}, inject.InterceptPorts, func(ns, name string) (*corev1.Service, bool) {
			for _, s := range services(t, ns) {
				if s.Name == name {
					return &s, true
				}
			}
			return nil, false
		})
		require.NoError(t, err)
		out = append(out, netpol.Policies(netpol.Input{Space: sp, ProjectMembers: projects[sp.Project],
			SystemNamespace: systemNS, GatewayNamespace: gatewayNS, ListenerPorts: ports, ExposedPorts: exposed,
			EgressDestinations: dests})...)
	}
	return out
}

// services is the space's Service "web" on port 80 after the webhook's
// rewrite; a1 names its target port, the others give the app's number.
func services(t *testing.T, ns string) []corev1.Service {
	target := intstr.FromInt32(8080)
	if ns == "a1" {
		target = intstr.FromString("http")
	}
	s := svc(ns, "web", nil, port("http", 80, target))
	return []corev1.Service{rewritten(t, s)}
}

// endpointSlices are the slices kube-controller-manager writes for the
// space's Services: a1's named target resolves to the sidecar's listener.
func endpointSlices(ns string) []discoveryv1.EndpointSlice {
	if ns != "a1" {
		return nil
	}
	return []discoveryv1.EndpointSlice{slice(ns, "web", map[string]int32{"http": 18080})}
}

// apply writes the layout and its policies. With a cluster it creates or
// updates the namespaces, converges the policies (create, update only on a
// difference, delete the unwanted), checks that the stored policies equal
// the built ones and that converging again writes nothing, and returns
// what the apiserver stored.
func apply(t *testing.T, ctx context.Context, l layout) state {
	t.Helper()
	want := desired(t, l)
	if cluster == nil {
		return offline(l, want)
	}
	c := cluster.Client
	for _, n := range namespaces {
		upsertNamespace(t, ctx, c, l[n])
	}
	converge(t, ctx, c, want)
	require.Zero(t, converge(t, ctx, c, want), "a second pass over unchanged policies must write nothing")
	st := state{nsLabels: map[string]map[string]string{}}
	var list networkingv1.NetworkPolicyList
	require.NoError(t, c.List(ctx, &list, client.MatchingLabels{space.LabelManagedBy: space.ManagedByValue}))
	require.Len(t, list.Items, len(want))
	for i := range list.Items {
		st.policies = append(st.policies, &list.Items[i])
	}
	for _, n := range namespaces {
		var ns corev1.Namespace
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: n}, &ns))
		st.nsLabels[n] = ns.Labels
	}
	return st
}

// offline stands in for the apiserver with -short: it only adds the name
// label the apiserver always sets (and a tenant can't change).
func offline(l layout, want []*networkingv1.NetworkPolicy) state {
	st := state{policies: want, nsLabels: map[string]map[string]string{}}
	for _, n := range namespaces {
		st.nsLabels[n] = with(l[n].Labels, map[string]string{corev1.LabelMetadataName: n})
	}
	return st
}

func upsertNamespace(t *testing.T, ctx context.Context, c client.Client, want *corev1.Namespace) {
	t.Helper()
	var ns corev1.Namespace
	err := c.Get(ctx, client.ObjectKey{Name: want.Name}, &ns)
	if apierrors.IsNotFound(err) {
		require.NoError(t, c.Create(ctx, want.DeepCopy()))
		return
	}
	require.NoError(t, err)
	ns.Labels, ns.Annotations = maps.Clone(want.Labels), maps.Clone(want.Annotations)
	require.NoError(t, c.Update(ctx, &ns))
}

// converge makes the cluster's decco policies equal want and returns how
// many writes it took. It compares the built spec with the stored one as
// is, so a builder that leaves a defaulted field unset shows up as a
// write on every pass.
func converge(t *testing.T, ctx context.Context, c client.Client, want []*networkingv1.NetworkPolicy) int {
	t.Helper()
	writes := 0
	keep := map[client.ObjectKey]bool{}
	for _, p := range want {
		keep[client.ObjectKeyFromObject(p)] = true
		var got networkingv1.NetworkPolicy
		err := c.Get(ctx, client.ObjectKeyFromObject(p), &got)
		switch {
		case apierrors.IsNotFound(err):
			require.NoError(t, c.Create(ctx, p.DeepCopy()), "the apiserver must accept %s/%s", p.Namespace, p.Name)
			writes++
		case err != nil:
			require.NoError(t, err)
		case !equality.Semantic.DeepEqual(got.Spec, p.Spec) || !equality.Semantic.DeepEqual(got.Labels, p.Labels):
			got.Spec, got.Labels = p.Spec, p.Labels
			require.NoError(t, c.Update(ctx, &got), "the apiserver must accept %s/%s", p.Namespace, p.Name)
			writes++
		}
	}
	var list networkingv1.NetworkPolicyList
	require.NoError(t, c.List(ctx, &list, client.MatchingLabels{space.LabelManagedBy: space.ManagedByValue}))
	for i := range list.Items {
		if p := &list.Items[i]; !keep[client.ObjectKeyFromObject(p)] {
			require.NoError(t, c.Delete(ctx, p))
			writes++
		}
	}
	return writes
}

// pod is one endpoint of the matrix.
type pod struct {
	ns, name string
	labels   map[string]string
	ports    []corev1.ContainerPort // TCP ports it listens on
}

// spacePod is the "web" pod of space ns exactly as the webhook admits it:
// the app's http port taken over by the sidecar's TLS listener, metrics
// left plaintext.
func spacePod(t *testing.T, ns string) pod {
	t.Helper()
	in := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web",
			Labels:      map[string]string{space.LabelSpace: ns},
			Annotations: map[string]string{space.AnnotationPlaintextPorts: "metrics"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app", Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090},
		}}}},
	}
	res, err := inject.Pod(in, space.Space{Name: ns, Domain: "example.com"}, inject.Config{Image: "sidecar", NativeSidecar: true})
	require.NoError(t, err)
	require.Equal(t, inject.Injected, res.Decision)
	p := pod{ns: ns, name: "web", labels: res.Pod.Labels}
	for _, c := range slices.Concat(res.Pod.Spec.InitContainers, res.Pod.Spec.Containers) {
		p.ports = append(p.ports, c.Ports...)
	}
	slices.SortFunc(p.ports, func(a, b corev1.ContainerPort) int { return int(a.ContainerPort - b.ContainerPort) })
	return p
}

// destinations are the pods whose reachability the matrix records.
func destinations(t *testing.T) []pod {
	var out []pod
	for _, ns := range []string{"a1", "a2", "b1", "open1"} {
		p := spacePod(t, ns)
		var got []string
		for _, cp := range p.ports {
			got = append(got, fmt.Sprintf("%s=%d", cp.Name, cp.ContainerPort))
		}
		require.Equal(t, []string{"app-8080=8080", "metrics=9090", "decco-health=15021", "http=18080"}, got,
			"the injected pod's ports, which the matrix rows assume")
		out = append(out, p)
	}
	stray := pod{ns: "a1", name: "stray", labels: map[string]string{"app": "stray"},
		ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 18080}}}
	out = append(out, stray)
	for _, ns := range []string{"a1", "a2"} {
		out = append(out, uninjectedPods(t, ns)...)
	}
	return out
}

// uninjectedPods are two pods of space ns that decco did not inject, each
// serving its app in plaintext on a port named "http" (the listener's
// name, which a1's policy opens) and on 18080 (the listener's number,
// which the others' open): one opted out, as the webhook admits it, and
// one labeled into the space before the namespace became one (never seen
// by the webhook).
func uninjectedPods(t *testing.T, ns string) []pod {
	t.Helper()
	ports := []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {ContainerPort: 18080}}
	in := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "optout",
			Labels:      map[string]string{space.LabelSpace: ns},
			Annotations: map[string]string{space.AnnotationInject: "false"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app", Ports: ports}}},
	}
	res, err := inject.Pod(in, space.Space{Name: ns, Domain: "example.com"}, inject.Config{Image: "sidecar", NativeSidecar: true})
	require.NoError(t, err)
	require.Equal(t, inject.SkippedOptOut, res.Decision)
	return []pod{
		{ns: ns, name: "optout", labels: res.Pod.Labels, ports: res.Pod.Spec.Containers[0].Ports},
		{ns: ns, name: "predates", labels: map[string]string{space.LabelSpace: ns, "app": "web"}, ports: ports},
	}
}

// matrix evaluates every (source namespace, destination port) pair.
func matrix(t *testing.T, st state) map[string]string {
	t.Helper()
	pol := matcher.BuildNetworkPolicies(true, st.policies)
	out := map[string]string{}
	for _, dst := range destinations(t) {
		for _, cp := range dst.ports {
			var from []string
			for i, src := range namespaces {
				if allowed(pol, st, src, i, dst, cp) {
					from = append(from, src)
				}
			}
			out[fmt.Sprintf("%s/%s:%d", dst.ns, dst.name, cp.ContainerPort)] = strings.Join(from, " ")
		}
	}
	return out
}

// allowed asks cyclonus whether a client pod in namespace src reaches port
// cp of dst. The client is a member of its space when src is one.
func allowed(pol *matcher.Policy, st state, src string, i int, dst pod, cp corev1.ContainerPort) bool {
	srcLabels := map[string]string{"app": "client"}
	if _, ok := st.nsLabels[src][space.LabelSpace]; ok {
		srcLabels[space.LabelSpace] = src
	}
	tr := &matcher.Traffic{
		Source: &matcher.TrafficPeer{IP: fmt.Sprintf("10.0.%d.10", i), Internal: &matcher.InternalPeer{
			Namespace: src, NamespaceLabels: st.nsLabels[src], PodLabels: srcLabels}},
		Destination: &matcher.TrafficPeer{IP: "10.1.0.10", Internal: &matcher.InternalPeer{
			Namespace: dst.ns, NamespaceLabels: st.nsLabels[dst.ns], PodLabels: dst.labels}},
		ResolvedPort:     int(cp.ContainerPort),
		ResolvedPortName: cp.Name,
		Protocol:         corev1.ProtocolTCP,
	}
	return pol.IsTrafficAllowed(tr).IsAllowed()
}

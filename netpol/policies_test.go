package netpol_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/space"
)

var (
	tcp     = corev1.ProtocolTCP
	alphaSp = space.Space{Name: "a1", Domain: "example.com", Project: "alpha"}
	openSp  = space.Space{Name: "open1", Domain: "example.com"}
	managed = func(sp string) map[string]string {
		return map[string]string{space.LabelManagedBy: space.ManagedByValue, space.LabelSpace: sp}
	}
	allNs    = &metav1.LabelSelector{}
	listener = func(ps ...intstr.IntOrString) []networkingv1.NetworkPolicyPort {
		var out []networkingv1.NetworkPolicyPort
		for _, p := range ps {
			out = append(out, networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: &p})
		}
		return out
	}
	named = func(names ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: names,
		}}}
	}
)

// deny is the isolation policy every space gets.
func deny(sp string) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "decco-isolation", Namespace: sp, Labels: managed(sp)},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
}

// allow is the listener policy for sp admitting from to ports.
func allow(sp string, from *metav1.LabelSelector, ports []networkingv1.NetworkPolicyPort) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "decco-allow-listeners", Namespace: sp, Labels: managed(sp)},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{space.LabelSpace: sp, space.LabelInjected: "true"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: space.LabelInterception, Operator: metav1.LabelSelectorOpDoesNotExist}}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: ports,
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: from}},
			}},
		},
	}
}

// withGateway adds the rule admitting the gateway's namespace to ports.
func withGateway(p *networkingv1.NetworkPolicy, gw string, ports []networkingv1.NetworkPolicyPort) *networkingv1.NetworkPolicy {
	p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
		Ports: ports, From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: named(gw)}}})
	return p
}

// withPeers adds the rule admitting the space's own pods to ports.
func withPeers(p *networkingv1.NetworkPolicy, sp string, ports []networkingv1.NetworkPolicyPort) *networkingv1.NetworkPolicy {
	p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
		Ports: ports, From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{space.LabelSpace: sp}}}}})
	return p
}

// peersOnly is the listener policy of a space whose only open ports are
// its peer ports.
func peersOnly(sp string, ports []networkingv1.NetworkPolicyPort) *networkingv1.NetworkPolicy {
	p := allow(sp, nil, nil)
	p.Spec.Ingress = nil
	return withPeers(p, sp, ports)
}

func notNamed(names ...string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: names,
	}}}
}

func TestPolicies(t *testing.T) {
	http := intstr.FromString("http")
	tests := []struct {
		name string
		in   netpol.Input
		want []*networkingv1.NetworkPolicy
	}{{
		name: "project space admits its members and the system namespace by name, the gateway to exposed ports only",
		in: netpol.Input{Space: alphaSp, ProjectMembers: []string{"a2", "a1"}, SystemNamespace: "decco-system",
			GatewayNamespace: "gateway", ListenerPorts: []intstr.IntOrString{intstr.FromInt32(18080), intstr.FromInt32(13306)},
			ExposedPorts: []intstr.IntOrString{intstr.FromInt32(18080)}},
		want: []*networkingv1.NetworkPolicy{
			withGateway(allow("a1", named("a1", "a2", "decco-system"), listener(intstr.FromInt32(13306), intstr.FromInt32(18080))),
				"gateway", listener(intstr.FromInt32(18080))),
			deny("a1"),
		},
	}, {
		name: "space without a project admits every namespace but the gateway's, which gets exposed ports only",
		in: netpol.Input{Space: openSp, SystemNamespace: "decco-system", GatewayNamespace: "gateway",
			ListenerPorts: []intstr.IntOrString{intstr.FromInt32(18080), http}, ExposedPorts: []intstr.IntOrString{http}},
		want: []*networkingv1.NetworkPolicy{
			withGateway(allow("open1", notNamed("gateway"), listener(intstr.FromInt32(18080), http)), "gateway", listener(http)),
			deny("open1"),
		},
	}, {
		name: "nothing exposed: no rule for the gateway",
		in: netpol.Input{Space: alphaSp, ProjectMembers: []string{"a1"}, GatewayNamespace: "gateway",
			ListenerPorts: []intstr.IntOrString{http}},
		want: []*networkingv1.NetworkPolicy{allow("a1", named("a1"), listener(http)), deny("a1")},
	}, {
		name: "the space itself is admitted even when the caller leaves it out of the members",
		in:   netpol.Input{Space: alphaSp, ProjectMembers: []string{"a2"}, ListenerPorts: []intstr.IntOrString{http}},
		want: []*networkingv1.NetworkPolicy{allow("a1", named("a1", "a2"), listener(http)), deny("a1")},
	}, {
		name: "space without a project admits every namespace, still on listener ports only",
		in: netpol.Input{Space: openSp, ProjectMembers: []string{"ignored"}, SystemNamespace: "decco-system",
			ListenerPorts: []intstr.IntOrString{intstr.FromInt32(18443), http}},
		want: []*networkingv1.NetworkPolicy{allow("open1", allNs, listener(intstr.FromInt32(18443), http)), deny("open1")},
	}, {
		name: "no listener port leaves only default deny (a rule without ports would open all)",
		in:   netpol.Input{Space: alphaSp, ProjectMembers: []string{"a1", "a2"}},
		want: []*networkingv1.NetworkPolicy{deny("a1")},
	}, {
		name: "ports the apiserver would refuse are dropped",
		in: netpol.Input{Space: openSp, ListenerPorts: []intstr.IntOrString{
			intstr.FromInt32(0), intstr.FromInt32(70000), intstr.FromString(""), intstr.FromString("Not_A_Port_Name"),
		}},
		want: []*networkingv1.NetworkPolicy{deny("open1")},
	}, {
		name: "ports are sorted numbers-then-names and de-duplicated; members too",
		in: netpol.Input{Space: alphaSp, ProjectMembers: []string{"a3", "a1", "a3", "a2"}, SystemNamespace: "a2",
			ListenerPorts: []intstr.IntOrString{http, intstr.FromInt32(18080), intstr.FromString("amqp"),
				intstr.FromInt32(13306), http, intstr.FromInt32(18080)}},
		want: []*networkingv1.NetworkPolicy{
			allow("a1", named("a1", "a2", "a3"), listener(intstr.FromInt32(13306), intstr.FromInt32(18080),
				intstr.FromString("amqp"), http)),
			deny("a1"),
		},
	}, {
		name: "peer ports are opened to the space's own pods, less those open to every permitted namespace already",
		in: netpol.Input{Space: alphaSp, ProjectMembers: []string{"a2"}, GatewayNamespace: "gateway",
			ListenerPorts: []intstr.IntOrString{intstr.FromInt32(8080)}, ExposedPorts: []intstr.IntOrString{intstr.FromInt32(8080)},
			PeerPorts: []intstr.IntOrString{intstr.FromInt32(9300), intstr.FromInt32(7800), intstr.FromInt32(8080), intstr.FromInt32(7800)}},
		want: []*networkingv1.NetworkPolicy{
			withGateway(withPeers(allow("a1", named("a1", "a2"), listener(intstr.FromInt32(8080))), "a1",
				listener(intstr.FromInt32(7800), intstr.FromInt32(9300))), "gateway", listener(intstr.FromInt32(8080))),
			deny("a1"),
		},
	}, {
		name: "peer ports alone still give a listener policy, with the peer rule only",
		in:   netpol.Input{Space: openSp, PeerPorts: []intstr.IntOrString{intstr.FromInt32(7800)}},
		want: []*networkingv1.NetworkPolicy{peersOnly("open1", listener(intstr.FromInt32(7800))), deny("open1")},
	}, {
		name: "peer ports that are all open already add no rule",
		in: netpol.Input{Space: openSp, ListenerPorts: []intstr.IntOrString{intstr.FromInt32(7800)},
			PeerPorts: []intstr.IntOrString{intstr.FromInt32(7800)}},
		want: []*networkingv1.NetworkPolicy{allow("open1", allNs, listener(intstr.FromInt32(7800))), deny("open1")},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, netpol.Policies(tt.in))
		})
	}
}

// Equal inputs in any order give equal objects, so the reconciler's
// compare-before-write never sees a spurious difference.
func TestPoliciesDeterministic(t *testing.T) {
	in := netpol.Input{Space: alphaSp, ProjectMembers: []string{"a1", "a2", "a3"}, SystemNamespace: "sys",
		GatewayNamespace: "gw", ListenerPorts: []intstr.IntOrString{intstr.FromInt32(18080), intstr.FromString("http"), intstr.FromInt32(13306)}}
	want := netpol.Policies(in)
	rev := in
	rev.ProjectMembers = slices.Clone(in.ProjectMembers)
	slices.Reverse(rev.ProjectMembers)
	rev.ListenerPorts = slices.Clone(in.ListenerPorts)
	slices.Reverse(rev.ListenerPorts)
	assert.Equal(t, want, netpol.Policies(rev))
	assert.Equal(t, []string{"a1", "a2", "a3"}, in.ProjectMembers, "the caller's slices are not reordered")
	assert.Equal(t, intstr.FromInt32(18080), in.ListenerPorts[0], "the caller's slices are not reordered")
}

// Invariant 2: no selector decco writes looks at a label a tenant can set
// on its own namespace.
func TestPoliciesSelectNamespacesOnlyByName(t *testing.T) {
	for _, sp := range []space.Space{alphaSp, openSp} {
		for _, p := range netpol.Policies(netpol.Input{Space: sp, ProjectMembers: []string{"a2"},
			ListenerPorts: []intstr.IntOrString{intstr.FromInt32(18080)}}) {
			for _, rule := range p.Spec.Ingress {
				for _, peer := range rule.From {
					require.NotNil(t, peer.NamespaceSelector, "%s: a peer without a namespace selector means this namespace only", p.Name)
					assert.Empty(t, peer.NamespaceSelector.MatchLabels, p.Name)
					for _, e := range peer.NamespaceSelector.MatchExpressions {
						assert.Equal(t, corev1.LabelMetadataName, e.Key, p.Name)
					}
					assert.Nil(t, peer.PodSelector, "%s: pods are never selected by tenant labels across namespaces", p.Name)
					assert.Nil(t, peer.IPBlock, p.Name)
				}
			}
		}
	}
}

func TestNamesCoverPolicies(t *testing.T) {
	declared := openSp
	declared.EgressDeclared = true
	got := netpol.Policies(netpol.Input{Space: declared, ListenerPorts: []intstr.IntOrString{intstr.FromInt32(18080)}})
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	assert.ElementsMatch(t, netpol.Names, names)
}

// A declared space gets one egress policy: DNS, itself, then one rule per
// destination namespace with its ports sorted and de-duplicated; a
// destination in the space itself adds nothing; the gateway's namespace
// is not narrowed to space pods.
func TestEgressPolicy(t *testing.T) {
	sp := alphaSp
	sp.EgressDeclared = true
	got := netpol.Policies(netpol.Input{Space: sp, ProjectMembers: []string{"a1"}, EgressDestinations: []netpol.Destination{
		{Namespace: "open1", Port: intstr.FromString("mysql")},
		{Namespace: "gw", Port: intstr.FromInt32(443), Gateway: true},
		{Namespace: "open1", Port: intstr.FromInt32(18080)},
		{Namespace: "a1", Port: intstr.FromInt32(13306)},
		{Namespace: "open1", Port: intstr.FromString("mysql")},
	}})
	require.Len(t, got, 2)
	eg := got[0]
	require.Equal(t, netpol.EgressPolicy, eg.Name)
	assert.Equal(t, managed("a1"), eg.Labels)
	assert.Equal(t, metav1.LabelSelector{}, eg.Spec.PodSelector, "every pod of the namespace")
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, eg.Spec.PolicyTypes)
	udp := corev1.ProtocolUDP
	dnsPort := intstr.FromInt32(53)
	assert.Equal(t, []networkingv1.NetworkPolicyEgressRule{
		{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: named("kube-system"),
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}}}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dnsPort}, {Protocol: &tcp, Port: &dnsPort}}},
		{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: named("a1")}}},
		{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: named("gw")}}, Ports: listener(intstr.FromInt32(443))},
		{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: named("open1"),
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{space.LabelSpace: "open1"}}}},
			Ports: listener(intstr.FromInt32(18080), intstr.FromString("mysql"))},
	}, eg.Spec.Egress)

	open := netpol.Policies(netpol.Input{Space: alphaSp, EgressDestinations: []netpol.Destination{{Namespace: "open1", Port: intstr.FromInt32(1)}}})
	for _, p := range open {
		assert.NotEqual(t, netpol.EgressPolicy, p.Name, "egress stays open without the annotation")
	}
}

// TestListenerPolicyOpensOnlyPodsOfTheClusterMode: the same port number is
// TLS on a pod injected for one data plane and the app's plaintext port on
// a pod of the other (a ports-mode pod's app keeps 8080, its listener is
// 18080). After a switch of modes, until the workloads are recreated, the
// listener policy must leave the other mode's pods closed. The pods are
// the injector's own output.
func TestListenerPolicyOpensOnlyPodsOfTheClusterMode(t *testing.T) {
	sp := space.Space{Name: "acme", Domain: "example.com"}
	app := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "web", Labels: map[string]string{space.LabelSpace: "acme"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: tcp}}}}},
		}
	}
	injected := func(mode inject.Interception) *corev1.Pod {
		cfg := inject.Config{Image: "decco-sidecar:test", NativeSidecar: true, Interception: mode,
			Ranges: intercept.Ranges{Pods: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}}}
		res, err := inject.Pod(app(), sp, cfg)
		require.NoError(t, err)
		return res.Pod
	}
	pods := map[string]*corev1.Pod{
		"injected in ports mode": injected(inject.InterceptPorts),
		"injected in cni mode":   injected(inject.InterceptCNI),
		"not injected":           app(),
	}
	for _, tc := range []struct {
		mode inject.Interception
		open string
	}{
		{"", "injected in ports mode"},
		{inject.InterceptPorts, "injected in ports mode"},
		{inject.InterceptCNI, "injected in cni mode"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			ps := netpol.Policies(netpol.Input{Space: sp, Interception: tc.mode,
				ListenerPorts: []intstr.IntOrString{intstr.FromInt32(8080), intstr.FromInt32(18080)}})
			i := slices.IndexFunc(ps, func(p *networkingv1.NetworkPolicy) bool { return p.Name == netpol.ListenerPolicy })
			require.GreaterOrEqual(t, i, 0)
			sel, err := metav1.LabelSelectorAsSelector(&ps[i].Spec.PodSelector)
			require.NoError(t, err)
			for name, pod := range pods {
				assert.Equal(t, name == tc.open, sel.Matches(labels.Set(pod.Labels)), "%s: selected by the %q listener policy", name, tc.mode)
			}
		})
	}
}

package netpol_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

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
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{space.LabelSpace: sp, space.LabelInjected: "true"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: ports,
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: from}},
			}},
		},
	}
}

func TestPolicies(t *testing.T) {
	http := intstr.FromString("http")
	tests := []struct {
		name string
		in   netpol.Input
		want []*networkingv1.NetworkPolicy
	}{{
		name: "project space admits its members, the system and the gateway namespace by name",
		in: netpol.Input{Space: alphaSp, ProjectMembers: []string{"a2", "a1"}, SystemNamespace: "decco-system",
			GatewayNamespace: "gateway", ListenerPorts: []intstr.IntOrString{intstr.FromInt32(18080)}},
		want: []*networkingv1.NetworkPolicy{
			allow("a1", named("a1", "a2", "decco-system", "gateway"), listener(intstr.FromInt32(18080))),
			deny("a1"),
		},
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
	got := netpol.Policies(netpol.Input{Space: openSp, ListenerPorts: []intstr.IntOrString{intstr.FromInt32(18080)}})
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	assert.ElementsMatch(t, netpol.Names, names)
}

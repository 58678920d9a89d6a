package netpol

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// Names of the policies decco writes in every space namespace.
const (
	// IsolationPolicy denies all ingress to every pod of the namespace.
	IsolationPolicy = "decco-isolation"
	// ListenerPolicy opens the TLS listener ports to permitted namespaces.
	ListenerPolicy = "decco-allow-listeners"
)

// Names lists every policy name Policies can return, so the reconciler
// knows which ones to delete when they are no longer wanted.
var Names = []string{IsolationPolicy, ListenerPolicy, EgressPolicy}

// LabelNamespaceName is the label the apiserver sets on every Namespace
// to its own name; tenants can't set it to anything else.
const LabelNamespaceName = corev1.LabelMetadataName

// Input is everything Policies needs about one space.
type Input struct {
	// Space is the space being fenced.
	Space space.Space
	// Interception is the cluster's data plane (empty means
	// inject.InterceptPorts). The listener policy opens only pods injected
	// for it: see podsOfMode.
	Interception inject.Interception
	// ProjectMembers names the spaces of Space.Project, the space itself
	// included (it is added if missing). Ignored when Space.Project is "".
	ProjectMembers []string
	// SystemNamespace is decco's own namespace; "" for none.
	SystemNamespace string
	// GatewayNamespace runs the gateway (or ingress controller) that
	// carries Internet traffic in; "" for none. It is admitted to
	// ExposedPorts only, whatever the space's project.
	GatewayNamespace string
	// ListenerPorts are the TLS listener ports to open, as ListenerPorts
	// returns them: numbers (a name would resolve to the sidecar's
	// listener after port takeover, on engines that resolve names on init
	// containers). Entries the apiserver would
	// refuse (numbers outside 1-65535, names that are not IANA service
	// names) are dropped rather than failing the whole policy.
	ListenerPorts []intstr.IntOrString
	// ExposedPorts are the listener ports of the Services the gateway
	// routes to (see ListenerPorts), a subset of ListenerPorts: a Service
	// without a route gives the gateway nothing to reach.
	ExposedPorts []intstr.IntOrString
	// PeerPorts are TLS ports opened to the space's own pods only, as
	// DeclaredPorts returns them (cni interception): ports injected pods
	// declare that no Service targets, which their cluster peers dial by
	// pod address. Ports already in ListenerPorts are left out here.
	PeerPorts []intstr.IntOrString
	// EgressDestinations are where the space's decco.io/egress entries
	// lead (see ResolveEgress); used when Space.EgressDeclared.
	EgressDestinations []Destination
	// DNS is where a declared egress may send DNS queries; the zero value
	// is DefaultDNSPeer.
	DNS DNSPeer
}

// Policies returns the space's NetworkPolicies, sorted by name, with
// sorted and de-duplicated contents so equal inputs give equal objects.
// Every field the apiserver would default is set, so a policy read back
// from the cluster compares equal to a freshly built one.
func Policies(in Input) []*networkingv1.NetworkPolicy {
	out := []*networkingv1.NetworkPolicy{isolation(in.Space)}
	if p := listeners(in); p != nil {
		out = append(out, p)
	}
	if in.Space.EgressDeclared {
		out = append(out, egress(in))
	}
	slices.SortFunc(out, func(a, b *networkingv1.NetworkPolicy) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// isolation is the default-deny policy: it selects every pod and lists no
// ingress rule.
func isolation(sp space.Space) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   typeMeta(),
		ObjectMeta: sp.ObjectMeta(IsolationPolicy),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
}

// listeners admits the permitted namespaces to the listener ports of the
// space's injected pods, the space's own pods to its peer ports, and the
// gateway's namespace to the listener ports of exposed Services; nil when
// there is no port to open (a rule without ports would open every port).
// Port names are the pod's to choose: an opted-out pod, or one that
// predates the space, may serve its app in plaintext on a port named like
// a listener, so only pods carrying the label decco's webhook sets when it
// injects (and refuses on any other pod) are opened.
func listeners(in Input) *networkingv1.NetworkPolicy {
	var rules []networkingv1.NetworkPolicyIngressRule
	ports := policyPorts(in.ListenerPorts)
	if len(ports) > 0 {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			Ports: ports,
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: peerNamespaces(in)}},
		})
	}
	if peer := policyPorts(without(in.PeerPorts, in.ListenerPorts)); len(peer) > 0 {
		// A podSelector alone selects pods of the policy's own namespace.
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			Ports: peer,
			From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{space.LabelSpace: in.Space.Name}}}},
		})
	}
	if len(rules) == 0 {
		return nil
	}
	if exposed := policyPorts(in.ExposedPorts); in.GatewayNamespace != "" && len(exposed) > 0 {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			Ports: exposed,
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: byName(metav1.LabelSelectorOpIn, in.GatewayNamespace)}},
		})
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   typeMeta(),
		ObjectMeta: in.Space.ObjectMeta(ListenerPolicy),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: podsOfMode(in.Space, in.Interception),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     rules,
		},
	}
}

// podsOfMode selects the space's pods decco injected for the cluster's
// data plane. A port number the listener policy opens is TLS on those
// pods, but on a pod injected for the other mode it can be the app's
// plaintext port: a ports-mode pod's app keeps its own number (the
// listener is on p+10000), and a cni pod serves its plaintext-ports on
// theirs. Pods of the other mode (left by a switch of modes until they are
// recreated) are therefore closed, never opened in plaintext. Pods decco
// injected in ports mode carry no decco.io/interception label, and older
// ones never did, so ports mode selects its pods by the label's absence.
func podsOfMode(sp space.Space, mode inject.Interception) metav1.LabelSelector {
	sel := metav1.LabelSelector{MatchLabels: map[string]string{space.LabelSpace: sp.Name, space.LabelInjected: "true"}}
	if mode == inject.InterceptCNI {
		sel.MatchLabels[space.LabelInterception] = string(inject.InterceptCNI)
		return sel
	}
	sel.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: space.LabelInterception, Operator: metav1.LabelSelectorOpDoesNotExist}}
	return sel
}

// without is ports less those in open.
func without(ports, open []intstr.IntOrString) []intstr.IntOrString {
	return slices.DeleteFunc(slices.Clone(ports), func(p intstr.IntOrString) bool {
		return slices.ContainsFunc(open, func(o intstr.IntOrString) bool { return comparePorts(p, o) == 0 })
	})
}

// peerNamespaces selects, by their apiserver-set name label, every
// namespace but the gateway's for a space without a project, else exactly
// the space's project and decco's namespace. The gateway has a rule of its
// own (see listeners).
func peerNamespaces(in Input) *metav1.LabelSelector {
	if in.Space.Project == "" {
		if in.GatewayNamespace == "" {
			return &metav1.LabelSelector{}
		}
		return byName(metav1.LabelSelectorOpNotIn, in.GatewayNamespace)
	}
	names := append([]string{in.Space.Name, in.SystemNamespace}, in.ProjectMembers...)
	return byName(metav1.LabelSelectorOpIn, names...)
}

// byName selects namespaces whose name label is (or is not) among names,
// sorted and without duplicates or empty names.
func byName(op metav1.LabelSelectorOperator, names ...string) *metav1.LabelSelector {
	names = slices.DeleteFunc(slices.Clone(names), func(s string) bool { return s == "" })
	slices.Sort(names)
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key:      LabelNamespaceName,
		Operator: op,
		Values:   slices.Compact(names),
	}}}
}

// policyPorts turns listener ports into TCP policy ports: numbers first in
// ascending order, then names, without duplicates or invalid entries.
func policyPorts(in []intstr.IntOrString) []networkingv1.NetworkPolicyPort {
	ports := slices.DeleteFunc(slices.Clone(in), func(p intstr.IntOrString) bool { return !validPort(p) })
	slices.SortFunc(ports, comparePorts)
	ports = slices.CompactFunc(ports, func(a, b intstr.IntOrString) bool { return comparePorts(a, b) == 0 })
	var out []networkingv1.NetworkPolicyPort
	for _, p := range ports {
		out = append(out, networkingv1.NetworkPolicyPort{Protocol: new(corev1.ProtocolTCP), Port: new(p)})
	}
	return out
}

func validPort(p intstr.IntOrString) bool {
	if p.Type == intstr.String {
		return len(validation.IsValidPortName(p.StrVal)) == 0
	}
	return p.IntVal >= 1 && p.IntVal <= 65535
}

// comparePorts orders numbers before names.
func comparePorts(a, b intstr.IntOrString) int {
	if a.Type != b.Type {
		return cmp.Compare(a.Type, b.Type)
	}
	if a.Type == intstr.String {
		return cmp.Compare(a.StrVal, b.StrVal)
	}
	return cmp.Compare(a.IntVal, b.IntVal)
}

func typeMeta() metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: networkingv1.SchemeGroupVersion.String(), Kind: "NetworkPolicy"}
}

package netpol

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
)

// EgressPolicy is the policy a space with decco.io/egress-policy:
// declared gets: its pods may reach cluster DNS, their own space and the
// declared destinations, nothing else.
const EgressPolicy = "decco-egress"

// Cluster DNS as kubeadm and most distributions run it: the pods labeled
// k8s-app=kube-dns in kube-system (CoreDNS keeps that label).
const (
	ClusterDNSNamespace = metav1.NamespaceSystem
	ClusterDNSLabel     = "k8s-app"
	ClusterDNSValue     = "kube-dns"
)

// Destination is where one decco.io/egress entry leads: the pods of a
// space's namespace on a listener port, or (Gateway) whatever runs in the
// gateway's namespace, for names served through it.
type Destination struct {
	Namespace string
	Port      intstr.IntOrString
	// Gateway: the name is a public one, reached through the gateway.
	Gateway bool
}

// Gateway is where the entries for public names lead: the namespace of the
// pods that serve the spaces' listeners (the gateway's proxies, or the
// ingress controllers) and the port those pods listen on.
type Gateway struct {
	Namespace string
	// PodPort is the port the gateway's pods accept the spaces' TLS on.
	// A NetworkPolicy matches the pod's port, after the Service in front
	// of them translated the port clients dial: Traefik listens on 8443
	// and Envoy Gateway on 10443 for a 443 listener. 0 means the entry's
	// own port, for pods that listen on the port clients dial.
	PodPort int32
}

// ServiceLookup finds a Service of a space by namespace and name; ok is
// false when there is none.
type ServiceLookup func(namespace, name string) (svc *corev1.Service, ok bool)

// ResolveEgress turns decco.io/egress entries into destinations: an
// in-cluster name <svc>.<ns>.svc[.<clusterDomain>] leads to the pods of
// space ns on the TLS port behind Service svc's port, as the listener
// policy of ns opens it: in ports interception the listener the Service
// rewrite moved the target to (see ListenerPorts), in cni interception the
// target port itself, which the sidecar serves over TLS on its own number
// (see TransparentPorts). Any other name is served by the gateway, so it
// leads to the gateway's namespace on the gateway's pod port (the entry's
// port when that is unset). Entries that lead nowhere (no such Service or
// port, a plaintext port, no gateway) are named in the error and open
// nothing.
func ResolveEgress(entries []sidecar.Egress, clusterDomain string, gw Gateway, mode inject.Interception, lookup ServiceLookup) ([]Destination, error) {
	tlsPorts := serviceListenerPorts
	if mode == inject.InterceptCNI {
		tlsPorts = serviceTransparentPorts
	}
	var out []Destination
	var errs []error
	for _, e := range entries {
		d, err := resolve(e, clusterDomain, gw, tlsPorts, lookup)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s entry %s:%d opens nothing: %w", space.AnnotationEgress, e.Host, e.Port, err))
			continue
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

func resolve(e sidecar.Egress, clusterDomain string, gw Gateway, tlsPorts portsOfService, lookup ServiceLookup) (Destination, error) {
	name := strings.TrimSuffix(e.Host, "."+clusterDomain)
	if !strings.HasSuffix(name, ".svc") {
		if gw.Namespace == "" {
			return Destination{}, errors.New("it is not an in-cluster name and no gateway is configured")
		}
		port := cmp.Or(gw.PodPort, e.Port)
		return Destination{Namespace: gw.Namespace, Port: intstr.FromInt32(port), Gateway: true}, nil
	}
	svcName, ns, ok := strings.Cut(strings.TrimSuffix(name, ".svc"), ".")
	if !ok || strings.Contains(ns, ".") {
		return Destination{}, errors.New("write an in-cluster name as <service>.<namespace>.svc")
	}
	svc, ok := lookup(ns, svcName)
	if !ok {
		return Destination{}, fmt.Errorf("no Service %s/%s labeled %s", ns, svcName, space.LabelSpace)
	}
	for _, p := range svc.Spec.Ports {
		if p.Port != e.Port {
			continue
		}
		one := svc.DeepCopy()
		one.Spec.Ports = []corev1.ServicePort{p}
		// Named targets stay names here: the destination's EndpointSlices
		// are not read for egress (an open item: engines that ignore
		// named ports on init containers don't resolve them).
		ports, err := tlsPorts(one, asNamed)
		if err != nil || len(ports) == 0 {
			return Destination{}, fmt.Errorf("port %d of Service %s/%s has no TLS listener", e.Port, ns, svcName)
		}
		return Destination{Namespace: ns, Port: ports[0]}, nil
	}
	return Destination{}, fmt.Errorf("the Service %s/%s has no port %d", ns, svcName, e.Port)
}

// egress builds EgressPolicy for in.Space.
func egress(in Input) *networkingv1.NetworkPolicy {
	udp, tcp, dnsPort := corev1.ProtocolUDP, corev1.ProtocolTCP, intstr.FromInt32(53)
	rules := []networkingv1.NetworkPolicyEgressRule{{
		To:    in.DNS.peers(),
		Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dnsPort}, {Protocol: &tcp, Port: &dnsPort}},
	}, {
		To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: byName(metav1.LabelSelectorOpIn, in.Space.Name)}},
	}}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   typeMeta(),
		ObjectMeta: in.Space.ObjectMeta(EgressPolicy),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      append(rules, destinationRules(in.Space.Name, in.EgressDestinations)...),
		},
	}
}

// destinationRules gives each destination namespace one rule with its
// ports, sorted, so equal inputs give equal policies. The space itself is
// open already.
func destinationRules(self string, ds []Destination) []networkingv1.NetworkPolicyEgressRule {
	type key struct {
		ns      string
		gateway bool
	}
	ports := map[key][]intstr.IntOrString{}
	for _, d := range ds {
		if d.Namespace == self && !d.Gateway {
			continue
		}
		k := key{d.Namespace, d.Gateway}
		ports[k] = append(ports[k], d.Port)
	}
	keys := make([]key, 0, len(ports))
	for k := range ports {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.ns, b.ns), cmp.Compare(fmt.Sprint(a.gateway), fmt.Sprint(b.gateway)))
	})
	var out []networkingv1.NetworkPolicyEgressRule
	for _, k := range keys {
		pp := policyPorts(ports[k])
		if len(pp) == 0 {
			continue
		}
		peer := networkingv1.NetworkPolicyPeer{NamespaceSelector: byName(metav1.LabelSelectorOpIn, k.ns)}
		if !k.gateway {
			// Only the space's pods: the listener policy there opens
			// nothing else anyway, and a stray pod is not a destination.
			peer.PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{space.LabelSpace: k.ns}}
		}
		out = append(out, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{peer}, Ports: pp})
	}
	return out
}

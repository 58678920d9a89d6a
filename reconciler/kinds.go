package reconciler

import (
	"slices"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// kind is one type of object the reconciler creates in a space namespace.
// Only objects of these kinds that carry the managed-by label are ever
// updated or deleted, so a user's own objects are never touched.
type kind struct {
	// name is the Kind, for logs and status messages.
	name string
	// newObj and newList make empty values for the cache.
	newObj  func() client.Object
	newList func() client.ObjectList
	// part is the status part the kind belongs to.
	part string
	// modes, when set, are the only route modes the kind is used in. It
	// is watched, cached and cleaned up in those modes only, so the
	// manager needs no rights on it (and, for Gateway API kinds, no CRDs)
	// in the others.
	modes []route.Mode
	// dnsEndpoint: the kind is used only with Options.DNSEndpoints, whose
	// CRD a cluster without external-dns may not have.
	dnsEndpoint bool
}

// gatewayModes are the route modes that write Gateway API routes.
var gatewayModes = []route.Mode{route.ModeGatewayAPI, route.ModeGatewayPerSpace}

// kinds lists every kind the builders return, in the order they are
// applied: NetworkPolicies first, so a space is fenced before anything
// exposes it; routes last.
var kinds = []kind{
	{name: "NetworkPolicy", part: space.PartPolicies,
		newObj: func() client.Object { return &networkingv1.NetworkPolicy{} }, newList: func() client.ObjectList { return &networkingv1.NetworkPolicyList{} }},
	{name: "Issuer", part: space.PartPKI,
		newObj: func() client.Object { return &certmanagerv1.Issuer{} }, newList: func() client.ObjectList { return &certmanagerv1.IssuerList{} }},
	{name: "Certificate", part: space.PartPKI,
		newObj: func() client.Object { return &certmanagerv1.Certificate{} }, newList: func() client.ObjectList { return &certmanagerv1.CertificateList{} }},
	{name: "ConfigMap", part: space.PartPKI,
		newObj: func() client.Object { return &corev1.ConfigMap{} }, newList: func() client.ObjectList { return &corev1.ConfigMapList{} }},
	{name: "ListenerSet", part: space.PartRoutes, modes: []route.Mode{route.ModeGatewayAPI},
		newObj: func() client.Object { return &gatewayv1.ListenerSet{} }, newList: func() client.ObjectList { return &gatewayv1.ListenerSetList{} }},
	{name: "Gateway", part: space.PartRoutes, modes: []route.Mode{route.ModeGatewayPerSpace},
		newObj: func() client.Object { return &gatewayv1.Gateway{} }, newList: func() client.ObjectList { return &gatewayv1.GatewayList{} }},
	{name: "BackendTLSPolicy", part: space.PartRoutes, modes: gatewayModes,
		newObj: func() client.Object { return &gatewayv1.BackendTLSPolicy{} }, newList: func() client.ObjectList { return &gatewayv1.BackendTLSPolicyList{} }},
	{name: "HTTPRoute", part: space.PartRoutes, modes: gatewayModes,
		newObj: func() client.Object { return &gatewayv1.HTTPRoute{} }, newList: func() client.ObjectList { return &gatewayv1.HTTPRouteList{} }},
	{name: "TLSRoute", part: space.PartRoutes, modes: gatewayModes,
		newObj: func() client.Object { return &gatewayv1.TLSRoute{} }, newList: func() client.ObjectList { return &gatewayv1.TLSRouteList{} }},
	{name: "Ingress", part: space.PartRoutes, modes: []route.Mode{route.ModeIngress},
		newObj: func() client.Object { return &networkingv1.Ingress{} }, newList: func() client.ObjectList { return &networkingv1.IngressList{} }},
	{name: endpoint.Kind, part: space.PartDNS, dnsEndpoint: true,
		newObj: func() client.Object { return &endpoint.DNSEndpoint{} }, newList: func() client.ObjectList { return &endpoint.DNSEndpointList{} }},
}

// activeKinds are the kinds watched and cleaned up with o: Gateway API
// kinds need their CRDs, which clusters in Ingress mode may not have, and
// neither mode needs rights on the other's routes. Switching modes leaves
// the old mode's routes behind (docs/helm.md says how to remove them).
// DNSEndpoints likewise only with o.DNSEndpoints.
func activeKinds(o Options) []kind {
	var out []kind
	for _, k := range kinds {
		if (len(k.modes) == 0 || slices.Contains(k.modes, o.RouteMode)) && (!k.dnsEndpoint || o.DNSEndpoints) {
			out = append(out, k)
		}
	}
	return out
}

// ManagedSelector selects what decco made: the managed-by label.
func ManagedSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{space.LabelManagedBy: space.ManagedByValue})
}

// isManaged reports whether obj is decco's.
func isManaged(obj client.Object) bool {
	return obj.GetLabels()[space.LabelManagedBy] == space.ManagedByValue
}

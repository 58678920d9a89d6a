package route

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/space"
)

// Kinds of the Gateway API objects this package writes or refers to.
const (
	KindListenerSet      = "ListenerSet"
	KindHTTPRoute        = "HTTPRoute"
	KindTLSRoute         = "TLSRoute"
	KindBackendTLSPolicy = "BackendTLSPolicy"
	KindGateway          = "Gateway"
)

// The builders below spell out every field the CRDs would otherwise
// default (groups, kinds, weights, route namespaces), so the object read
// back from the apiserver has the spec that was built, and comparing the
// two before writing finds nothing to do.

// gatewayObjects builds the space's routes and the listeners they attach
// to: a ListenerSet on the shared Gateway (ModeGatewayAPI) or a Gateway of
// the space's own (ModeGatewayPerSpace).
func gatewayObjects(in Input, exps []exposure) []client.Object {
	parent := parentKind(in.Mode)
	var objs []client.Object
	var hasHTTP, hasTCP bool
	for _, e := range exps {
		if e.http() {
			hasHTTP = true
			// The hop to the pod is TLS too: the sidecar is its only way in.
			objs = append(objs, httpRoute(in, e, parent), backendTLSPolicy(in.Space, e))
		} else {
			hasTCP = true
			objs = append(objs, tlsRoute(in, e, parent))
		}
	}
	if !hasHTTP && !hasTCP {
		return objs
	}
	ls := listeners(in, hasHTTP, hasTCP)
	if in.Mode == ModeGatewayPerSpace {
		return append(objs, spaceGateway(in, ls))
	}
	return append(objs, listenerSet(in, ls))
}

// parentKind is the kind decco's routes attach to in mode.
func parentKind(mode Mode) string {
	if mode == ModeGatewayPerSpace {
		return KindGateway
	}
	return KindListenerSet
}

// listeners are the space's own listeners: HTTPS for <space>.<domain> with
// the space's certificate when it has HTTP routes, TLS passthrough for
// *.<space>.<domain> when it has TCP routes, and the same two for its
// global name while it holds one. All admit routes from the space's
// namespace only.
func listeners(in Input, hasHTTP, hasTCP bool) []gatewayv1.Listener {
	sp := in.Space
	port := gatewayv1.PortNumber(in.Port)
	if port == 0 {
		port = DefaultPort
	}
	var out []gatewayv1.Listener
	if hasHTTP {
		out = append(out, httpsListener(sp, ListenerHTTPS, sp.Host(), port))
		if in.GlobalName != "" {
			out = append(out, httpsListener(sp, ListenerHTTPSGlobal, in.GlobalName, port))
		}
	}
	if hasTCP {
		out = append(out, passthroughListener(ListenerTLS, "*."+sp.Host(), port))
		if in.GlobalName != "" {
			out = append(out, passthroughListener(ListenerTLSGlobal, "*."+in.GlobalName, port))
		}
	}
	return out
}

// httpsListener terminates TLS for host with the space's HTTP certificate
// (which names the global name too).
func httpsListener(sp space.Space, name, host string, port gatewayv1.PortNumber) gatewayv1.Listener {
	return gatewayv1.Listener{
		Name:     gatewayv1.SectionName(name),
		Hostname: ptr.To(gatewayv1.Hostname(host)),
		Port:     port,
		Protocol: gatewayv1.HTTPSProtocolType,
		TLS: &gatewayv1.ListenerTLSConfig{
			Mode: ptr.To(gatewayv1.TLSModeTerminate),
			CertificateRefs: []gatewayv1.SecretObjectReference{{
				Group: ptr.To(gatewayv1.Group("")),
				Kind:  ptr.To(gatewayv1.Kind("Secret")),
				Name:  gatewayv1.ObjectName(sp.HTTPTLSSecret()),
			}},
		},
		AllowedRoutes: sameNamespaceRoutes(KindHTTPRoute),
	}
}

// passthroughListener passes TLS for hosts matching wildcard through,
// unopened, to the sidecars.
func passthroughListener(name, wildcard string, port gatewayv1.PortNumber) gatewayv1.Listener {
	return gatewayv1.Listener{
		Name:          gatewayv1.SectionName(name),
		Hostname:      ptr.To(gatewayv1.Hostname(wildcard)),
		Port:          port,
		Protocol:      gatewayv1.TLSProtocolType,
		TLS:           &gatewayv1.ListenerTLSConfig{Mode: ptr.To(gatewayv1.TLSModePassthrough)},
		AllowedRoutes: sameNamespaceRoutes(KindTLSRoute),
	}
}

// listenerSet attaches the space's listeners to the shared Gateway.
func listenerSet(in Input, ls []gatewayv1.Listener) *gatewayv1.ListenerSet {
	entries := make([]gatewayv1.ListenerEntry, 0, len(ls))
	for _, l := range ls {
		entries = append(entries, gatewayv1.ListenerEntry(l))
	}
	return &gatewayv1.ListenerSet{
		TypeMeta:   typeMeta(KindListenerSet),
		ObjectMeta: in.Space.ObjectMeta(ListenerSetName),
		Spec: gatewayv1.ListenerSetSpec{
			ParentRef: gatewayv1.ParentGatewayReference{
				Group:     ptr.To(gatewayv1.Group(gatewayv1.GroupName)),
				Kind:      ptr.To(gatewayv1.Kind(KindGateway)),
				Name:      gatewayv1.ObjectName(in.Gateway.Name),
				Namespace: ptr.To(gatewayv1.Namespace(in.Gateway.Namespace)),
			},
			Listeners: entries,
		},
	}
}

// spaceGateway is the space's own Gateway, of the installation's class:
// the implementation serves every space's Gateway on the same ports and
// tells them apart by hostname (SNI).
func spaceGateway(in Input, ls []gatewayv1.Listener) *gatewayv1.Gateway {
	return &gatewayv1.Gateway{
		TypeMeta:   typeMeta(KindGateway),
		ObjectMeta: in.Space.ObjectMeta(GatewayName),
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: gatewayv1.ObjectName(in.GatewayClass),
			Listeners:        ls,
		},
	}
}

func sameNamespaceRoutes(kind string) *gatewayv1.AllowedRoutes {
	return &gatewayv1.AllowedRoutes{
		Namespaces: &gatewayv1.RouteNamespaces{From: ptr.To(gatewayv1.NamespacesFromSame)},
		Kinds:      []gatewayv1.RouteGroupKind{{Group: ptr.To(gatewayv1.Group(gatewayv1.GroupName)), Kind: gatewayv1.Kind(kind)}},
	}
}

// httpRoute sends <space>.<domain><path>... (and <global name><path>...)
// to the Service.
func httpRoute(in Input, e exposure, parent string) *gatewayv1.HTTPRoute {
	return &gatewayv1.HTTPRoute{
		TypeMeta:   typeMeta(KindHTTPRoute),
		ObjectMeta: in.Space.ObjectMeta(objectName(e.service)),
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: commonRouteSpec(parent, sections(in, ListenerHTTPS, ListenerHTTPSGlobal)...),
			Hostnames:       gatewayHostnames(e.hostnames(in.GlobalName)),
			Rules: []gatewayv1.HTTPRouteRule{{
				Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{
					Type:  ptr.To(gatewayv1.PathMatchPathPrefix),
					Value: ptr.To(e.path),
				}}},
				BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: backendRef(e)}},
			}},
		},
	}
}

// tlsRoute passes TLS connections whose SNI is <service>.<space>.<domain>
// (or <service>.<global name>) through, unopened, to the Service's TLS
// listener.
func tlsRoute(in Input, e exposure, parent string) *gatewayv1.TLSRoute {
	return &gatewayv1.TLSRoute{
		TypeMeta:   typeMeta(KindTLSRoute),
		ObjectMeta: in.Space.ObjectMeta(objectName(e.service)),
		Spec: gatewayv1.TLSRouteSpec{
			CommonRouteSpec: commonRouteSpec(parent, sections(in, ListenerTLS, ListenerTLSGlobal)...),
			Hostnames:       gatewayHostnames(e.hostnames(in.GlobalName)),
			Rules:           []gatewayv1.TLSRouteRule{{BackendRefs: []gatewayv1.BackendRef{backendRef(e)}}},
		},
	}
}

// backendTLSPolicy makes the gateway speak TLS to the Service's pods and
// verify them against the space CA under the name <space>.<domain>, which
// every workload certificate of the space carries.
func backendTLSPolicy(sp space.Space, e exposure) *gatewayv1.BackendTLSPolicy {
	return &gatewayv1.BackendTLSPolicy{
		TypeMeta:   typeMeta(KindBackendTLSPolicy),
		ObjectMeta: sp.ObjectMeta(objectName(e.service)),
		Spec: gatewayv1.BackendTLSPolicySpec{
			TargetRefs: []gatewayv1.LocalPolicyTargetReferenceWithSectionName{{
				LocalPolicyTargetReference: gatewayv1.LocalPolicyTargetReference{
					Group: "", Kind: "Service", Name: gatewayv1.ObjectName(e.service),
				},
			}},
			Validation: gatewayv1.BackendTLSPolicyValidation{
				CACertificateRefs: []gatewayv1.LocalObjectReference{{Group: "", Kind: "ConfigMap", Name: CABundleConfigMap}},
				Hostname:          gatewayv1.PreciseHostname(sp.Host()),
			},
		},
	}
}

// commonRouteSpec attaches a route to listeners of the space's own
// ListenerSet or Gateway (parent), never to the shared Gateway directly.
// Both are named "decco" in the space's namespace.
func commonRouteSpec(parent string, sections ...string) gatewayv1.CommonRouteSpec {
	refs := make([]gatewayv1.ParentReference, 0, len(sections))
	for _, section := range sections {
		refs = append(refs, gatewayv1.ParentReference{
			Group:       ptr.To(gatewayv1.Group(gatewayv1.GroupName)),
			Kind:        ptr.To(gatewayv1.Kind(parent)),
			Name:        ListenerSetName,
			SectionName: ptr.To(gatewayv1.SectionName(section)),
		})
	}
	return gatewayv1.CommonRouteSpec{ParentRefs: refs}
}

// sections are the listeners a route attaches to: own, and global while
// the space holds its global name.
func sections(in Input, own, global string) []string {
	if in.GlobalName == "" {
		return []string{own}
	}
	return []string{own, global}
}

func gatewayHostnames(hosts []string) []gatewayv1.Hostname {
	out := make([]gatewayv1.Hostname, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, gatewayv1.Hostname(h))
	}
	return out
}

func backendRef(e exposure) gatewayv1.BackendRef {
	return gatewayv1.BackendRef{
		BackendObjectReference: gatewayv1.BackendObjectReference{
			Group: ptr.To(gatewayv1.Group("")),
			Kind:  ptr.To(gatewayv1.Kind("Service")),
			Name:  gatewayv1.ObjectName(e.service),
			Port:  ptr.To(gatewayv1.PortNumber(e.port.Port)),
		},
		Weight: ptr.To(int32(1)),
	}
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: gatewayv1.GroupVersion.String(), Kind: kind}
}

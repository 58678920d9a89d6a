package route

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/space"
)

var shop = space.Space{Name: "shop", Domain: "example.com"}

// svc is a Service of space sp with the given annotations and ports
// ("80", "http:80", "udp:53").
func svc(sp, name string, ann map[string]string, ports ...string) corev1.Service {
	s := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: sp, Name: name, Annotations: ann,
			Labels: map[string]string{space.LabelSpace: sp}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}},
	}
	for _, p := range ports {
		var sp corev1.ServicePort
		if n, num, ok := strings.Cut(p, ":"); ok {
			sp.Name, p = n, num
		}
		if sp.Name == "udp" {
			sp.Protocol = corev1.ProtocolUDP
		}
		_, err := fmt.Sscan(p, &sp.Port)
		if err != nil {
			panic(err)
		}
		sp.TargetPort = intstr.FromInt32(sp.Port + 10000)
		s.Spec.Ports = append(s.Spec.Ports, sp)
	}
	return s
}

func withoutSelector(s corev1.Service) corev1.Service {
	s.Spec.Selector = nil
	return s
}

func httpSvc(name, path string, ports ...string) corev1.Service {
	return svc("shop", name, map[string]string{space.AnnotationHTTPPath: path}, ports...)
}

func tcpSvc(name string, ports ...string) corev1.Service { return svc("shop", name, nil, ports...) }

// ids renders objects as Kind/name for compact comparisons.
func ids(objs []client.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName())
	}
	return out
}

func find[T client.Object](t *testing.T, objs []client.Object, name string) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.(T); ok && o.GetName() == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %q in %v", zero, name, ids(objs))
	return zero
}

func gatewayInput(sp space.Space, svcs ...corev1.Service) Input {
	return Input{Space: sp, Services: svcs, Mode: ModeGatewayAPI, Gateway: GatewayRef{Namespace: "decco-system", Name: "public"}}
}

func reasons(cs []Conflict) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Service+":"+c.Reason)
	}
	return out
}

func TestObjectsGatewayAPI(t *testing.T) {
	in := gatewayInput(shop,
		httpSvc("web", "/store", "http:80"),
		tcpSvc("db", "3306"),
		svc("other", "foreign", nil, "80"), // another space's: ignored
		corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "plain"}}, // no label: ignored
	)
	objs, conflicts := Objects(in)
	require.Empty(t, conflicts)
	assert.Equal(t, []string{"BackendTLSPolicy/decco-web", "HTTPRoute/decco-web", "ListenerSet/decco", "TLSRoute/decco-db"}, ids(objs))

	ls := find[*gatewayv1.ListenerSet](t, objs, ListenerSetName)
	assert.Equal(t, gatewayv1.ParentGatewayReference{
		Group: ptr.To(gatewayv1.Group("gateway.networking.k8s.io")), Kind: ptr.To(gatewayv1.Kind("Gateway")),
		Name: "public", Namespace: ptr.To(gatewayv1.Namespace("decco-system")),
	}, ls.Spec.ParentRef)
	require.Len(t, ls.Spec.Listeners, 2)
	https, tls := ls.Spec.Listeners[0], ls.Spec.Listeners[1]
	assert.Equal(t, gatewayv1.SectionName("https"), https.Name)
	assert.Equal(t, gatewayv1.Hostname("shop.example.com"), *https.Hostname)
	assert.Equal(t, gatewayv1.HTTPSProtocolType, https.Protocol)
	assert.Equal(t, gatewayv1.PortNumber(443), https.Port)
	assert.Equal(t, gatewayv1.TLSModeTerminate, *https.TLS.Mode)
	assert.Equal(t, gatewayv1.ObjectName(space.DefaultHTTPCertSecret), https.TLS.CertificateRefs[0].Name)
	assert.Equal(t, gatewayv1.NamespacesFromSame, *https.AllowedRoutes.Namespaces.From, "only the space's own routes attach")
	assert.Equal(t, gatewayv1.Kind("HTTPRoute"), https.AllowedRoutes.Kinds[0].Kind)
	assert.Equal(t, gatewayv1.SectionName("tls"), tls.Name)
	assert.Equal(t, gatewayv1.Hostname("*.shop.example.com"), *tls.Hostname)
	assert.Equal(t, gatewayv1.TLSProtocolType, tls.Protocol)
	assert.Equal(t, gatewayv1.TLSModePassthrough, *tls.TLS.Mode)
	assert.Empty(t, tls.TLS.CertificateRefs, "passthrough: the sidecar terminates TLS")
	assert.Equal(t, gatewayv1.Kind("TLSRoute"), tls.AllowedRoutes.Kinds[0].Kind)

	hr := find[*gatewayv1.HTTPRoute](t, objs, "decco-web")
	assert.Equal(t, []gatewayv1.Hostname{"shop.example.com"}, hr.Spec.Hostnames)
	require.Len(t, hr.Spec.ParentRefs, 1)
	assert.Equal(t, gatewayv1.Kind("ListenerSet"), *hr.Spec.ParentRefs[0].Kind, "routes attach to the space's ListenerSet, never the Gateway")
	assert.Equal(t, gatewayv1.ObjectName("decco"), hr.Spec.ParentRefs[0].Name)
	assert.Equal(t, gatewayv1.SectionName("https"), *hr.Spec.ParentRefs[0].SectionName)
	assert.Nil(t, hr.Spec.ParentRefs[0].Namespace, "same namespace")
	m := hr.Spec.Rules[0].Matches[0].Path
	assert.Equal(t, gatewayv1.PathMatchPathPrefix, *m.Type)
	assert.Equal(t, "/store", *m.Value)
	b := hr.Spec.Rules[0].BackendRefs[0]
	assert.Equal(t, gatewayv1.ObjectName("web"), b.Name)
	assert.Equal(t, gatewayv1.PortNumber(80), *b.Port)

	tr := find[*gatewayv1.TLSRoute](t, objs, "decco-db")
	assert.Equal(t, []gatewayv1.Hostname{"db.shop.example.com"}, tr.Spec.Hostnames)
	assert.Equal(t, gatewayv1.SectionName("tls"), *tr.Spec.ParentRefs[0].SectionName)
	assert.Equal(t, gatewayv1.PortNumber(3306), *tr.Spec.Rules[0].BackendRefs[0].Port)

	for _, o := range objs {
		assert.Equal(t, "shop", o.GetNamespace(), o.GetName())
		assert.Equal(t, map[string]string{space.LabelManagedBy: space.ManagedByValue, space.LabelSpace: "shop"}, o.GetLabels(), o.GetName())
		assert.Equal(t, "gateway.networking.k8s.io/v1", o.GetObjectKind().GroupVersionKind().GroupVersion().String())
	}
}

func TestListenersFollowExposures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		svcs      []corev1.Service
		port      int32
		listeners []string
	}{
		{name: "nothing exposed, no ListenerSet"},
		{name: "HTTP only", svcs: []corev1.Service{httpSvc("web", "/", "80")}, listeners: []string{"https:443"}},
		{name: "TCP only", svcs: []corev1.Service{tcpSvc("db", "5432")}, listeners: []string{"tls:443"}},
		{name: "custom port", svcs: []corev1.Service{tcpSvc("db", "5432"), httpSvc("web", "/", "80")}, port: 8443,
			listeners: []string{"https:8443", "tls:8443"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := gatewayInput(shop, tc.svcs...)
			in.Port = tc.port
			objs, _ := Objects(in)
			var got []string
			for _, o := range objs {
				if ls, ok := o.(*gatewayv1.ListenerSet); ok {
					for _, l := range ls.Spec.Listeners {
						got = append(got, fmt.Sprintf("%s:%d", l.Name, l.Port))
					}
				}
			}
			assert.Equal(t, tc.listeners, got)
		})
	}
}

func TestGatewayPerSpace(t *testing.T) {
	sp := shop
	svcs := []corev1.Service{httpSvc("web", "/store", "http:80"), tcpSvc("db", "3306")}
	shared, conflicts := Objects(gatewayInput(sp, svcs...))
	require.Empty(t, conflicts)
	in := Input{Space: sp, Services: svcs, Mode: ModeGatewayPerSpace, GatewayClass: "traefik", Port: 8443}
	objs, conflicts := Objects(in)
	require.Empty(t, conflicts)
	assert.Equal(t, []string{"BackendTLSPolicy/decco-web", "Gateway/decco", "HTTPRoute/decco-web", "TLSRoute/decco-db"}, ids(objs),
		"a Gateway in place of the ListenerSet, nothing else added")

	gw := find[*gatewayv1.Gateway](t, objs, GatewayName)
	assert.Equal(t, "shop", gw.Namespace, "the space's own Gateway lives in its namespace")
	assert.Equal(t, gatewayv1.ObjectName("traefik"), gw.Spec.GatewayClassName)
	assert.Nil(t, gw.Spec.AllowedListeners, "no ListenerSet may attach")
	ls := find[*gatewayv1.ListenerSet](t, shared, ListenerSetName)
	require.Len(t, gw.Spec.Listeners, len(ls.Spec.Listeners))
	for i, l := range gw.Spec.Listeners {
		want := ls.Spec.Listeners[i]
		want.Port = 8443
		assert.Equal(t, want, gatewayv1.ListenerEntry(l), "the same listeners as the ListenerSet's, on Input.Port")
	}

	for _, name := range []string{"decco-web", "decco-db"} {
		var refs []gatewayv1.ParentReference
		for _, o := range objs {
			switch r := o.(type) {
			case *gatewayv1.HTTPRoute:
				if r.Name == name {
					refs = r.Spec.ParentRefs
				}
			case *gatewayv1.TLSRoute:
				if r.Name == name {
					refs = r.Spec.ParentRefs
				}
			}
		}
		require.Len(t, refs, 1, name)
		assert.Equal(t, gatewayv1.Kind("Gateway"), *refs[0].Kind, "%s attaches to the space's Gateway", name)
		assert.Equal(t, gatewayv1.ObjectName(GatewayName), refs[0].Name, name)
		assert.Nil(t, refs[0].Namespace, "%s: the Gateway of its own namespace, never another space's", name)
	}
	assert.Equal(t, find[*gatewayv1.BackendTLSPolicy](t, shared, "decco-web").Spec,
		find[*gatewayv1.BackendTLSPolicy](t, objs, "decco-web").Spec)
}

func TestGatewayModes(t *testing.T) {
	for _, tc := range []struct {
		mode Mode
		api  bool
	}{
		{mode: "", api: true}, // the default: ModeGatewayAPI
		{mode: ModeGatewayAPI, api: true},
		{mode: ModeGatewayPerSpace, api: true},
		{mode: ModeIngress, api: false},
	} {
		assert.Equal(t, tc.api, tc.mode.GatewayAPI(), "%q", tc.mode)
	}
}

func TestEncryptHTTPAddsBackendTLSPolicy(t *testing.T) {
	sp := shop
	objs, conflicts := Objects(gatewayInput(sp, httpSvc("web", "/", "https:443"), tcpSvc("db", "3306")))
	require.Empty(t, conflicts)
	assert.Equal(t, []string{"BackendTLSPolicy/decco-web", "HTTPRoute/decco-web", "ListenerSet/decco", "TLSRoute/decco-db"}, ids(objs),
		"only HTTP services get a policy: TCP ones are passed through")
	p := find[*gatewayv1.BackendTLSPolicy](t, objs, "decco-web")
	assert.Equal(t, gatewayv1.LocalPolicyTargetReference{Group: "", Kind: "Service", Name: "web"}, p.Spec.TargetRefs[0].LocalPolicyTargetReference)
	assert.Equal(t, []gatewayv1.LocalObjectReference{{Group: "", Kind: "ConfigMap", Name: CABundleConfigMap}}, p.Spec.Validation.CACertificateRefs)
	assert.Equal(t, gatewayv1.PreciseHostname("shop.example.com"), p.Spec.Validation.Hostname)
}

func TestBringYourOwnHTTPCert(t *testing.T) {
	sp := shop
	sp.HTTPCertSecret = "wildcard-example-com"
	for _, mode := range []Mode{ModeGatewayAPI, ModeIngress} {
		in := gatewayInput(sp, httpSvc("web", "/", "80"))
		in.Mode = mode
		objs, _ := Objects(in)
		switch mode {
		case ModeGatewayAPI:
			ls := find[*gatewayv1.ListenerSet](t, objs, ListenerSetName)
			assert.Equal(t, gatewayv1.ObjectName("wildcard-example-com"), ls.Spec.Listeners[0].TLS.CertificateRefs[0].Name)
		case ModeIngress:
			ing := find[*networkingv1.Ingress](t, objs, "decco-web")
			assert.Equal(t, "wildcard-example-com", ing.Spec.TLS[0].SecretName)
		}
	}
}

func TestRefusals(t *testing.T) {
	long := strings.Repeat("s", 63)
	longSpace := space.Space{Name: "shop", Domain: strings.Repeat("d", 60) + "." + strings.Repeat("e", 60) + "." + strings.Repeat("f", 60) + ".com"}
	for _, tc := range []struct {
		name    string
		sp      space.Space
		svcs    []corev1.Service
		claimed map[string]string
		objects []string
		refused []string
	}{
		{
			name:    "TCP hostname held by another space",
			svcs:    []corev1.Service{tcpSvc("db", "3306"), tcpSvc("mq", "5671")},
			claimed: map[string]string{"db.shop.example.com": "db", "mq.shop.example.com": "shop", "shop.example.com": "shop"},
			objects: []string{"ListenerSet/decco", "TLSRoute/decco-mq"},
			refused: []string{"db:HostnameTaken"},
		},
		{
			name:    "space hostname held by another space refuses every HTTP service",
			svcs:    []corev1.Service{httpSvc("web", "/", "80"), httpSvc("api", "/api", "80"), tcpSvc("db", "3306")},
			claimed: map[string]string{"shop.example.com": "x"},
			objects: []string{"ListenerSet/decco", "TLSRoute/decco-db"},
			refused: []string{"api:HostnameTaken", "web:HostnameTaken"},
		},
		{
			name:    "two services on one path: the first by name keeps it",
			svcs:    []corev1.Service{httpSvc("web2", "/app", "80"), httpSvc("web1", "/app", "80"), httpSvc("api", "/api", "80")},
			objects: []string{"BackendTLSPolicy/decco-api", "BackendTLSPolicy/decco-web1", "HTTPRoute/decco-api", "HTTPRoute/decco-web1", "ListenerSet/decco"},
			refused: []string{"web2:DuplicatePath"},
		},
		{
			name:    "the same Service twice gives one route",
			svcs:    []corev1.Service{tcpSvc("db", "3306"), tcpSvc("db", "3306")},
			objects: []string{"ListenerSet/decco", "TLSRoute/decco-db"},
			refused: []string{"db:DuplicateHostname"},
		},
		{
			name:    "hostname longer than DNS allows",
			sp:      longSpace,
			svcs:    []corev1.Service{tcpSvc(long, "3306")},
			refused: []string{long + ":InvalidHostname"},
		},
		{
			name:    "path the Gateway API rejects",
			svcs:    []corev1.Service{httpSvc("a", "/x//y", "80"), httpSvc("b", "/x/./y", "80"), httpSvc("c", "/x/.", "80")},
			refused: []string{"a:InvalidPath", "b:InvalidPath", "c:InvalidPath"},
		},
		{
			name: "bad annotations, ExternalName, no TCP port",
			svcs: []corev1.Service{
				svc("shop", "badpath", map[string]string{space.AnnotationHTTPPath: "api"}, "80"),
				svc("shop", "baddns", map[string]string{space.AnnotationDNS: "yes"}, "80"),
				{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ext", Labels: map[string]string{space.LabelSpace: "shop"}},
					Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.org"}},
				tcpSvc("dns", "udp:53"),
				svc("shop", "metrics", map[string]string{space.AnnotationPlaintextPorts: "9090"}, "9090"),
			},
			refused: []string{"baddns:InvalidService", "badpath:InvalidService", "dns:NoExposablePort", "ext:UnsupportedService", "metrics:NoExposablePort"},
		},
		{
			name:    "a Service without a selector, whose endpoints could be anywhere",
			svcs:    []corev1.Service{withoutSelector(tcpSvc("db", "3306")), withoutSelector(httpSvc("web", "/", "80")), tcpSvc("mq", "5672")},
			objects: []string{"ListenerSet/decco", "TLSRoute/decco-mq"},
			refused: []string{"db:NoSelector", "web:NoSelector"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := tc.sp
			if sp.Name == "" {
				sp = shop
			}
			in := gatewayInput(sp, tc.svcs...)
			in.Claimed = tc.claimed
			objs, conflicts := Objects(in)
			assert.Equal(t, tc.objects, ids(objs))
			assert.Equal(t, tc.refused, reasons(conflicts))
			for _, c := range conflicts {
				assert.NotEmpty(t, c.Message)
				assert.Equal(t, c.Message, c.Error())
				assert.Contains(t, c.Message, fmt.Sprintf("%q", c.Service), "the message names the service")
				if c.Reason == ReasonHostnameTaken {
					assert.Equal(t, tc.claimed[c.Hostname], c.Owner)
					assert.Contains(t, c.Message, c.Owner)
				}
			}
		})
	}
}

func TestHostnameTakenNamesOwner(t *testing.T) {
	// Space "db" in domain shop.example.com lives at db.shop.example.com,
	// the very name service db of space shop wants: first come, first served.
	_, conflicts := Objects(Input{Space: shop, Services: []corev1.Service{tcpSvc("db", "3306")}, Mode: ModeIngress,
		SNIIngressClass: "sni", Claimed: map[string]string{"db.shop.example.com": "db"}})
	require.Len(t, conflicts, 1)
	assert.Equal(t, Conflict{Hostname: "db.shop.example.com", Owner: "db", Service: "db", Reason: ReasonHostnameTaken,
		Message: `service "db" is not exposed: hostname "db.shop.example.com" already belongs to space "db"; rename the service or move the space to another domain`},
		conflicts[0])
}

func TestExposedPort(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ann   map[string]string
		ports []string
		want  int32
	}{
		{name: "first TCP port", ports: []string{"http:80", "metrics:9090"}, want: 80},
		{name: "UDP skipped", ports: []string{"udp:53", "5353"}, want: 5353},
		{name: "plaintext by number", ann: map[string]string{space.AnnotationPlaintextPorts: "80"}, ports: []string{"80", "443"}, want: 443},
		{name: "plaintext by name", ann: map[string]string{space.AnnotationPlaintextPorts: "metrics"}, ports: []string{"metrics:9090", "http:80"}, want: 80},
		{name: "plaintext by target port", ann: map[string]string{space.AnnotationPlaintextPorts: "10080"}, ports: []string{"80", "81"}, want: 81},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, conflicts := Objects(gatewayInput(shop, svc("shop", "db", tc.ann, tc.ports...)))
			require.Empty(t, conflicts)
			tr := find[*gatewayv1.TLSRoute](t, objs, "decco-db")
			assert.Equal(t, gatewayv1.PortNumber(tc.want), *tr.Spec.Rules[0].BackendRefs[0].Port)
		})
	}
}

func TestNoGatewayConfigured(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Input)
	}{
		{name: "shared Gateway without a name", edit: func(in *Input) { in.Gateway = GatewayRef{} }},
		{name: "Gateway per space without a class", edit: func(in *Input) { in.Mode = ModeGatewayPerSpace }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := gatewayInput(shop, httpSvc("web", "/", "80"), tcpSvc("db", "3306"))
			tc.edit(&in)
			objs, conflicts := Objects(in)
			assert.Empty(t, objs)
			assert.Equal(t, []string{"db:NotConfigured", "web:NotConfigured"}, reasons(conflicts))
		})
	}
}

func TestObjectsIngress(t *testing.T) {
	in := Input{Space: shop, Mode: ModeIngress, IngressClass: "nginx", SNIIngressClass: "k8sniff",
		Services: []corev1.Service{httpSvc("web", "/store", "http:80"), tcpSvc("db", "3306")}}
	objs, conflicts := Objects(in)
	require.Empty(t, conflicts)
	assert.Equal(t, []string{"Ingress/decco-db", "Ingress/decco-web"}, ids(objs))

	web := find[*networkingv1.Ingress](t, objs, "decco-web")
	assert.Equal(t, "nginx", *web.Spec.IngressClassName)
	assert.Equal(t, []networkingv1.IngressTLS{{Hosts: []string{"shop.example.com"}, SecretName: space.DefaultHTTPCertSecret}}, web.Spec.TLS)
	require.Len(t, web.Spec.Rules, 1)
	assert.Equal(t, "shop.example.com", web.Spec.Rules[0].Host)
	p := web.Spec.Rules[0].HTTP.Paths[0]
	assert.Equal(t, "/store", p.Path)
	assert.Equal(t, networkingv1.PathTypePrefix, *p.PathType)
	assert.Equal(t, networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}, *p.Backend.Service)
	assert.Equal(t, "HTTPS", web.Annotations[AnnotationNginxBackendProtocol], "TLS to the pod (see TestIngressEncryptHTTP)")

	db := find[*networkingv1.Ingress](t, objs, "decco-db")
	assert.Equal(t, "k8sniff", *db.Spec.IngressClassName)
	assert.Empty(t, db.Spec.TLS, "the SNI router passes TLS through")
	assert.Equal(t, map[string]string{AnnotationNginxSSLPassthrough: "true"}, db.Annotations,
		"nginx-compatible controllers pass TLS through only when asked")
	assert.Equal(t, "db.shop.example.com", db.Spec.Rules[0].Host)
	assert.Equal(t, networkingv1.IngressServiceBackend{Name: "db", Port: networkingv1.ServiceBackendPort{Number: 3306}}, *db.Spec.Rules[0].HTTP.Paths[0].Backend.Service)

	for _, o := range objs {
		assert.Equal(t, "networking.k8s.io/v1", o.GetObjectKind().GroupVersionKind().GroupVersion().String())
		assert.Equal(t, "shop", o.GetLabels()[space.LabelSpace])
		assert.Equal(t, space.ManagedByValue, o.GetLabels()[space.LabelManagedBy])
	}
}

func TestIngressEncryptHTTP(t *testing.T) {
	sp := shop
	sp.TCPCertSecret = "own-tls"
	objs, _ := Objects(Input{Space: sp, Mode: ModeIngress, Services: []corev1.Service{httpSvc("web", "/", "443")}})
	web := find[*networkingv1.Ingress](t, objs, "decco-web")
	assert.Nil(t, web.Spec.IngressClassName, "no class: the cluster default")
	assert.Equal(t, map[string]string{
		AnnotationNginxBackendProtocol: "HTTPS",
		AnnotationNginxProxySSLSecret:  "shop/own-tls",
		AnnotationNginxProxySSLVerify:  "on",
		AnnotationNginxProxySSLName:    "shop.example.com",
		AnnotationNginxProxySSLSNI:     "on",
	}, web.Annotations)
}

func TestIngressWithoutSNIClassRefusesTCP(t *testing.T) {
	objs, conflicts := Objects(Input{Space: shop, Mode: ModeIngress, IngressClass: "nginx",
		Services: []corev1.Service{httpSvc("web", "/", "80"), tcpSvc("db", "3306")}})
	assert.Equal(t, []string{"Ingress/decco-web"}, ids(objs), "the default class would serve the TCP hostname as HTTP")
	assert.Equal(t, []string{"db:NotConfigured"}, reasons(conflicts))
}

func TestObjectsDeterministic(t *testing.T) {
	svcs := []corev1.Service{httpSvc("web", "/", "80"), tcpSvc("db", "3306"), httpSvc("api", "/api", "80"), tcpSvc("mq", "5671")}
	sp := shop
	for _, mode := range []Mode{ModeGatewayAPI, ModeIngress} {
		in := gatewayInput(sp, svcs...)
		in.Mode, in.SNIIngressClass = mode, "sni"
		first, _ := Objects(in)
		rev := slices.Clone(svcs)
		slices.Reverse(rev)
		in.Services = rev
		second, _ := Objects(in)
		assert.Equal(t, first, second, "service order must not matter (%s)", mode)
		assert.Equal(t, "web", svcs[0].Name, "Objects must not reorder the caller's slice")
	}
}

func TestHostnames(t *testing.T) {
	got := Hostnames(shop, []corev1.Service{
		tcpSvc("mq", "5671"), httpSvc("web", "/", "80"), tcpSvc("db", "3306"),
		tcpSvc("dns", "udp:53"),                  // no TCP port: not exposed, not claimed
		svc("other", "x", nil, "80"),             // another space's
		tcpSvc(strings.Repeat("s", 63)+"x", "1"), // invalid name
	})
	assert.Equal(t, []string{"db.shop.example.com", "mq.shop.example.com", "shop.example.com"}, got)
	assert.Equal(t, []string{"shop.example.com"}, Hostnames(shop, nil), "the space's own name is always claimed")
}

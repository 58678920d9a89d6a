package reconciler

import (
	"context"
	"slices"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestClaims(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peers []Peer
		want  map[string]string
	}{
		{"no overlap", []Peer{
			{Name: "a", Created: t0, Hosts: []string{"a.x.io"}},
			{Name: "b", Created: t0, Hosts: []string{"b.x.io"}},
		}, map[string]string{"a.x.io": "a", "b.x.io": "b"}},
		{"a held name stays with its holder, however old the space asking", []Peer{
			{Name: "attacker", Created: t0, Hosts: []string{"db.attacker.x.io"}},
			{Name: "db", Created: t0.Add(time.Hour), Hosts: []string{"db.attacker.x.io"}, Held: space.Claims{"db.attacker.x.io": t0.Add(2 * time.Hour)}},
		}, map[string]string{"db.attacker.x.io": "db"}},
		{"two holders (claims raced): the first claim wins", []Peer{
			{Name: "a", Created: t0, Held: space.Claims{"h.x.io": t0.Add(time.Minute)}},
			{Name: "b", Created: t0.Add(time.Hour), Held: space.Claims{"h.x.io": t0}},
		}, map[string]string{"h.x.io": "b"}},
		{"held but no longer asked for: still held until released", []Peer{
			{Name: "a", Created: t0, Hosts: []string{"h.x.io"}},
			{Name: "b", Created: t0.Add(time.Hour), Held: space.Claims{"h.x.io": t0.Add(2 * time.Hour)}},
		}, map[string]string{"h.x.io": "b"}},
		{"nobody holds it: the older namespace wins, whatever the order", []Peer{
			{Name: "young", Created: t0.Add(time.Hour), Hosts: []string{"db.shop.x.io"}},
			{Name: "old", Created: t0, Hosts: []string{"db.shop.x.io"}},
		}, map[string]string{"db.shop.x.io": "old"}},
		{"same age: name decides", []Peer{
			{Name: "b", Created: t0, Hosts: []string{"h.x.io"}},
			{Name: "a", Created: t0, Hosts: []string{"h.x.io"}},
		}, map[string]string{"h.x.io": "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, claims(tc.peers))
		})
	}
}

func TestProjectMembers(t *testing.T) {
	peers := []Peer{{Name: "c", Project: "p"}, {Name: "a", Project: "p"}, {Name: "b", Project: "q"}, {Name: "d"}}
	assert.Equal(t, []string{"a", "c"}, projectMembers(peers, "p"))
	assert.Nil(t, projectMembers(peers, ""), "no project: open to all, no member list")
	assert.Nil(t, projectMembers(peers, "none"))
}

func TestDNSTargets(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"IPs sorted and deduplicated", []string{"192.0.2.2", "192.0.2.1", "192.0.2.2"}, []string{"192.0.2.1", "192.0.2.2"}},
		{"IPs win over hostnames", []string{"lb.example.net", "2001:db8::1"}, []string{"2001:db8::1"}},
		{"first hostname alone", []string{"", "lb.example.net", "lb2.example.net"}, []string{"lb.example.net"}},
		{"nothing", []string{""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, dnsTargets(tc.in)) })
	}
}

func TestWithoutTaken(t *testing.T) {
	recs := []dns.Record{{Name: "shop.x.io"}, {Name: "db.shop.x.io"}}
	got := withoutTaken(recs, []route.Conflict{
		{Hostname: "db.shop.x.io", Reason: route.ReasonHostnameTaken, Owner: "db"},
		{Hostname: "shop.x.io", Reason: route.ReasonInvalidPath},
	})
	assert.Equal(t, []dns.Record{{Name: "shop.x.io"}}, got, "only names another space holds are dropped")
}

func service(ns, name, path string, target int32) corev1.Service {
	svc := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{space.LabelSpace: ns},
			Annotations: map[string]string{space.AnnotationDNS: "true"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "tls", Port: 443, TargetPort: intstr.FromString("http")}}},
	}
	if path != "" {
		svc.Annotations[space.AnnotationHTTPPath] = path
	}
	return svc
}

// endpointSlice is kube-controller-manager's slice of Service svc, its
// port portName resolved to number.
func endpointSlice(ns, svc, portName string, number int32) discoveryv1.EndpointSlice {
	return discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-abcde", Labels: map[string]string{
			discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: netpol.EndpointSliceController}},
		Ports: []discoveryv1.EndpointPort{{Name: new(portName), Port: new(number), Protocol: new(corev1.ProtocolTCP)}},
	}
}

func input(sp space.Space, svcs ...corev1.Service) Input {
	return Input{
		Space:      sp,
		Services:   svcs,
		Peers:      []Peer{{Name: sp.Name, Project: sp.Project, Created: t0, Hosts: route.Hostnames(sp, svcs)}},
		CABundle:   []byte("-----BEGIN CERTIFICATE-----\n"),
		DNSTargets: []string{"192.0.2.10"},
	}
}

func options(mode route.Mode) Options {
	return Options{
		SystemNamespace: "decco-system",
		Gateway:         route.GatewayRef{Namespace: "gw", Name: "shared"},
		RouteMode:       mode,
		SNIIngressClass: "sni",
		DNSEndpoints:    true,
		GatewayClass:    "traefik",
		ClusterDomain:   "cluster.local",
		Workers:         1,
	}
}

// nopDNS is a provider (as RFC 2136's) that only has to exist: decide
// never calls it.
type nopDNS struct{}

func (nopDNS) Ensure(context.Context, string, []dns.Record) error { return nil }
func (nopDNS) Remove(context.Context, string) error               { return nil }

// scheme knows every kind the builders return.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(certmanagerv1.AddToScheme(s))
	utilruntime.Must(gatewayv1.Install(s))
	utilruntime.Must(endpoint.AddToScheme(s))
	return s
}()

// Every object the builders return is of a kind the reconciler watches,
// prunes and cleans up in that mode: a kind missing from the list would
// be created but never removed.
func TestDecideReturnsOnlyManagedKinds(t *testing.T) {
	sp := space.Space{Name: "shop", Domain: "example.com"}
	in := input(sp, service("shop", "web", "/", 0), service("shop", "db", "", 0))
	for _, mode := range []route.Mode{route.ModeGatewayAPI, route.ModeGatewayPerSpace, route.ModeIngress} {
		t.Run(string(mode), func(t *testing.T) {
			want := decide(in, options(mode))
			require.NotEmpty(t, want.Objects)
			r := &Reconciler{scheme: scheme, kinds: activeKinds(options(mode))}
			assert.True(t, hasObject(want.Objects, endpoint.Kind, endpoint.ObjectName), "the records are a DNSEndpoint")
			for _, obj := range want.Objects {
				_, err := r.kindOf(obj)
				assert.NoError(t, err)
				assert.True(t, isManaged(obj), "%T %s lacks the managed-by label", obj, obj.GetName())
				assert.Equal(t, sp.Name, obj.GetNamespace())
				assert.Equal(t, sp.Name, obj.GetLabels()[space.LabelSpace])
			}
			assert.Empty(t, want.Conflicts)
			assert.NotEmpty(t, want.Records)
		})
	}
}

// Equal inputs give equal objects (what compare-before-write relies on),
// and the CA bundle appears only when a BackendTLSPolicy refers to it.
func TestDecideIsDeterministic(t *testing.T) {
	sp := space.Space{Name: "shop", Domain: "example.com"}
	in := input(sp, service("shop", "web", "/", 0), service("shop", "db", "", 0))
	a, b := decide(in, options(route.ModeGatewayAPI)), decide(in, options(route.ModeGatewayAPI))
	require.Equal(t, len(a.Objects), len(b.Objects))
	for i := range a.Objects {
		sa, err := stamp(a.Objects[i])
		require.NoError(t, err)
		sb, err := stamp(b.Objects[i])
		require.NoError(t, err)
		assert.Equal(t, sa.GetAnnotations(), sb.GetAnnotations(), "object %d", i)
	}
	assert.True(t, hasObject(a.Objects, "ConfigMap", route.CABundleConfigMap))

	tcp := decide(input(sp, service("shop", "db", "", 0)), options(route.ModeGatewayAPI))
	assert.False(t, hasObject(tcp.Objects, "ConfigMap", route.CABundleConfigMap), "no HTTP service, no BackendTLSPolicy, no bundle")
}

// With DNSEndpoints the records are one of the space's objects: built
// from the records, and kept as published while no address is known.
// With another provider there is none.
func TestDecideDNSEndpoint(t *testing.T) {
	sp := space.Space{Name: "shop", Domain: "example.com"}
	in := input(sp, service("shop", "db", "", 0))
	o := options(route.ModeGatewayAPI)
	ep := findObject[*endpoint.DNSEndpoint](t, decide(in, o).Objects, endpoint.ObjectName)
	assert.Equal(t, endpoint.Build(sp, decide(in, o).Records, ""), ep)

	in.DNSTargets = nil
	assert.False(t, hasObject(decide(in, o).Objects, endpoint.Kind, endpoint.ObjectName), "no address and nothing published: nothing to keep")
	in.Published = ep.DeepCopy()
	in.Published.Labels["team"] = "payments" // a user's label is not decco's to keep
	kept := findObject[*endpoint.DNSEndpoint](t, decide(in, o).Objects, endpoint.ObjectName)
	assert.Equal(t, ep, kept, "no address: the published records stay")

	o.DNSEndpoints, o.DNS = false, nopDNS{}
	in = input(sp, service("shop", "db", "", 0))
	got := decide(in, o)
	assert.NotEmpty(t, got.Records)
	assert.False(t, hasObject(got.Objects, endpoint.Kind, endpoint.ObjectName), "another provider publishes them")
}

func findObject[T client.Object](t *testing.T, objs []client.Object, name string) T {
	t.Helper()
	for _, o := range objs {
		if typed, ok := o.(T); ok && o.GetName() == name {
			return typed
		}
	}
	var zero T
	t.Fatalf("no %T %s among %d objects", zero, name, len(objs))
	return zero
}

// A hostname an older space holds is refused, and its record not
// published, while the space's other names go ahead.
func TestDecideRefusesTakenHostname(t *testing.T) {
	sp := space.Space{Name: "shop", Domain: "example.com"}
	in := input(sp, service("shop", "db", "", 0))
	in.Peers = append(in.Peers, Peer{Name: "db", Created: t0.Add(-time.Hour), Hosts: []string{"db.shop.example.com"}})
	want := decide(in, options(route.ModeGatewayAPI))
	require.Len(t, want.Conflicts, 1)
	assert.Equal(t, route.ReasonHostnameTaken, want.Conflicts[0].Reason)
	assert.Equal(t, "db", want.Conflicts[0].Owner)
	for _, r := range want.Records {
		assert.NotEqual(t, "db.shop.example.com", r.Name)
	}
	assert.True(t, hasObject(want.Objects, "NetworkPolicy", "decco-isolation"), "the space is still fenced")
}

// A region's routes answer its global name while it holds it in this
// cluster, and only then: a space that claimed the name first keeps it.
func TestDecideRoutesTheHeldGlobalName(t *testing.T) {
	sp := space.Space{Name: "shop", Domain: "example.com", GlobalName: "shop.example.net", CASecretRef: "shop-ca"}
	hostnames := func(want Desired) []gatewayv1.Hostname {
		for _, o := range want.Objects {
			if r, ok := o.(*gatewayv1.TLSRoute); ok {
				return r.Spec.Hostnames
			}
		}
		t.Fatal("no TLSRoute")
		return nil
	}
	in := input(sp, service("shop", "db", "", 0))
	assert.Equal(t, []gatewayv1.Hostname{"db.shop.example.com", "db.shop.example.net"}, hostnames(decide(in, options(route.ModeGatewayAPI))))

	in.Peers = append(in.Peers, Peer{Name: "first", Created: t0.Add(-time.Hour), Held: space.Claims{"shop.example.net": t0.Add(-time.Hour)}})
	want := decide(in, options(route.ModeGatewayAPI))
	assert.Equal(t, []gatewayv1.Hostname{"db.shop.example.com"}, hostnames(want), "another space holds the name here")
	assert.False(t, want.GlobalHeld)
}

// A space's certificates name its global name while it holds the name in
// this cluster, and only then: the second claimant's keys are for its own
// names alone, since the global name's routes lead to the holder.
func TestDecideCertificatesNameTheHeldGlobalName(t *testing.T) {
	sp := space.Space{Name: "shop", Domain: "example.com", GlobalName: "shop.example.net", CASecretRef: "shop-ca"}
	dnsNames := func(want Desired) map[string][]string {
		out := map[string][]string{}
		for _, o := range want.Objects {
			if c, ok := o.(*certmanagerv1.Certificate); ok {
				out[c.Name] = c.Spec.DNSNames
			}
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		holder        string // the space holding shop.example.net, "" for none
		workload, web []string
	}{
		{"nobody holds it: the space does", "", []string{"*.shop.example.com", "*.shop.example.net", "*.shop.svc", "*.shop.svc.cluster.local", "shop.example.com", "shop.example.net"},
			[]string{"shop.example.com", "shop.example.net"}},
		{"the space holds it", "shop", []string{"*.shop.example.com", "*.shop.example.net", "*.shop.svc", "*.shop.svc.cluster.local", "shop.example.com", "shop.example.net"},
			[]string{"shop.example.com", "shop.example.net"}},
		{"another space holds it", "first", []string{"*.shop.example.com", "*.shop.svc", "*.shop.svc.cluster.local", "shop.example.com"},
			[]string{"shop.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(sp, service("shop", "web", "/", 0))
			if tc.holder != "" {
				in.Peers = append(in.Peers, Peer{Name: tc.holder, Created: t0.Add(-time.Hour), Held: space.Claims{"shop.example.net": t0.Add(-time.Hour)}})
			}
			names := dnsNames(decide(in, options(route.ModeGatewayAPI)))
			assert.Equal(t, tc.workload, names[pki.WorkloadCertificateName])
			assert.Equal(t, tc.web, names[pki.HTTPCertificateName])
		})
	}
}

func hasObject(objs []client.Object, kind, name string) bool {
	for _, o := range objs {
		gvk, err := apiutil.GVKForObject(o, scheme)
		if err == nil && gvk.Kind == kind && o.GetName() == name {
			return true
		}
	}
	return false
}

// A Service without a selector gets no route and no record, and the
// gateway's namespace is admitted only to the listener ports of the
// Services that got a route; the project, to all of them.
func TestDecideGatewayReachesOnlyRoutedServices(t *testing.T) {
	sp := space.Space{Name: "shop", Domain: "example.com", Project: "retail"}
	routedSvc := service("shop", "db", "", 0)
	loose := service("shop", "mq", "", 0)
	loose.Spec.Selector = nil
	loose.Spec.Ports[0].TargetPort = intstr.FromString("amqp")
	in := input(sp, routedSvc, loose)
	// kube-controller-manager resolved the named targets on the pods.
	in.EndpointSlices = []discoveryv1.EndpointSlice{endpointSlice("shop", "db", "tls", 18080), endpointSlice("shop", "mq", "tls", 15672)}
	want := decide(in, options(route.ModeGatewayAPI))

	require.Len(t, want.Conflicts, 1)
	assert.Equal(t, route.ReasonNoSelector, want.Conflicts[0].Reason)
	assert.False(t, hasObject(want.Objects, "TLSRoute", route.ObjectPrefix+"mq"))
	assert.True(t, hasObject(want.Objects, "TLSRoute", route.ObjectPrefix+"db"))
	for _, r := range want.Records {
		assert.NotEqual(t, "mq.shop.example.com", r.Name)
	}
	var np *networkingv1.NetworkPolicy
	for _, o := range want.Objects {
		if p, ok := o.(*networkingv1.NetworkPolicy); ok && p.Name == netpol.ListenerPolicy {
			np = p
		}
	}
	require.NotNil(t, np)
	require.Len(t, np.Spec.Ingress, 2)
	ports := func(r networkingv1.NetworkPolicyIngressRule) []string {
		var out []string
		for _, p := range r.Ports {
			out = append(out, p.Port.String())
		}
		return out
	}
	assert.Equal(t, []string{"15672", "18080"}, ports(np.Spec.Ingress[0]), "the project reaches every listener")
	assert.Equal(t, []string{"decco-system", "shop"}, np.Spec.Ingress[0].From[0].NamespaceSelector.MatchExpressions[0].Values)
	assert.Equal(t, []string{"18080"}, ports(np.Spec.Ingress[1]), "the gateway reaches the routed Service's listener only")
	assert.Equal(t, []string{"gw"}, np.Spec.Ingress[1].From[0].NamespaceSelector.MatchExpressions[0].Values)
}

// The attack of issue 16: space db serves db.attacker.example.com; the
// older space attacker then asks for the same name with a TCP Service
// db. The holder keeps route, record and claim; the later claimant is
// refused with HostnameTaken naming it.
func TestDecideHeldHostnameIsNeverTaken(t *testing.T) {
	victim := space.Space{Name: "db", Domain: "attacker.example.com"}
	attacker := space.Space{Name: "attacker", Domain: "example.com"}
	host := "db.attacker.example.com"
	held := space.Claims{host: t0.Add(time.Hour)}
	svc := service("attacker", "db", "", 0)
	peers := []Peer{
		{Name: "attacker", Created: t0, Hosts: route.Hostnames(attacker, []corev1.Service{svc})},
		{Name: "db", Created: t0.Add(time.Minute), Hosts: []string{host}, Held: held},
	}

	in := input(attacker, svc)
	in.Peers, in.Now = peers, t0.Add(2*time.Hour)
	got := decide(in, options(route.ModeGatewayAPI))
	require.Len(t, got.Conflicts, 1)
	assert.Equal(t, route.ReasonHostnameTaken, got.Conflicts[0].Reason)
	assert.Equal(t, "db", got.Conflicts[0].Owner)
	assert.False(t, hasObject(got.Objects, "TLSRoute", route.ObjectPrefix+"db"))
	for _, r := range got.Records {
		assert.NotEqual(t, host, r.Name)
	}
	assert.Equal(t, space.Claims{"attacker.example.com": in.Now}, got.Claims, "the attacker claims only its own host")

	vin := input(victim)
	vin.Peers, vin.Now = peers, t0.Add(2*time.Hour)
	vgot := decide(vin, options(route.ModeGatewayAPI))
	assert.Empty(t, vgot.Conflicts)
	assert.Equal(t, held, vgot.Claims, "the holder keeps its claim and its time")
	assert.Contains(t, recordNames(vgot.Records), host)
}

// A space whose own hostname another space holds is told so, and its
// record is not published.
func TestDecideOwnHostHeldElsewhere(t *testing.T) {
	late := space.Space{Name: "db", Domain: "attacker.example.com"}
	in := input(late)
	in.Peers = append(in.Peers, Peer{Name: "attacker", Created: t0.Add(time.Hour), Held: space.Claims{"db.attacker.example.com": t0}})
	got := decide(in, options(route.ModeGatewayAPI))
	require.Len(t, got.Conflicts, 1)
	assert.Equal(t, route.ReasonHostnameTaken, got.Conflicts[0].Reason)
	assert.Contains(t, got.Conflicts[0].Message, `already belongs to space "attacker"`)
	assert.NotContains(t, recordNames(got.Records), "db.attacker.example.com")
	assert.Empty(t, got.Claims)
}

func recordNames(rs []dns.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// Past a limit the space routes and publishes none of its Services (not
// the first N: nothing partial) and says why; its own override wins over
// the installation's limit.
func TestDecideLimits(t *testing.T) {
	svcs := []corev1.Service{service("shop", "a", "", 0), service("shop", "b", "", 0), service("shop", "c", "", 0)}
	for _, tc := range []struct {
		name      string
		install   space.Limits
		own       space.Limits
		wantOver  string
		wantRoute bool
	}{
		{"within every limit", space.Limits{Services: 3, Hostnames: 4, DNSRecords: 4}, space.Limits{}, "", true},
		{"services over", space.Limits{Services: 2}, space.Limits{}, "the space has 3 Services labeled decco.io/space, over its limit of 2", false},
		{"hostnames over", space.Limits{Hostnames: 3}, space.Limits{}, "the space has 4 hostnames, over its limit of 3", false},
		{"DNS records over", space.Limits{DNSRecords: 3}, space.Limits{}, "the space has 4 DNS records, over its limit of 3", false},
		{"the space's own limit raises the installation's", space.Limits{Services: 2}, space.Limits{Services: 10}, "", true},
		{"the space's own limit lowers it", space.Limits{Services: 10}, space.Limits{Services: 1}, "over its limit of 1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := space.Space{Name: "shop", Domain: "example.com", Limits: tc.own}
			o := options(route.ModeGatewayAPI)
			o.Limits = tc.install
			got := decide(input(sp, svcs...), o)
			for _, s := range []string{"a", "b", "c"} {
				assert.Equal(t, tc.wantRoute, hasObject(got.Objects, "TLSRoute", route.ObjectPrefix+s), s)
			}
			if tc.wantOver == "" {
				assert.Empty(t, got.Conflicts)
				assert.Len(t, got.Records, 4)
				return
			}
			require.Len(t, got.Conflicts, 1)
			assert.Equal(t, route.ReasonLimitExceeded, got.Conflicts[0].Reason)
			assert.Contains(t, got.Conflicts[0].Message, tc.wantOver)
			assert.Contains(t, got.Conflicts[0].Message, space.AnnotationLimits)
			assert.Equal(t, []string{"shop.example.com"}, recordNames(got.Records), "only the space's own name")
			assert.False(t, hasObject(got.Objects, "ListenerSet", route.ListenerSetName))
			assert.True(t, hasObject(got.Objects, "NetworkPolicy", netpol.IsolationPolicy), "still fenced")
		})
	}
}

// A space whose domain is another space's hostname claims no new name
// unless the platform allowed the nesting; it keeps what it holds.
func TestDecideNestedDomain(t *testing.T) {
	child := space.Space{Name: "db", Domain: "shop.example.com"}
	parent := Peer{Name: "shop", Created: t0, Host: "shop.example.com", Hosts: []string{"shop.example.com"}}
	svc := service("db", "mq", "", 0)
	for _, tc := range []struct {
		name      string
		nestedIn  string
		held      space.Claims
		wantHosts []string // claimed after the reconcile
		refused   bool
	}{
		{"refused: nothing new", "", nil, nil, true},
		{"refused, but a held name stays", "", space.Claims{"db.shop.example.com": t0}, []string{"db.shop.example.com"}, true},
		{"allowed by the platform", "shop", nil, []string{"db.shop.example.com", "mq.db.shop.example.com"}, false},
		{"allowed under another parent only", "other", nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := child
			sp.NestedIn = tc.nestedIn
			in := input(sp, svc)
			in.Peers[0].Held = tc.held
			in.Peers = append(in.Peers, parent)
			in.Now = t0.Add(time.Hour)
			got := decide(in, options(route.ModeGatewayAPI))
			var claimed []string
			for h := range got.Claims {
				claimed = append(claimed, h)
			}
			slices.Sort(claimed)
			assert.Equal(t, tc.wantHosts, claimed)
			assert.Equal(t, !tc.refused, hasObject(got.Objects, "TLSRoute", route.ObjectPrefix+"mq"))
			if !tc.refused {
				assert.Empty(t, got.Conflicts)
				return
			}
			require.NotEmpty(t, got.Conflicts)
			assert.Equal(t, route.ReasonNestedDomain, got.Conflicts[0].Reason)
			assert.Contains(t, got.Conflicts[0].Message, `decco.io/nested-in: "shop"`)
			assert.Equal(t, tc.wantHosts, intersect(recordNames(got.Records), []string{"db.shop.example.com", "mq.db.shop.example.com"}), "records only for held names")
		})
	}
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

package netpol_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
)

// egressEntries are the decco.io/egress entries of each space's pods, as
// the reconciler collects them: a1 declares a tunnel to open1's web
// Service (in-cluster name, Service port 80) and one to a public name of
// its own, served through the gateway.
var egressEntries = map[string][]sidecar.Egress{
	"a1": {
		{LocalPort: 10080, Host: "web.open1.svc.cluster.local", Port: 80},
		{LocalPort: 10443, Host: "api.a1.example.com", Port: 443},
	},
}

func TestResolveEgress(t *testing.T) {
	lookup := func(ns, name string) (*corev1.Service, bool) {
		if ns == "open1" && name == "web" {
			s := services(t, "open1")[0]
			return &s, true
		}
		return nil, false
	}
	got, err := netpol.ResolveEgress([]sidecar.Egress{
		{Host: "web.open1.svc", Port: 80},
		{Host: "web.open1.svc.cluster.local", Port: 80},
		{Host: "db.shop.example.com", Port: 3306},
		{Host: "web.open1.svc", Port: 81},
		{Host: "nope.b1.svc", Port: 80},
		{Host: "a.b.c.svc", Port: 80},
	}, "cluster.local", netpol.Gateway{Namespace: "gateway"}, inject.InterceptPorts, lookup)
	assert.Equal(t, []netpol.Destination{
		{Namespace: "open1", Port: intstr.FromInt32(18080)},
		{Namespace: "open1", Port: intstr.FromInt32(18080)},
		{Namespace: "gateway", Port: intstr.FromInt32(3306), Gateway: true},
	}, got)
	require.Error(t, err)
	for _, want := range []string{
		"decco.io/egress entry web.open1.svc:81 opens nothing: the Service open1/web has no port 81",
		"entry nope.b1.svc:80 opens nothing: no Service b1/nope labeled decco.io/space",
		"entry a.b.c.svc:80 opens nothing: write an in-cluster name as <service>.<namespace>.svc",
	} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = netpol.ResolveEgress([]sidecar.Egress{{Host: "db.shop.example.com", Port: 3306}}, "cluster.local", netpol.Gateway{}, inject.InterceptPorts, lookup)
	assert.ErrorContains(t, err, "no gateway is configured")
}

// A public name leads to the gateway's pods on the port they listen on
// (--gateway-pod-port), which a NetworkPolicy matches after the gateway's
// Service translated the port the client dialled; in-cluster names keep
// their listener ports.
func TestResolveEgressToTheGatewayPodPort(t *testing.T) {
	lookup := func(ns, name string) (*corev1.Service, bool) {
		s := services(t, "open1")[0]
		return &s, ns == "open1" && name == "web"
	}
	for _, tc := range []struct {
		name    string
		podPort int32
		entry   sidecar.Egress
		want    netpol.Destination
	}{
		{"unset: the entry's port", 0, sidecar.Egress{Host: "api.a1.example.com", Port: 443},
			netpol.Destination{Namespace: "gateway", Port: intstr.FromInt32(443), Gateway: true}},
		{"Traefik's entry point", 8443, sidecar.Egress{Host: "api.a1.example.com", Port: 443},
			netpol.Destination{Namespace: "gateway", Port: intstr.FromInt32(8443), Gateway: true}},
		{"Envoy Gateway's shifted port", 10443, sidecar.Egress{Host: "db.shop.example.com", Port: 443},
			netpol.Destination{Namespace: "gateway", Port: intstr.FromInt32(10443), Gateway: true}},
		{"in-cluster names are not the gateway's", 8443, sidecar.Egress{Host: "web.open1.svc", Port: 80},
			netpol.Destination{Namespace: "open1", Port: intstr.FromInt32(18080)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := netpol.ResolveEgress([]sidecar.Egress{tc.entry}, "cluster.local",
				netpol.Gateway{Namespace: "gateway", PodPort: tc.podPort}, inject.InterceptPorts, lookup)
			require.NoError(t, err)
			assert.Equal(t, []netpol.Destination{tc.want}, got)
		})
	}
}

// egressTarget is a pod a space's client may try to reach.
type egressTarget struct {
	ns, name string
	labels   map[string]string
	port     int32
	proto    corev1.Protocol
	portName string
}

// With decco.io/egress-policy: declared on a1, cyclonus (over the
// policies as the apiserver stored them, with a control plane) finds that
// a1's pods reach exactly cluster DNS, their own space, the declared
// destination and the gateway for the declared public name; a2, whose
// egress stays open, still reaches everything its targets' ingress allows.
func TestEgressMatrix(t *testing.T) {
	l := baseLayout()
	l["a1"].Annotations[space.AnnotationEgressPolicy] = space.EgressDeclared
	st := apply(t, context.Background(), l)
	st.nsLabels[netpol.ClusterDNSNamespace] = map[string]string{corev1.LabelMetadataName: netpol.ClusterDNSNamespace}
	pol := matcher.BuildNetworkPolicies(true, st.policies)

	web := func(ns string, port int32) egressTarget {
		name := ""
		if port == 18080 {
			name = "http" // the injected pod's listener, named after the app port
		}
		return egressTarget{ns, "web", map[string]string{space.LabelSpace: ns, space.LabelInjected: "true"}, port, corev1.ProtocolTCP, name}
	}
	dns := map[string]string{netpol.ClusterDNSLabel: netpol.ClusterDNSValue}
	targets := []egressTarget{
		web("a1", 18080), web("a1", 8080), web("a2", 18080), web("b1", 18080), web("open1", 18080), web("open1", 8080),
		{netpol.ClusterDNSNamespace, "coredns", dns, 53, corev1.ProtocolUDP, ""},
		{netpol.ClusterDNSNamespace, "coredns", dns, 53, corev1.ProtocolTCP, ""},
		{netpol.ClusterDNSNamespace, "apiserver-proxy", map[string]string{"app": "x"}, 53, corev1.ProtocolUDP, ""},
		{gatewayNS, "gw", map[string]string{"app": "gw"}, 443, corev1.ProtocolTCP, ""},
		{gatewayNS, "gw", map[string]string{"app": "gw"}, 8443, corev1.ProtocolTCP, ""},
		{otherNS, "web", map[string]string{"app": "web"}, 80, corev1.ProtocolTCP, ""},
	}
	reach := func(src string) []string {
		var out []string
		for _, tg := range targets {
			tr := &matcher.Traffic{
				Source: &matcher.TrafficPeer{IP: "10.0.0.10", Internal: &matcher.InternalPeer{
					Namespace: src, NamespaceLabels: st.nsLabels[src], PodLabels: map[string]string{space.LabelSpace: src}}},
				Destination: &matcher.TrafficPeer{IP: "10.1.0.10", Internal: &matcher.InternalPeer{
					Namespace: tg.ns, NamespaceLabels: st.nsLabels[tg.ns], PodLabels: tg.labels}},
				ResolvedPort: int(tg.port), ResolvedPortName: tg.portName, Protocol: tg.proto,
			}
			if pol.IsTrafficAllowed(tr).IsAllowed() {
				out = append(out, fmt.Sprintf("%s/%s:%d/%s", tg.ns, tg.name, tg.port, tg.proto))
			}
		}
		return out
	}
	assert.Equal(t, []string{
		"a1/web:18080/TCP",
		"open1/web:18080/TCP",
		"kube-system/coredns:53/UDP",
		"kube-system/coredns:53/TCP",
		"gateway/gw:443/TCP",
	}, reach("a1"), "declared: DNS, its own space, the declared destinations, nothing else")
	assert.Equal(t, []string{
		"a1/web:18080/TCP",
		"a2/web:18080/TCP",
		"open1/web:18080/TCP",
		"kube-system/coredns:53/UDP",
		"kube-system/coredns:53/TCP",
		"kube-system/apiserver-proxy:53/UDP",
		"gateway/gw:443/TCP",
		"gateway/gw:8443/TCP",
		"other/web:80/TCP",
	}, reach("a2"), "open (the default): whatever the targets' ingress allows")
}

// In cni interception Services are not rewritten: the sidecar serves TLS
// on the target port's own number, so that is the destination's port, not
// target+10000 (which nothing serves and the destination's policy keeps
// closed).
func TestResolveEgressCNI(t *testing.T) {
	services := map[string]corev1.Service{
		"db":      svc("shop", "db", nil, port("mysql", 3306, intstr.FromInt32(3306))),
		"web":     svc("shop", "web", nil, port("http", 80, intstr.FromInt32(8080))),
		"bare":    svc("shop", "bare", nil, port("", 6379, intstr.IntOrString{})),
		"named":   svc("shop", "named", nil, port("amqp", 5672, intstr.FromString("amqp"))),
		"metrics": svc("shop", "metrics", map[string]string{space.AnnotationPlaintextPorts: "9121"}, port("metrics", 9121, intstr.FromInt32(9121))),
		"health":  svc("shop", "health", nil, port("h", 1, intstr.FromInt32(15021))),
	}
	lookup := func(ns, name string) (*corev1.Service, bool) {
		s, ok := services[name]
		return &s, ok && ns == "shop"
	}
	for _, tc := range []struct {
		host    string
		port    int32
		want    intstr.IntOrString
		wantErr string
	}{
		{"db.shop.svc", 3306, intstr.FromInt32(3306), ""},
		{"web.shop.svc.cluster.local", 80, intstr.FromInt32(8080), ""},
		{"bare.shop.svc", 6379, intstr.FromInt32(6379), ""},
		{"named.shop.svc", 5672, intstr.FromString("amqp"), ""},
		{"metrics.shop.svc", 9121, intstr.IntOrString{}, "port 9121 of Service shop/metrics has no TLS listener"},
		{"health.shop.svc", 1, intstr.IntOrString{}, "port 1 of Service shop/health has no TLS listener"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			got, err := netpol.ResolveEgress([]sidecar.Egress{{Host: tc.host, Port: tc.port}}, "cluster.local", netpol.Gateway{Namespace: "gateway"}, inject.InterceptCNI, lookup)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				assert.Empty(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []netpol.Destination{{Namespace: "shop", Port: tc.want}}, got)
		})
	}
}

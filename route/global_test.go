package route

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// A space holding a global name answers it at the gateway as it answers
// its own names, in every route mode: DNS sends the name's clients to
// this region's gateway, which must know it. Without the name nothing
// changes.
func TestGlobalNameIsRouted(t *testing.T) {
	svcs := []corev1.Service{httpSvc("web", "/store", "http:80"), tcpSvc("db", "3306")}
	section := func(ref gatewayv1.ParentReference) string { return string(*ref.SectionName) }
	for _, tc := range []struct{ mode Mode }{{ModeGatewayAPI}, {ModeGatewayPerSpace}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			in := Input{Space: shop, Services: svcs, Mode: tc.mode, GatewayClass: "traefik",
				Gateway: GatewayRef{Namespace: "decco-system", Name: "public"}, GlobalName: "shop.example.net"}
			objs, conflicts := Objects(in)
			require.Empty(t, conflicts)

			var ls []gatewayv1.Listener
			if tc.mode == ModeGatewayPerSpace {
				ls = find[*gatewayv1.Gateway](t, objs, GatewayName).Spec.Listeners
			} else {
				for _, e := range find[*gatewayv1.ListenerSet](t, objs, ListenerSetName).Spec.Listeners {
					ls = append(ls, gatewayv1.Listener(e))
				}
			}
			hosts := map[string]string{}
			for _, l := range ls {
				hosts[string(l.Name)] = string(*l.Hostname)
			}
			assert.Equal(t, map[string]string{
				ListenerHTTPS: "shop.example.com", ListenerHTTPSGlobal: "shop.example.net",
				ListenerTLS: "*.shop.example.com", ListenerTLSGlobal: "*.shop.example.net",
			}, hosts)

			web := find[*gatewayv1.HTTPRoute](t, objs, "decco-web")
			assert.Equal(t, []gatewayv1.Hostname{"shop.example.com", "shop.example.net"}, web.Spec.Hostnames)
			require.Len(t, web.Spec.ParentRefs, 2)
			assert.Equal(t, []string{ListenerHTTPS, ListenerHTTPSGlobal}, []string{section(web.Spec.ParentRefs[0]), section(web.Spec.ParentRefs[1])})

			db := find[*gatewayv1.TLSRoute](t, objs, "decco-db")
			assert.Equal(t, []gatewayv1.Hostname{"db.shop.example.com", "db.shop.example.net"}, db.Spec.Hostnames)
			require.Len(t, db.Spec.ParentRefs, 2)
			assert.Equal(t, []string{ListenerTLS, ListenerTLSGlobal}, []string{section(db.Spec.ParentRefs[0]), section(db.Spec.ParentRefs[1])})

			in.GlobalName = ""
			without, _ := Objects(in)
			web = find[*gatewayv1.HTTPRoute](t, without, "decco-web")
			assert.Equal(t, []gatewayv1.Hostname{"shop.example.com"}, web.Spec.Hostnames)
			assert.Len(t, web.Spec.ParentRefs, 1)
		})
	}
}

func TestGlobalNameIsRoutedByIngress(t *testing.T) {
	in := Input{Space: shop, Mode: ModeIngress, IngressClass: "nginx", SNIIngressClass: "k8sniff", GlobalName: "shop.example.net",
		Services: []corev1.Service{httpSvc("web", "/store", "http:80"), tcpSvc("db", "3306")}}
	objs, conflicts := Objects(in)
	require.Empty(t, conflicts)
	rules := func(ing *networkingv1.Ingress) []string {
		var out []string
		for _, r := range ing.Spec.Rules {
			out = append(out, r.Host+r.HTTP.Paths[0].Path+">"+r.HTTP.Paths[0].Backend.Service.Name)
		}
		return out
	}
	web := find[*networkingv1.Ingress](t, objs, "decco-web")
	assert.Equal(t, []string{"shop.example.com/store>web", "shop.example.net/store>web"}, rules(web))
	assert.Equal(t, []string{"shop.example.com", "shop.example.net"}, web.Spec.TLS[0].Hosts, "the HTTP certificate names both")
	db := find[*networkingv1.Ingress](t, objs, "decco-db")
	assert.Equal(t, []string{"db.shop.example.com/>db", "db.shop.example.net/>db"}, rules(db))
}

package reconciler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		errHas string
	}{
		{"defaults", func(*Options) {}, ""},
		{"ingress mode needs no Gateway name", func(o *Options) { o.RouteMode = route.ModeIngress; o.Gateway.Name = "" }, ""},
		{"gateway mode needs the Gateway", func(o *Options) { o.Gateway.Name = "" }, "Gateway"},
		{"unknown mode", func(o *Options) { o.RouteMode = "mesh" }, "RouteMode"},
		{"gateway per space needs no Gateway name", func(o *Options) {
			o.RouteMode, o.GatewayClass, o.Gateway.Name = route.ModeGatewayPerSpace, "traefik", ""
		}, ""},
		{"gateway per space needs a class", func(o *Options) { o.RouteMode, o.GatewayClass = route.ModeGatewayPerSpace, "" }, "GatewayClass"},
		{"gateway per space needs the gateway's namespace", func(o *Options) {
			o.RouteMode, o.GatewayClass, o.Gateway.Namespace = route.ModeGatewayPerSpace, "traefik", ""
		}, "namespace of the gateway's proxies"},
		{"gateway port", func(o *Options) { o.GatewayPort = 70000 }, "GatewayPort"},
		{"gateway pod port", func(o *Options) { o.GatewayPodPort = -1 }, "GatewayPodPort"},
		{"issuer kind", func(o *Options) { o.DefaultIssuer = space.IssuerRef{Kind: "Vault", Name: "v"} }, "DefaultIssuer"},
		{"IP targets", func(o *Options) { o.DNSTargets = []string{"192.0.2.1", "2001:db8::1"} }, ""},
		{"one hostname target", func(o *Options) { o.DNSTargets = []string{"lb.example.net"} }, ""},
		{"hostname among others", func(o *Options) { o.DNSTargets = []string{"lb.example.net", "192.0.2.1"} }, "exactly one hostname"},
		{"junk target", func(o *Options) { o.DNSTargets = []string{"not a name"} }, "neither an IP"},
		{"negative TTL", func(o *Options) { o.DNSTTL = -1 }, "DNSTTL"},
		{"workers", func(o *Options) { o.Workers = 0 }, "Workers"},
		{"system namespace", func(o *Options) { o.SystemNamespace = "" }, "SystemNamespace"},
		{"both DNS providers", func(o *Options) { o.DNS = nopDNS{} }, "choose one DNS provider"},
		{"workload cert of a day", func(o *Options) { o.WorkloadCertDuration = 24 * time.Hour }, ""},
		{"workload cert too short", func(o *Options) { o.WorkloadCertDuration = time.Minute }, "WorkloadCertDuration"},
		{"workload cert too long", func(o *Options) { o.WorkloadCertDuration = 365 * 24 * time.Hour }, "WorkloadCertDuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options(route.ModeGatewayAPI)
			tc.mutate(&o)
			err := o.Validate()
			if tc.errHas == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tc.errHas)
		})
	}
}

package spacectl

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/decco-dev/decco/dns/rfc2136"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/space"
)

func TestClusterRegion(t *testing.T) {
	sp := space.Space{Name: "foo-west", Domain: "example.com", GlobalName: "foo.example.com"}
	ready := space.Condition{Ready: true, Reason: "Applied"}
	for _, tc := range []struct {
		name           string
		parts          map[string]space.Condition
		health, atName string
	}{
		{"no status yet", nil, "pki Unknown", "unknown"},
		{"published", map[string]space.Condition{space.PartPKI: ready, space.PartRoutes: ready, space.PartDNS: {Ready: true, Reason: "Published"}}, "Ready", "published"},
		{"pods gone: withdrawn", map[string]space.Condition{space.PartPKI: ready, space.PartRoutes: ready,
			space.PartDNS: {Reason: reconciler.ReasonRegionWithdrawn, Message: "no ready pod behind Service db"}}, "NotReady", "withdrawn"},
		{"PKI broken, the last region", map[string]space.Condition{space.PartPKI: {Reason: "Issuing"}, space.PartRoutes: ready,
			space.PartDNS: {Reason: reconciler.ReasonLastRegion}}, "pki Issuing", "kept as the last"},
		{"DNS failing", map[string]space.Condition{space.PartPKI: ready, space.PartRoutes: ready, space.PartDNS: {Reason: "ProviderFailed"}}, "Ready", "dns ProviderFailed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := clusterRegion("context west", sp, space.Status{Parts: tc.parts})
			assert.Equal(t, tc.health, g.Health)
			assert.Equal(t, tc.atName, g.AtName)
			assert.Equal(t, "foo.example.com", g.GlobalName)
		})
	}
}

func TestZoneRegions(t *testing.T) {
	v := rfc2136.SharedView{Name: "foo.example.com",
		Owners: []rfc2136.SharedOwner{
			{Owner: "east", Space: "foo-east", Targets: []string{"192.0.2.1"}},
			{Owner: "west", Space: "foo-west", Targets: []string{"192.0.2.2"}},
		},
		Served: []string{"192.0.2.1", "192.0.2.99"}}
	got := zoneRegions("dns ns1:53", v)
	assert.Equal(t, []GlobalRegion{
		{GlobalName: "foo.example.com", Source: "dns ns1:53", Region: "east/foo-east", Health: "-", AtName: "published", Addresses: []string{"192.0.2.1"}},
		{GlobalName: "foo.example.com", Source: "dns ns1:53", Region: "west/foo-west", Health: "-", AtName: "listed, not served", Addresses: []string{"192.0.2.2"},
			Message: "the zone does not serve 192.0.2.2"},
		{GlobalName: "foo.example.com", Source: "dns ns1:53", Region: "(not decco's)", Health: "-", AtName: "served", Addresses: []string{"192.0.2.99"}},
	}, got)
}

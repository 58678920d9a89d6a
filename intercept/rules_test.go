package intercept

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func plan() Plan {
	return Plan{
		Version:    Version,
		SidecarUID: 65532,
		Inbound:    Inbound{Port: 15006, HTTPPort: 15007, HTTPPorts: []int32{8080}, Exclude: []int32{9090}},
		Outbound: Outbound{Port: 15001,
			CIDRs:        prefixes("10.244.0.0/16", "10.96.0.0/12", "fd00:10:244::/56"),
			ExcludeCIDRs: prefixes("10.96.0.1/32", "fd00:10:96::1/128")},
		CheckPort: 15020, HealthPort: 15021,
	}
}

func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		family Family
		want   string
	}{
		{"IPv4", IPv4, `*filter
:DECCO_GUARD - [0:0]
-A OUTPUT -p tcp -j DECCO_GUARD
-A DECCO_GUARD -p tcp -m owner --uid-owner 65532 -m addrtype --dst-type LOCAL -m multiport --dports 15006,15007,15001 -j REJECT --reject-with tcp-reset
COMMIT
*nat
:DECCO_INBOUND - [0:0]
:DECCO_OUTBOUND - [0:0]
-A PREROUTING -p tcp -j DECCO_INBOUND
-A OUTPUT -p tcp -j DECCO_OUTBOUND
-A DECCO_INBOUND -p tcp --dport 15006 -j RETURN
-A DECCO_INBOUND -p tcp --dport 15007 -j RETURN
-A DECCO_INBOUND -p tcp --dport 15021 -j RETURN
-A DECCO_INBOUND -p tcp --dport 9090 -j RETURN
-A DECCO_INBOUND -p tcp --dport 8080 -j REDIRECT --to-ports 15007
-A DECCO_INBOUND -p tcp -j REDIRECT --to-ports 15006
-A DECCO_OUTBOUND -p tcp -d 127.0.0.1/32 --dport 15020 -m owner --uid-owner 65532 -j REDIRECT --to-ports 15021
-A DECCO_OUTBOUND -o lo -j RETURN
-A DECCO_OUTBOUND -m owner --uid-owner 65532 -j RETURN
-A DECCO_OUTBOUND -p tcp --dport 53 -j RETURN
-A DECCO_OUTBOUND -d 10.96.0.1/32 -j RETURN
-A DECCO_OUTBOUND -p tcp -d 10.244.0.0/16 -j REDIRECT --to-ports 15001
-A DECCO_OUTBOUND -p tcp -d 10.96.0.0/12 -j REDIRECT --to-ports 15001
COMMIT
`},
		{"IPv6 takes only IPv6 ranges", IPv6, `*filter
:DECCO_GUARD - [0:0]
-A OUTPUT -p tcp -j DECCO_GUARD
-A DECCO_GUARD -p tcp -m owner --uid-owner 65532 -m addrtype --dst-type LOCAL -m multiport --dports 15006,15007,15001 -j REJECT --reject-with tcp-reset
COMMIT
*nat
:DECCO_INBOUND - [0:0]
:DECCO_OUTBOUND - [0:0]
-A PREROUTING -p tcp -j DECCO_INBOUND
-A OUTPUT -p tcp -j DECCO_OUTBOUND
-A DECCO_INBOUND -p tcp --dport 15006 -j RETURN
-A DECCO_INBOUND -p tcp --dport 15007 -j RETURN
-A DECCO_INBOUND -p tcp --dport 15021 -j RETURN
-A DECCO_INBOUND -p tcp --dport 9090 -j RETURN
-A DECCO_INBOUND -p tcp --dport 8080 -j REDIRECT --to-ports 15007
-A DECCO_INBOUND -p tcp -j REDIRECT --to-ports 15006
-A DECCO_OUTBOUND -p tcp -d ::1/128 --dport 15020 -m owner --uid-owner 65532 -j REDIRECT --to-ports 15021
-A DECCO_OUTBOUND -o lo -j RETURN
-A DECCO_OUTBOUND -m owner --uid-owner 65532 -j RETURN
-A DECCO_OUTBOUND -p tcp --dport 53 -j RETURN
-A DECCO_OUTBOUND -d fd00:10:96::1/128 -j RETURN
-A DECCO_OUTBOUND -p tcp -d fd00:10:244::/56 -j REDIRECT --to-ports 15001
COMMIT
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Rules(plan(), tc.family))
		})
	}
}

// Without HTTP ports no second listener is named, and the catch-all
// redirect stays the last inbound rule.
func TestRulesWithoutHTTPPorts(t *testing.T) {
	p := plan()
	p.Inbound.HTTPPort, p.Inbound.HTTPPorts = 0, nil
	r := Rules(p, IPv4)
	assert.NotContains(t, r, "15007")
	in := grep(r, InboundChain+" ")
	assert.Equal(t, "-A DECCO_INBOUND -p tcp -j REDIRECT --to-ports 15006", in[len(in)-1])
}

func grep(s, sub string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

func TestParseRoundTrip(t *testing.T) {
	p := plan()
	got, err := Parse(p.Encode())
	require.NoError(t, err)
	assert.Equal(t, p, got)
	assert.Equal(t, p.Encode(), got.Encode(), "the encoding is stable")
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*Plan)
		substr string
	}{
		{"unknown version", func(p *Plan) { p.Version = 2 }, "version 2"},
		{"root sidecar", func(p *Plan) { p.SidecarUID = 0 }, "uid 0"},
		{"no inbound port", func(p *Plan) { p.Inbound.Port = 0 }, "inbound.port 0"},
		{"HTTP ports without their listener", func(p *Plan) { p.Inbound.HTTPPort = 0 }, "inbound.httpPort 0"},
		{"port out of range", func(p *Plan) { p.Inbound.Exclude = []int32{70000} }, "port 70000"},
		{"no outbound ranges", func(p *Plan) { p.Outbound.CIDRs = nil }, "outbound.cidrs is empty"},
		{"range with host bits", func(p *Plan) { p.Outbound.CIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.0.1/16")} }, "range 10.244.0.1/16"},
		{"no check port", func(p *Plan) { p.CheckPort = 0 }, "checkPort 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := plan()
			tc.edit(&p)
			_, err := Parse(p.Encode())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.substr)
		})
	}
	_, err := Parse("{not json")
	require.Error(t, err)
}

// Intercepts agrees with Rules: a port is intercepted unless the inbound
// chain returns it untouched.
func TestIntercepts(t *testing.T) {
	p := plan()
	for _, tc := range []struct {
		port int32
		want bool
	}{
		{5672, true},
		{8080, true},  // an HTTP port, to the listener without client certificates
		{7800, true},  // declared or not, every other port
		{9090, false}, // excluded: decco.io/plaintext-ports
		{15006, false},
		{15007, false},
		{15021, false}, // the health port
		{0, false},
		{70000, false},
	} {
		assert.Equal(t, tc.want, p.Intercepts(tc.port), "port %d", tc.port)
		if tc.port > 0 && tc.port < 65536 {
			returned := strings.Contains(Rules(p, IPv4), "-A DECCO_INBOUND -p tcp --dport "+itoa(tc.port)+" -j RETURN")
			assert.Equal(t, !tc.want, returned, "port %d: Rules and Intercepts disagree", tc.port)
		}
	}
}

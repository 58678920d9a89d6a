package node

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNetworkValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Network)
		want string // "" for valid
	}{
		{"IPv4 only", func(*Network) {}, ""},
		{"dual-stack", func(n *Network) { *n = DualStackNetwork }, ""},
		{"IPv6 pods without an IPv6 Service range", func(n *Network) { n.PodCIDRv6 = DualStackNetwork.PodCIDRv6 }, "set both PodCIDRv6 and ServiceCIDRv6"},
		{"IPv6 range in the IPv4 field", func(n *Network) { n.PodCIDR = DualStackNetwork.PodCIDRv6 }, "PodCIDR fd00:10:244::/64 is not an IPv4 range"},
		{"IPv4 range in the IPv6 field", func(n *Network) {
			*n = DualStackNetwork
			n.ServiceCIDRv6 = netip.MustParsePrefix("10.1.0.0/24")
		}, "ServiceCIDRv6 10.1.0.0/24 is not an IPv6 range"},
		{"host bits", func(n *Network) {
			*n = DualStackNetwork
			n.PodCIDRv6 = netip.MustParsePrefix("fd00:10:244::1/64")
		}, "PodCIDRv6 fd00:10:244::1/64 has host bits set: want fd00:10:244::/64"},
		{"no IPv4 range", func(n *Network) { n.ServiceCIDR = netip.Prefix{} }, "ServiceCIDR is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := DefaultNetwork
			tt.edit(&n)
			err := n.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestNetworkFamilies(t *testing.T) {
	v4, dual := DefaultNetwork, DualStackNetwork
	assert.False(t, v4.DualStack())
	assert.Equal(t, "10.244.0.1", Join(v4.NodeIPs()))
	assert.Equal(t, "10.244.0.0/24", Join(v4.PodCIDRs()))
	assert.Equal(t, "10.0.0.0/24", Join(v4.ServiceCIDRs()))
	assert.False(t, v4.NodeIPv6().IsValid())

	assert.True(t, dual.DualStack())
	assert.Equal(t, "10.244.0.1,fd00:10:244::1", Join(dual.NodeIPs()), "IPv4 first: the primary family")
	assert.Equal(t, "10.244.0.0/24,fd00:10:244::/64", Join(dual.PodCIDRs()))
	assert.Equal(t, "10.0.0.0/24,fd00:10:96::/112", Join(dual.ServiceCIDRs()))
	assert.Equal(t, "10.0.0.10", dual.DNSIP().String(), "cluster DNS stays on IPv4")
}

func TestGuardRules(t *testing.T) {
	render := func(rules [][]string) string {
		var lines []string
		for _, r := range rules {
			lines = append(lines, strings.Join(r, " "))
		}
		return strings.Join(lines, "\n")
	}
	v4 := `-d 10.244.0.1 -p tcp --syn -j DROP
-d 10.244.0.1 -p tcp -j RETURN
-d 10.244.0.1 -p icmp -j RETURN
-d 10.244.0.1 -j DROP
-d 10.244.0.0/24 -j RETURN
-d 10.0.0.0/24 -j RETURN
-j DROP`
	tests := []struct {
		name string
		n    Network
		f    family
		want string
	}{
		{"IPv4", DefaultNetwork, ipv4, v4},
		{"IPv4 of a dual-stack node", DualStackNetwork, ipv4, v4},
		{"IPv6 of an IPv4-only node: nothing passes", DefaultNetwork, ipv6, "-j DROP"},
		{"IPv6 of a dual-stack node", DualStackNetwork, ipv6, `-d fe80::/10 -p ipv6-icmp -j RETURN
-d ff02::/16 -p ipv6-icmp -j RETURN
-d fd00:10:244::1 -p tcp --syn -j DROP
-d fd00:10:244::1 -p tcp -j RETURN
-d fd00:10:244::1 -p ipv6-icmp -j RETURN
-d fd00:10:244::1 -j DROP
-d fd00:10:244::/64 -j RETURN
-d fd00:10:96::/112 -j RETURN
-j DROP`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, render(guardRules(tt.n, tt.f)))
		})
	}
}

// TestNetworkCommands: the guard goes into both families whatever the
// plan, and only a dual-stack node gets an IPv6 address.
func TestNetworkCommands(t *testing.T) {
	for _, tt := range []struct {
		n        Network
		wantAddr bool
	}{{DefaultNetwork, false}, {DualStackNetwork, true}} {
		var hooks []string
		hasV6Addr := false
		for _, c := range networkCommands(tt.n) {
			line := strings.Join(c, " ")
			if strings.Contains(line, "-I PREROUTING") {
				hooks = append(hooks, line)
			}
			hasV6Addr = hasV6Addr || strings.HasPrefix(line, "ip -6 addr add fd00:10:244::1/64 dev decco0 nodad")
		}
		assert.Equal(t, []string{
			"iptables -t raw -I PREROUTING -i decco0 -j DECCO-NODE-GUARD",
			"ip6tables -t raw -I PREROUTING -i decco0 -j DECCO-NODE-GUARD",
		}, hooks)
		assert.Equal(t, tt.wantAddr, hasV6Addr)
	}
}

// TestCNIConfig: host-local gets a range per family, each with its
// gateway, and a default route per family.
func TestCNIConfig(t *testing.T) {
	type conf struct {
		Plugins []struct {
			Type string
			IPAM struct {
				Ranges [][]struct{ Subnet, Gateway string }
				Routes []struct{ Dst string }
			}
		}
	}
	for _, tt := range []struct {
		n                  Network
		subnets, gws, dsts []string
	}{
		{DefaultNetwork, []string{"10.244.0.0/24"}, []string{"10.244.0.1"}, []string{"0.0.0.0/0"}},
		{DualStackNetwork, []string{"10.244.0.0/24", "fd00:10:244::/64"}, []string{"10.244.0.1", "fd00:10:244::1"}, []string{"0.0.0.0/0", "::/0"}},
	} {
		var c conf
		require.NoError(t, json.Unmarshal(render(cniTemplate, paths{Dir: "/d", NodeIP: tt.n.NodeIP().String(), Network: tt.n}), &c))
		require.Len(t, c.Plugins, 1, "the bridge alone: decco's installer chains decco-cni")
		var subnets, gws, dsts []string
		for _, r := range c.Plugins[0].IPAM.Ranges {
			require.Len(t, r, 1)
			subnets, gws = append(subnets, r[0].Subnet), append(gws, r[0].Gateway)
		}
		for _, r := range c.Plugins[0].IPAM.Routes {
			dsts = append(dsts, r.Dst)
		}
		assert.Equal(t, tt.subnets, subnets)
		assert.Equal(t, tt.gws, gws)
		assert.Equal(t, tt.dsts, dsts)
	}
}

package netpol_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/space"
)

func TestParseDNSPeer(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    netpol.DNSPeer
		wantErr string
	}{
		{"", netpol.DefaultDNSPeer, ""},
		{"kube-system/k8s-app=kube-dns", netpol.DefaultDNSPeer, ""},
		{"dns/app=coredns,tier=node", netpol.DNSPeer{Namespace: "dns", Pods: map[string]string{"app": "coredns", "tier": "node"}}, ""},
		{"169.254.20.10/32", netpol.DNSPeer{CIDRs: []string{"169.254.20.10/32"}}, ""},
		{"10.96.0.10/32, 169.254.20.10/32,10.96.0.10/32", netpol.DNSPeer{CIDRs: []string{"10.96.0.10/32", "169.254.20.10/32"}}, ""},
		{"fd00::a/128", netpol.DNSPeer{CIDRs: []string{"fd00::a/128"}}, ""},
		{"192.0.2.7/24", netpol.DNSPeer{CIDRs: []string{"192.0.2.0/24"}}, ""},
		{"Kube_System/k8s-app=kube-dns", netpol.DNSPeer{}, "namespace"},
		{"kube-system/", netpol.DNSPeer{}, "pod labels"},
		{"169.254.20.10", netpol.DNSPeer{}, "want <namespace>/<label>=<value>"},
	} {
		got, err := netpol.ParseDNSPeer(tc.in)
		if tc.wantErr != "" {
			assert.ErrorContains(t, err, tc.wantErr, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
}

// The declared egress lets DNS go to the configured peer: the cluster DNS
// pods by default, NodeLocal DNSCache's address when told.
func TestEgressDNSPeer(t *testing.T) {
	sp := space.Space{Name: "shop", Domain: "example.com", EgressDeclared: true}
	dnsRule := func(in netpol.Input) networkingv1.NetworkPolicyEgressRule {
		for _, p := range netpol.Policies(in) {
			if p.Name == netpol.EgressPolicy {
				return p.Spec.Egress[0]
			}
		}
		t.Fatal("no egress policy")
		return networkingv1.NetworkPolicyEgressRule{}
	}
	def := dnsRule(netpol.Input{Space: sp})
	require.Len(t, def.To, 1)
	assert.Equal(t, map[string]string{netpol.ClusterDNSLabel: netpol.ClusterDNSValue}, def.To[0].PodSelector.MatchLabels)
	assert.Equal(t, []string{netpol.ClusterDNSNamespace}, def.To[0].NamespaceSelector.MatchExpressions[0].Values)
	require.Len(t, def.Ports, 2)

	local, err := netpol.ParseDNSPeer("169.254.20.10/32")
	require.NoError(t, err)
	nl := dnsRule(netpol.Input{Space: sp, DNS: local})
	assert.Equal(t, []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "169.254.20.10/32"}}}, nl.To)
	assert.Equal(t, def.Ports, nl.Ports, "port 53 over UDP and TCP either way")
}

package endpoint_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/dns/endpoint"
)

// A region's endpoint of its global name carries the cluster's set
// identifier, through the real CRD, so each cluster's external-dns owns
// only its own endpoint of the name; its own name carries none.
func TestGlobalNameEndpointCarriesTheSetIdentifier(t *testing.T) {
	ctx := context.Background()
	c, _ := setup(t, "foo-east")
	p := endpoint.NewProvider(c).WithSetIdentifier("cluster-east")
	global := dns.Record{Name: "foo.example.com", Targets: []string{"192.0.2.1"}, Shared: &dns.Shared{Trust: "ca1"}}
	records := []dns.Record{{Name: "foo-east.example.com", Targets: []string{"192.0.2.1"}}, global}
	require.NoError(t, p.Ensure(ctx, "foo-east", records))
	got := get(t, c, "foo-east")
	require.NotNil(t, got)
	assert.Equal(t, []endpoint.Endpoint{
		{DNSName: "foo-east.example.com", RecordType: "A", Targets: []string{"192.0.2.1"}},
		{DNSName: "foo.example.com", RecordType: "A", Targets: []string{"192.0.2.1"}, SetIdentifier: "cluster-east"},
	}, got.Spec.Endpoints, "the apiserver kept setIdentifier: the mirror type matches the CRD")
	assert.Equal(t, []dns.SharedState{{Name: "foo.example.com", Published: true, Unknown: true}}, p.SharedStates("foo-east"))

	// Not ready: the address stays (this cluster can't see the others),
	// and the state says so.
	global.Shared = &dns.Shared{Trust: "ca1", Standby: true}
	require.NoError(t, p.Ensure(ctx, "foo-east", []dns.Record{records[0], global}))
	assert.Equal(t, []dns.SharedState{{Name: "foo.example.com", Published: true, KeptAsLast: true, Unknown: true}}, p.SharedStates("foo-east"))
	assert.Len(t, get(t, c, "foo-east").Spec.Endpoints, 2)
}

// Without a set identifier two clusters' external-dns would fight over
// the name: the provider refuses, naming the flag.
func TestGlobalNameWithoutSetIdentifierIsRefused(t *testing.T) {
	c, p := setup(t, "foo-west")
	err := p.Ensure(context.Background(), "foo-west", []dns.Record{{Name: "foo.example.com", Targets: []string{"192.0.2.2"}, Shared: &dns.Shared{Trust: "ca1"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--dns-owner-id")
	assert.Nil(t, get(t, c, "foo-west"))
}

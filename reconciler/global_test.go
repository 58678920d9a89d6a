package reconciler

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

var east = space.Space{Name: "foo-east", Domain: "platform9.net", GlobalName: "foo.platform9.net", CASecretRef: "foo-ca", EncryptHTTP: true}

func slice(svc string, ready ...bool) discoveryv1.EndpointSlice {
	sl := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{discoveryv1.LabelServiceName: svc}}}
	for _, r := range ready {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Conditions: discoveryv1.EndpointConditions{Ready: &r}})
	}
	return sl
}

func TestRegionReady(t *testing.T) {
	up := space.Condition{Ready: true, Reason: "Applied"}
	web := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	db := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"}}
	for _, tc := range []struct {
		name        string
		pki, routes space.Condition
		routed      []corev1.Service
		slices      []discoveryv1.EndpointSlice
		ready       bool
		why         string
	}{
		{"every Service has a ready pod", up, up, []corev1.Service{web, db}, []discoveryv1.EndpointSlice{slice("web", false, true), slice("db", true)}, true, ""},
		{"an endpoint without a ready condition counts as ready", up, up, []corev1.Service{web}, []discoveryv1.EndpointSlice{{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}, Endpoints: []discoveryv1.Endpoint{{}}}}, true, ""},
		{"PKI broken", space.Condition{Reason: "Issuing"}, up, []corev1.Service{web}, []discoveryv1.EndpointSlice{slice("web", true)}, false, "pki Issuing"},
		{"routes refused", up, space.Condition{Reason: route.ReasonHostnameTaken}, []corev1.Service{web}, nil, false, "routes HostnameTaken"},
		{"nothing routed", up, up, nil, nil, false, "no Service of the space is routed"},
		{"pods gone", up, up, []corev1.Service{web, db}, []discoveryv1.EndpointSlice{slice("web", false), slice("db", true)}, false, "no ready pod behind Service web"},
		{"no slice at all", up, up, []corev1.Service{web}, []discoveryv1.EndpointSlice{slice("db", true)}, false, "no ready pod behind Service web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready, why := regionReady(tc.pki, tc.routes, tc.routed, tc.slices)
			assert.Equal(t, tc.ready, ready)
			assert.Equal(t, tc.why, why)
		})
	}
}

// The cache keeps one addressless ready endpoint, or none: enough for
// regionReady, and equal across churn that changes no readiness.
func TestSliceSummary(t *testing.T) {
	for _, tc := range []struct {
		in   discoveryv1.EndpointSlice
		want int
	}{{slice("web", false, true, true), 1}, {slice("web", false), 0}, {slice("web"), 0}} {
		tc.in.Endpoints = append(tc.in.Endpoints[:0:0], tc.in.Endpoints...)
		for i := range tc.in.Endpoints {
			tc.in.Endpoints[i].Addresses = []string{"10.0.0.1"}
		}
		out, err := sliceSummary(&tc.in)
		require.NoError(t, err)
		sl := out.(*discoveryv1.EndpointSlice)
		require.Len(t, sl.Endpoints, tc.want)
		for _, ep := range sl.Endpoints {
			assert.Empty(t, ep.Addresses)
		}
		assert.Equal(t, tc.want == 1, hasReadyEndpoint("web", []discoveryv1.EndpointSlice{*sl}))
	}
}

func TestGlobalRecord(t *testing.T) {
	rec := globalRecord(east, []string{"192.0.2.1", "2001:db8::1"}, "ab", true, 60)
	require.NotNil(t, rec)
	assert.Equal(t, dns.Record{Name: "foo.platform9.net", Targets: []string{"192.0.2.1", "2001:db8::1"}, TTL: 60, Shared: &dns.Shared{Trust: "ab"}}, *rec)
	assert.True(t, globalRecord(east, []string{"192.0.2.1"}, "ab", false, 0).Shared.Standby, "an unready region is on standby")
	assert.Nil(t, globalRecord(east, []string{"lb.example.net"}, "ab", true, 0), "a hostname can't be shared")
	assert.Equal(t, &dns.Shared{Standby: true}, globalRecord(east, []string{"192.0.2.1"}, "", false, 0).Shared, "CA unknown for now: the provider keeps the trust on record")
	assert.Nil(t, globalRecord(space.Space{Name: "x", Domain: "example.com"}, []string{"192.0.2.1"}, "ab", true, 0))
}

func TestGlobalDNSCondition(t *testing.T) {
	published := space.Condition{Ready: true, Reason: ReasonPublished, Message: "1 record(s) pointing at 192.0.2.1"}
	for _, tc := range []struct {
		name    string
		c       space.Condition
		trust   string
		ready   bool
		states  []dns.SharedState
		reason  string
		isReady bool
		msg     string
	}{
		{"ready, beside another region", published, "ab", true,
			[]dns.SharedState{{Name: "foo.platform9.net", Published: true, Others: []string{"west/foo-west"}}},
			ReasonPublished, true, "this region's address is at foo.platform9.net (other regions publishing it: west/foo-west)"},
		{"unready, withdrawn", published, "ab", false,
			[]dns.SharedState{{Name: "foo.platform9.net", Others: []string{"west/foo-west"}}},
			ReasonRegionWithdrawn, false, "withdrawn from foo.platform9.net while the space is not ready (no ready pod behind Service web); other regions publishing it: west/foo-west"},
		{"unready, the last address", published, "ab", false,
			[]dns.SharedState{{Name: "foo.platform9.net", Published: true, KeptAsLast: true}},
			ReasonLastRegion, false, "stays at foo.platform9.net: no other region publishes it"},
		{"unready, others unseen (DNSEndpoint)", published, "ab", false,
			[]dns.SharedState{{Name: "foo.platform9.net", Published: true, KeptAsLast: true, Unknown: true}},
			ReasonLastRegion, false, "can't see other regions"},
		{"no CA yet", published, "", true, nil, ReasonNoTrust, false, "CA is not issued yet"},
		{"CA gone with the PKI: withdrawn like any unready region", published, "", false,
			[]dns.SharedState{{Name: "foo.platform9.net", Others: []string{"west/foo-west"}}},
			ReasonRegionWithdrawn, false, "withdrawn from foo.platform9.net"},
		{"CA being reissued, still published as the last", published, "", false,
			[]dns.SharedState{{Name: "foo.platform9.net", Published: true, KeptAsLast: true}},
			ReasonLastRegion, false, "stays at foo.platform9.net"},
		{"DNS itself failing says so first", space.Condition{Reason: ReasonDNSFailed, Message: "boom"}, "ab", false, nil, ReasonDNSFailed, false, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := globalDNSCondition(tc.c, east, tc.trust, tc.ready, "no ready pod behind Service web", tc.states)
			assert.Equal(t, tc.reason, c.Reason)
			assert.Equal(t, tc.isReady, c.Ready)
			assert.Contains(t, c.Message, tc.msg)
		})
	}
}

// The fingerprint is the CA's public key's: a renewed CA certificate
// with the same key (cert-manager keeps a CA's key) keeps it, another CA
// does not.
func TestTrustOf(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := func(k *ecdsa.PrivateKey, serial int64) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "foo CA"}, IsCA: true,
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	fp := trustOf(ca(key, 1))
	assert.Len(t, fp, 32)
	assert.Equal(t, fp, trustOf(ca(key, 2)))
	assert.NotEqual(t, fp, trustOf(ca(other, 1)))
	assert.Empty(t, trustOf(nil))
	assert.Empty(t, trustOf([]byte("-----BEGIN CERTIFICATE-----\n")))
}

// Within a cluster a global name is a hostname like any other: the
// first space to claim it is the region, a second one is refused.
func TestDecideGlobalNameClaim(t *testing.T) {
	in := input(east, service("foo-east", "web", "/", 0))
	in.Peers[0].Hosts = hostnames(east, in.Services)
	want := decide(in, options(route.ModeGatewayAPI))
	assert.True(t, want.GlobalHeld)
	assert.Contains(t, want.Claims, "foo.platform9.net")
	assert.Empty(t, want.Conflicts)

	second := east
	second.Name = "foo-east2"
	in = input(second, service("foo-east2", "web", "/", 0))
	in.Peers[0].Hosts = hostnames(second, in.Services)
	in.Peers = append(in.Peers, Peer{Name: "foo-east", Created: t0.Add(time.Hour), Held: space.Claims{"foo.platform9.net": t0}})
	want = decide(in, options(route.ModeGatewayAPI))
	assert.False(t, want.GlobalHeld)
	assert.NotContains(t, want.Claims, "foo.platform9.net")
	require.Len(t, want.Conflicts, 1)
	assert.Contains(t, want.Conflicts[0].Message, `the global name "foo.platform9.net" already belongs to space "foo-east"`)
}

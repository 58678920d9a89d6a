package reconciler

import (
	"fmt"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// Every Secret a Certificate of decco's writes has one of the fixed names
// an installation grants by name: a builder writing elsewhere would need
// a wider grant, and its Secret would never be cleaned up.
func TestCertificatesWriteOnlyOwnSecretNames(t *testing.T) {
	for _, sp := range []space.Space{
		{Name: "shop", Domain: "example.com"},
		{Name: "shop", Domain: "example.com", TCPCertSecret: "mine"},
		{Name: "shop", Domain: "example.com", HTTPCertSecret: "mine-http"},
	} {
		for _, obj := range decide(input(sp), options(route.ModeGatewayAPI)).Objects {
			if c, ok := obj.(*certmanagerv1.Certificate); ok {
				assert.Contains(t, OwnSecretNames(), c.Spec.SecretName, "Certificate %s", c.Name)
			}
		}
	}
}

// Which of decco's Secrets a space may lose: those no desired Certificate
// writes, but never one the space names as its own.
func TestOrphanCandidates(t *testing.T) {
	all := OwnSecretNames()
	for _, tc := range []struct {
		name string
		sp   space.Space
		want []string
	}{
		{"decco issues everything", space.Space{Name: "shop", Domain: "example.com"}, []string{}},
		{"own TCP certificate: no CA, no workload Secret", space.Space{Name: "shop", Domain: "example.com", TCPCertSecret: "mine"},
			[]string{space.CASecretName, space.DefaultWorkloadCertSecret}},
		{"own HTTP certificate", space.Space{Name: "shop", Domain: "example.com", HTTPCertSecret: "mine"},
			[]string{space.DefaultHTTPCertSecret}},
		{"a tenant's Secret under decco's name is kept", space.Space{Name: "shop", Domain: "example.com",
			TCPCertSecret: space.DefaultWorkloadCertSecret, HTTPCertSecret: space.DefaultHTTPCertSecret},
			[]string{space.CASecretName}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desired := decide(input(tc.sp), options(route.ModeGatewayAPI)).Objects
			assert.Equal(t, tc.want, orphanCandidates(keptSecrets(desired, tc.sp)))
		})
	}
	assert.Equal(t, all, orphanCandidates(nil), "cleanup looks at every name")
}

// The memo answers only for the Certificate resourceVersion it was
// filled at, and forgets a namespace as a whole.
func TestSecretMemo(t *testing.T) {
	m := newSecretMemo()
	ca := types.NamespacedName{Namespace: "shop", Name: space.CASecretName}
	other := types.NamespacedName{Namespace: "bar", Name: space.CASecretName}
	m.put(ca, "7", secretFacts{found: true, caCrt: []byte("pem")})
	m.put(other, "", secretFacts{})
	f, ok := m.get(ca, "7")
	assert.True(t, ok)
	assert.Equal(t, []byte("pem"), f.caCrt)
	_, ok = m.get(ca, "8")
	assert.False(t, ok, "the Certificate moved: read again")
	m.forget("shop")
	_, ok = m.get(ca, "7")
	assert.False(t, ok)
	_, ok = m.get(other, "")
	assert.True(t, ok, "other namespaces are kept")
}

func TestWriterOf(t *testing.T) {
	c := certificate(pki.CACertificateName, true)
	c.Spec.SecretName = space.CASecretName
	c.ResourceVersion = "42"
	have := owned{objects: map[objKey]client.Object{
		{"Certificate", pki.CACertificateName}: c,
		{"ConfigMap", space.CASecretName}:      &corev1.ConfigMap{},
	}}
	assert.Equal(t, "42", writerRV(have, space.CASecretName))
	assert.Empty(t, writerRV(have, space.DefaultHTTPCertSecret))
}

// Each route mode watches, caches and cleans up its own route kinds only,
// so an installation grants the other mode's nothing; Secrets are never
// cached.
func TestKindsFollowTheRouteMode(t *testing.T) {
	names := func(mode route.Mode) []string {
		var out []string
		for _, k := range activeKinds(options(mode)) {
			out = append(out, k.name)
		}
		return out
	}
	gw, perSpace, ing := names(route.ModeGatewayAPI), names(route.ModeGatewayPerSpace), names(route.ModeIngress)
	assert.Contains(t, gw, "HTTPRoute")
	assert.NotContains(t, gw, "Ingress")
	assert.NotContains(t, gw, "Gateway", "the shared Gateway is the platform's, never decco's to prune")
	assert.Contains(t, ing, "Ingress")
	for _, k := range []string{"ListenerSet", "Gateway", "BackendTLSPolicy", "HTTPRoute", "TLSRoute"} {
		assert.NotContains(t, ing, k)
	}
	assert.Subset(t, perSpace, []string{"Gateway", "BackendTLSPolicy", "HTTPRoute", "TLSRoute"})
	assert.NotContains(t, perSpace, "ListenerSet")
	for _, mode := range []route.Mode{route.ModeGatewayAPI, route.ModeGatewayPerSpace, route.ModeIngress} {
		o := options(mode)
		cached := map[string]bool{}
		for obj := range CacheByObject(o) {
			cached[typeName(obj)] = true
		}
		assert.False(t, cached["*v1.Secret"], "%s mode caches Secrets", mode)
		assert.Equal(t, mode == route.ModeIngress, cached["*v1.Ingress"], "%s mode caches Ingresses", mode)
		assert.Equal(t, mode.GatewayAPI(), cached["*v1.HTTPRoute"], "%s mode caches HTTPRoutes", mode)
		var watchedNames []string
		for _, w := range watched(o) {
			watchedNames = append(watchedNames, w.name)
		}
		assert.Subset(t, watchedNames, names(mode), "the cache watch follows every kind the controller watches")
	}
}

func typeName(obj client.Object) string { return fmt.Sprintf("%T", obj) }

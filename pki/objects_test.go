package pki_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/space"
)

var shop = space.Space{Name: "shop", Domain: "example.com"}

func with(sp space.Space, f func(*space.Space)) space.Space { f(&sp); return sp }

func ref(kind, name string) cmmeta.IssuerReference {
	return cmmeta.IssuerReference{Kind: kind, Name: name, Group: "cert-manager.io"}
}

// summary is "Kind/name->issuer" for each object, in order: the shape of
// the PKI at a glance.
func summary(objs []client.Object) []string {
	var out []string
	for _, o := range objs {
		switch o := o.(type) {
		case *cmapi.Issuer:
			kind := "ca"
			if o.Spec.SelfSigned != nil {
				kind = "selfsigned"
			}
			out = append(out, fmt.Sprintf("Issuer/%s(%s)", o.Name, kind))
		case *cmapi.Certificate:
			out = append(out, fmt.Sprintf("Certificate/%s->%s/%s", o.Name, o.Spec.IssuerRef.Kind, o.Spec.IssuerRef.Name))
		default:
			out = append(out, fmt.Sprintf("%T/%s", o, o.GetName()))
		}
	}
	return out
}

func TestObjectsShape(t *testing.T) {
	clusterRoot := space.IssuerRef{Kind: space.KindClusterIssuer, Name: "root"}
	acme := space.IssuerRef{Kind: space.KindClusterIssuer, Name: "letsencrypt"}
	tests := []struct {
		name string
		sp   space.Space
		opts pki.Options
		want []string
	}{{
		name: "nothing configured: a self-signed CA per space, which also issues the HTTP certificate",
		sp:   shop,
		want: []string{
			"Issuer/decco-selfsigned(selfsigned)",
			"Certificate/decco-ca->Issuer/decco-selfsigned",
			"Issuer/decco-ca(ca)",
			"Certificate/decco-workload->Issuer/decco-ca",
			"Certificate/decco-http->Issuer/decco-ca",
		},
	}, {
		name: "installation default issues the CA",
		sp:   shop,
		opts: pki.Options{DefaultIssuer: clusterRoot},
		want: []string{
			"Certificate/decco-ca->ClusterIssuer/root",
			"Issuer/decco-ca(ca)",
			"Certificate/decco-workload->Issuer/decco-ca",
			"Certificate/decco-http->Issuer/decco-ca",
		},
	}, {
		name: "the space's decco.io/issuer wins over the default",
		sp:   with(shop, func(s *space.Space) { s.Issuer = space.IssuerRef{Kind: space.KindIssuer, Name: "mine"} }),
		opts: pki.Options{DefaultIssuer: clusterRoot},
		want: []string{
			"Certificate/decco-ca->Issuer/mine",
			"Issuer/decco-ca(ca)",
			"Certificate/decco-workload->Issuer/decco-ca",
			"Certificate/decco-http->Issuer/decco-ca",
		},
	}, {
		name: "an issuer without a kind is a namespaced Issuer, as in cert-manager",
		sp:   shop,
		opts: pki.Options{DefaultIssuer: space.IssuerRef{Name: "local"}},
		want: []string{
			"Certificate/decco-ca->Issuer/local",
			"Issuer/decco-ca(ca)",
			"Certificate/decco-workload->Issuer/decco-ca",
			"Certificate/decco-http->Issuer/decco-ca",
		},
	}, {
		name: "HTTPIssuer issues the gateway's certificate",
		sp:   shop,
		opts: pki.Options{HTTPIssuer: acme},
		want: []string{
			"Issuer/decco-selfsigned(selfsigned)",
			"Certificate/decco-ca->Issuer/decco-selfsigned",
			"Issuer/decco-ca(ca)",
			"Certificate/decco-workload->Issuer/decco-ca",
			"Certificate/decco-http->ClusterIssuer/letsencrypt",
		},
	}, {
		name: "bring-your-own workload Secret: no CA, no CA Issuer, no workload certificate",
		sp:   with(shop, func(s *space.Space) { s.TCPCertSecret = "my-tls" }),
		opts: pki.Options{DefaultIssuer: clusterRoot},
		want: []string{"Certificate/decco-http->ClusterIssuer/root"},
	}, {
		name: "bring-your-own workload Secret and nothing configured: a self-signed HTTP certificate",
		sp:   with(shop, func(s *space.Space) { s.TCPCertSecret = "my-tls" }),
		want: []string{
			"Issuer/decco-selfsigned(selfsigned)",
			"Certificate/decco-http->Issuer/decco-selfsigned",
		},
	}, {
		name: "bring-your-own HTTP Secret: no HTTP certificate",
		sp:   with(shop, func(s *space.Space) { s.HTTPCertSecret = "my-https" }),
		want: []string{
			"Issuer/decco-selfsigned(selfsigned)",
			"Certificate/decco-ca->Issuer/decco-selfsigned",
			"Issuer/decco-ca(ca)",
			"Certificate/decco-workload->Issuer/decco-ca",
		},
	}, {
		name: "both brought: decco issues nothing",
		sp:   with(shop, func(s *space.Space) { s.HTTPCertSecret, s.TCPCertSecret = "my-https", "my-tls" }),
		want: nil,
	}, {
		name: "both brought, HTTPIssuer set: still nothing",
		sp:   with(shop, func(s *space.Space) { s.HTTPCertSecret, s.TCPCertSecret = "my-https", "my-tls" }),
		opts: pki.Options{HTTPIssuer: acme, DefaultIssuer: clusterRoot},
		want: nil,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, summary(pki.Objects(tt.sp, tt.opts)))
		})
	}
}

// Every object is decco's, in the space namespace, typed for apply, and
// every Secret cert-manager writes for it carries the same labels.
func TestObjectsMetadata(t *testing.T) {
	want := map[string]string{space.LabelManagedBy: space.ManagedByValue, space.LabelSpace: "shop"}
	objs := pki.Objects(shop, pki.Options{})
	require.NotEmpty(t, objs)
	for _, o := range objs {
		assert.Equal(t, "shop", o.GetNamespace(), o.GetName())
		assert.Equal(t, want, o.GetLabels(), o.GetName())
		gvk := o.GetObjectKind().GroupVersionKind()
		assert.Equal(t, "cert-manager.io/v1", gvk.GroupVersion().String(), o.GetName())
		assert.NotEmpty(t, gvk.Kind, o.GetName())
		if c, ok := o.(*cmapi.Certificate); ok {
			require.NotNil(t, c.Spec.SecretTemplate, c.Name)
			assert.Equal(t, want, c.Spec.SecretTemplate.Labels, c.Name)
		}
	}
}

func certs(objs []client.Object) map[string]*cmapi.Certificate {
	out := map[string]*cmapi.Certificate{}
	for _, o := range objs {
		if c, ok := o.(*cmapi.Certificate); ok {
			out[c.Name] = c
		}
	}
	return out
}

func TestCACertificate(t *testing.T) {
	ca := certs(pki.Objects(shop, pki.Options{ClusterDomain: "corp.internal"}))[pki.CACertificateName]
	require.NotNil(t, ca)
	s := ca.Spec
	assert.True(t, s.IsCA)
	assert.Equal(t, "shop CA", s.CommonName)
	assert.Equal(t, space.CASecretName, s.SecretName)
	assert.Equal(t, shop.CASecret(), s.SecretName)
	assert.Equal(t, &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256, RotationPolicy: cmapi.RotationPolicyNever}, s.PrivateKey,
		"the CA keeps its key on renewal so existing leaves still verify")
	assert.ElementsMatch(t, []cmapi.KeyUsage{cmapi.UsageCertSign, cmapi.UsageCRLSign, cmapi.UsageDigitalSignature}, s.Usages)
	require.NotNil(t, s.NameConstraints)
	assert.True(t, s.NameConstraints.Critical)
	assert.Equal(t, []string{"shop.example.com", "shop.svc", "shop.svc.corp.internal"}, s.NameConstraints.Permitted.DNSDomains)
	assert.Greater(t, s.Duration.Duration, s.RenewBefore.Duration)
}

func TestCACommonNameFitsX509(t *testing.T) {
	long := strings.Repeat("a", 63)
	ca := certs(pki.Objects(space.Space{Name: long, Domain: "x.io"}, pki.Options{}))[pki.CACertificateName]
	require.NotNil(t, ca)
	assert.Equal(t, long, ca.Spec.CommonName, "%q CA would pass 64 characters", long)
	assert.LessOrEqual(t, len(ca.Spec.CommonName), 64)
}

func TestWorkloadCertificate(t *testing.T) {
	w := certs(pki.Objects(shop, pki.Options{}))[pki.WorkloadCertificateName]
	require.NotNil(t, w)
	s := w.Spec
	assert.Equal(t, shop.WorkloadCertSecret(), s.SecretName)
	assert.Equal(t, ref("Issuer", pki.CAIssuerName), s.IssuerRef)
	assert.False(t, s.IsCA)
	assert.Equal(t, []string{
		"*.shop.example.com",
		"*.shop.svc",
		"*.shop.svc.cluster.local",
		"shop.example.com",
	}, s.DNSNames, "wildcards: the certificate does not depend on the space's Services")
	assert.ElementsMatch(t, []cmapi.KeyUsage{cmapi.UsageServerAuth, cmapi.UsageClientAuth,
		cmapi.UsageDigitalSignature, cmapi.UsageKeyEncipherment}, s.Usages)
	assert.Equal(t, &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256, RotationPolicy: cmapi.RotationPolicyAlways}, s.PrivateKey)
	assert.Greater(t, s.Duration.Duration, s.RenewBefore.Duration)
}

// The workload certificate's lifetime is the installation's, renewed with
// a third of it left; the default is 90 days, renewed 30 days before.
func TestWorkloadCertificateDuration(t *testing.T) {
	for _, tc := range []struct {
		set, want, renew time.Duration
	}{
		{0, 90 * 24 * time.Hour, 30 * 24 * time.Hour},
		{time.Hour, time.Hour, 20 * time.Minute},
		{30 * 24 * time.Hour, 30 * 24 * time.Hour, 10 * 24 * time.Hour},
	} {
		w := certs(pki.Objects(shop, pki.Options{WorkloadCertDuration: tc.set}))[pki.WorkloadCertificateName]
		require.NotNil(t, w)
		assert.Equal(t, tc.want, w.Spec.Duration.Duration, "set %s", tc.set)
		assert.Equal(t, tc.renew, w.Spec.RenewBefore.Duration, "set %s", tc.set)
		h := certs(pki.Objects(shop, pki.Options{WorkloadCertDuration: tc.set}))[pki.HTTPCertificateName]
		assert.Equal(t, 90*24*time.Hour, h.Spec.Duration.Duration, "the gateway's certificate keeps its lifetime")
	}
	for d, ok := range map[time.Duration]bool{0: true, time.Hour: true, 90 * 24 * time.Hour: true, 59 * time.Minute: false, 91 * 24 * time.Hour: false} {
		assert.Equal(t, ok, pki.ValidateWorkloadCertDuration(d) == nil, "%s", d)
	}
}

func TestHTTPCertificate(t *testing.T) {
	h := certs(pki.Objects(shop, pki.Options{}))[pki.HTTPCertificateName]
	require.NotNil(t, h)
	assert.Equal(t, space.DefaultHTTPCertSecret, h.Spec.SecretName)
	assert.Equal(t, shop.HTTPTLSSecret(), h.Spec.SecretName)
	assert.Equal(t, []string{"shop.example.com"}, h.Spec.DNSNames)
	assert.Contains(t, h.Spec.Usages, cmapi.UsageServerAuth)
	assert.NotContains(t, h.Spec.Usages, cmapi.UsageClientAuth, "the gateway's certificate is not a client identity")

	region := shop
	region.GlobalName, region.CASecretRef = "shop.example.net", "shop-ca"
	h = certs(pki.Objects(region, pki.Options{}))[pki.HTTPCertificateName]
	require.NotNil(t, h)
	assert.Equal(t, []string{"shop.example.com", "shop.example.net"}, h.Spec.DNSNames, "the gateway answers the global name with it too")
}

// The space CA's name constraints admit every name decco puts on a
// certificate it signs, so constraint-checking TLS stacks accept them.
func TestNameConstraintsCoverIssuedNames(t *testing.T) {
	objs := pki.Objects(shop, pki.Options{ClusterDomain: "k.local"})
	cs := certs(objs)
	permitted := cs[pki.CACertificateName].Spec.NameConstraints.Permitted.DNSDomains
	for _, name := range []string{pki.WorkloadCertificateName, pki.HTTPCertificateName} {
		for _, dns := range cs[name].Spec.DNSNames {
			host := strings.TrimPrefix(dns, "*.")
			assert.True(t, slices.ContainsFunc(permitted, func(d string) bool {
				return host == d || strings.HasSuffix(host, "."+d)
			}), "%s: %s is outside %v", name, dns, permitted)
		}
	}
}

// Equal inputs give equal objects, so the reconciler's compare-before-write
// sees no change.
func TestObjectsDeterministic(t *testing.T) {
	assert.Equal(t, pki.Objects(shop, pki.Options{}), pki.Objects(shop, pki.Options{}))
}

// One space's objects never name another space's.
func TestObjectsStayInTheirSpace(t *testing.T) {
	other := space.Space{Name: "bank", Domain: "example.com"}
	for _, o := range pki.Objects(other, pki.Options{}) {
		assert.Equal(t, "bank", o.GetNamespace())
		if c, ok := o.(*cmapi.Certificate); ok {
			for _, n := range c.Spec.DNSNames {
				assert.NotContains(t, n, "shop", c.Name)
				assert.True(t, strings.Contains(n, "bank"), "%s: %s", c.Name, n)
			}
		}
	}
}

package pki_test

import (
	"testing"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/space"
)

// A region of a global name issues from the platform's shared CA: no CA
// of its own, a CA Issuer on the shared Secret, and a workload
// certificate that answers to the global name too.
func TestSharedCARegion(t *testing.T) {
	east := space.Space{Name: "foo-east", Domain: "platform9.net", GlobalName: "foo.platform9.net", CASecretRef: "foo-ca"}
	objs := pki.Objects(east, pki.Options{DefaultIssuer: space.IssuerRef{Kind: space.KindClusterIssuer, Name: "root"}})
	assert.Equal(t, []string{
		"Issuer/decco-ca(ca)",
		"Certificate/decco-workload->Issuer/decco-ca",
		"Certificate/decco-http->Issuer/decco-ca",
	}, summary(objs), "the installation's default issuer has no CA to issue")
	iss, ok := objs[0].(*cmapi.Issuer)
	require.True(t, ok)
	assert.Equal(t, "foo-ca", iss.Spec.CA.SecretName)
	w := certs(objs)[pki.WorkloadCertificateName]
	require.NotNil(t, w)
	assert.Equal(t, []string{
		"*.foo-east.platform9.net",
		"*.foo-east.svc",
		"*.foo-east.svc.cluster.local",
		"*.foo.platform9.net",
		"foo-east.platform9.net",
		"foo.platform9.net",
	}, w.Spec.DNSNames)
}

// A space CA of its own (a global name without a shared CA is refused by
// package space, but the builder stays consistent) permits the global
// name it signs.
func TestOwnCAPermitsGlobalName(t *testing.T) {
	sp := space.Space{Name: "foo-east", Domain: "platform9.net", GlobalName: "foo.platform9.net"}
	ca := certs(pki.Objects(sp, pki.Options{}))[pki.CACertificateName]
	require.NotNil(t, ca)
	assert.Contains(t, ca.Spec.NameConstraints.Permitted.DNSDomains, "foo.platform9.net")
}

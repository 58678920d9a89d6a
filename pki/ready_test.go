package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strconv"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/space"
)

type certOpt func(*cmapi.Certificate)

func cert(name string, opts ...certOpt) cmapi.Certificate {
	c := cmapi.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Generation: 1}}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func cond(t cmapi.CertificateConditionType, s cmmeta.ConditionStatus, reason, msg string) certOpt {
	return func(c *cmapi.Certificate) {
		c.Status.Conditions = append(c.Status.Conditions, cmapi.CertificateCondition{
			Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: c.Generation})
	}
}

var issued = cond(cmapi.CertificateConditionReady, cmmeta.ConditionTrue, "Ready", "Certificate is up to date and has not expired")

func request(certName string, rev int, conds ...cmapi.CertificateRequestCondition) cmapi.CertificateRequest {
	return cmapi.CertificateRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: certName + "-" + strconv.Itoa(rev), Annotations: map[string]string{
			cmapi.CertificateNameKey:                      certName,
			cmapi.CertificateRequestRevisionAnnotationKey: strconv.Itoa(rev),
		}},
		Status: cmapi.CertificateRequestStatus{Conditions: conds},
	}
}

func crCond(t cmapi.CertificateRequestConditionType, s cmmeta.ConditionStatus, reason, msg string) cmapi.CertificateRequestCondition {
	return cmapi.CertificateRequestCondition{Type: t, Status: s, Reason: reason, Message: msg}
}

func TestReady(t *testing.T) {
	tests := []struct {
		name     string
		certs    []cmapi.Certificate
		requests []cmapi.CertificateRequest
		want     space.Condition
	}{{
		name:  "all issued",
		certs: []cmapi.Certificate{cert("decco-ca", issued), cert("decco-workload", issued), cert("decco-http", issued)},
		want:  space.Condition{Ready: true, Reason: pki.ReasonIssued, Message: "3 certificates issued"},
	}, {
		name:  "no status yet",
		certs: []cmapi.Certificate{cert("decco-workload")},
		want:  space.Condition{Reason: pki.ReasonIssuing, Message: "Certificate shop/decco-workload: waiting for cert-manager to issue it"},
	}, {
		name: "ready for an older spec is not ready",
		certs: []cmapi.Certificate{cert("decco-workload", issued, func(c *cmapi.Certificate) { c.Generation = 2 },
			cond(cmapi.CertificateConditionIssuing, cmmeta.ConditionTrue, "Reissuing", "spec changed"))},
		want: space.Condition{Reason: pki.ReasonIssuing, Message: "Certificate shop/decco-workload: Certificate is up to date and has not expired"},
	}, {
		name: "the CA is reported before what depends on it, whatever the input order",
		certs: []cmapi.Certificate{
			cert("decco-http", cond(cmapi.CertificateConditionReady, cmmeta.ConditionFalse, "DoesNotExist", "Issuing certificate as Secret does not exist")),
			cert("decco-ca", cond(cmapi.CertificateConditionReady, cmmeta.ConditionFalse, "DoesNotExist", "Issuing certificate as Secret does not exist")),
		},
		requests: []cmapi.CertificateRequest{
			request("decco-ca", 1, crCond(cmapi.CertificateRequestConditionReady, cmmeta.ConditionFalse, cmapi.CertificateRequestReasonPending,
				`Referenced "ClusterIssuer" not found: clusterissuer.cert-manager.io "root" not found`)),
		},
		want: space.Condition{Reason: pki.ReasonIssuerNotReady,
			Message: `Certificate shop/decco-ca: request decco-ca-1 pending: Referenced "ClusterIssuer" not found: clusterissuer.cert-manager.io "root" not found (check spec.issuerRef, decco.io/issuer or the installation's default issuer)`},
	}, {
		name:  "the latest request explains, not an older one",
		certs: []cmapi.Certificate{cert("decco-workload", cond(cmapi.CertificateConditionReady, cmmeta.ConditionFalse, "Expired", "expired"))},
		requests: []cmapi.CertificateRequest{
			request("decco-workload", 1, crCond(cmapi.CertificateRequestConditionReady, cmmeta.ConditionTrue, cmapi.CertificateRequestReasonIssued, "")),
			request("decco-workload", 2, crCond(cmapi.CertificateRequestConditionReady, cmmeta.ConditionFalse, cmapi.CertificateRequestReasonFailed, "Error signing certificate")),
			request("decco-other", 9, crCond(cmapi.CertificateRequestConditionDenied, cmmeta.ConditionTrue, "Denied", "no")),
		},
		want: space.Condition{Reason: pki.ReasonIssuanceFailed, Message: "Certificate shop/decco-workload: request decco-workload-2 failed: Error signing certificate"},
	}, {
		name:  "denied",
		certs: []cmapi.Certificate{cert("decco-ca")},
		requests: []cmapi.CertificateRequest{request("decco-ca", 1,
			crCond(cmapi.CertificateRequestConditionDenied, cmmeta.ConditionTrue, "Denied", "policy forbids isCA"),
			crCond(cmapi.CertificateRequestConditionReady, cmmeta.ConditionFalse, cmapi.CertificateRequestReasonDenied, "denied"))},
		want: space.Condition{Reason: pki.ReasonRequestDenied, Message: "Certificate shop/decco-ca: request decco-ca-1 denied: policy forbids isCA"},
	}, {
		name: "issuing failed, backing off",
		certs: []cmapi.Certificate{cert("decco-ca",
			cond(cmapi.CertificateConditionIssuing, cmmeta.ConditionFalse, "Failed", "The certificate request has failed to complete and will be retried"))},
		want: space.Condition{Reason: pki.ReasonIssuanceFailed, Message: "Certificate shop/decco-ca: The certificate request has failed to complete and will be retried"},
	}, {
		name: "nothing to issue (both Secrets brought)",
		want: space.Condition{Ready: true, Reason: pki.ReasonIssued, Message: "0 certificates issued"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, pki.Ready(tt.certs, tt.requests...))
		})
	}
}

// newCert signs a CA certificate for cn with parent (self-signed when nil).
func newCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func caSecret(crt []byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "decco-ca"},
		Data: map[string][]byte{corev1.TLSCertKey: crt}}
}

func TestCheckCA(t *testing.T) {
	root, rootKey, rootPEM := newCert(t, "shared root", nil, nil)
	_, _, intermediatePEM := newCert(t, "shop CA", root, rootKey)

	assert.NoError(t, pki.CheckCA(nil), "not issued yet")
	assert.NoError(t, pki.CheckCA(caSecret(nil)), "not issued yet")
	assert.NoError(t, pki.CheckCA(caSecret(rootPEM)))

	err := pki.CheckCA(caSecret(intermediatePEM))
	require.ErrorIs(t, err, pki.ErrCANotSelfSigned)
	assert.Contains(t, err.Error(), "shared root", "names the issuer")
	assert.Contains(t, err.Error(), "decco.io/issuer", "says how to fix it")

	assert.Error(t, pki.CheckCA(caSecret([]byte("not pem"))))
}

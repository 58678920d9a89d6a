package deccotest

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/decco-dev/decco/test/testkit"
)

// CASecret is the platform's copy of a customer's CA in namespace ns, as
// decco.io/ca-secret names it and cert-manager's CA issuer reads it: a
// kubernetes.io/tls Secret with the CA's certificate and PKCS #8 key.
func CASecret(ns, name string, ca *testkit.CA) (*corev1.Secret, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return nil, fmt.Errorf("encoding the key of CA %s: %w", ca.Cert.Subject.CommonName, err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       ca.PEM,
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		},
	}, nil
}

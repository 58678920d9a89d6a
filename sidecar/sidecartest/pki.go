// Package sidecartest holds test helpers for the TLS sidecar: a per-space
// PKI as cert-manager would issue it, a cert dir in kubelet's atomic-writer
// layout, and helpers to build and run the real decco-sidecar binary
// against Debian's stunnel4. Everything listens on loopback only.
package sidecartest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// KeyAlgorithm is the key type of a CA and of the leaves it issues.
type KeyAlgorithm string

// Key types cert-manager can issue.
const (
	ECDSAP256 KeyAlgorithm = "ECDSA P-256"
	Ed25519   KeyAlgorithm = "Ed25519"
)

// CA is one space's certificate authority.
type CA struct {
	Space string
	Alg   KeyAlgorithm
	Cert  *x509.Certificate
	Key   crypto.Signer
	PEM   []byte
	Pool  *x509.CertPool
}

// Leaf is an issued certificate with its key, PEM-encoded as in a Secret.
type Leaf struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
	TLS     tls.Certificate
}

// SpaceNames are the DNS names cert-manager issues for a space's workloads
// in these tests: the wildcard and the apex of <space>.example.com.
func SpaceNames(space string) []string {
	return []string{"*." + space + ".example.com", space + ".example.com"}
}

// NewCA makes a self-signed ECDSA P-256 CA for space.
func NewCA(t testing.TB, space string) *CA { return NewCAWith(t, space, ECDSAP256) }

// NewCAWith makes a self-signed CA for space whose keys, and those of the
// leaves it issues, are of type alg.
func NewCAWith(t testing.TB, space string, alg KeyAlgorithm) *CA {
	t.Helper()
	key := newKey(t, alg)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: space + " space CA", Organization: []string{"decco"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse CA certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Space: space, Alg: alg, Cert: cert, Key: key, PEM: pemCert(der), Pool: pool}
}

// Issue signs a leaf of the CA's key type for names with server and client usage,
// the way a cert-manager Certificate with usages [server auth, client auth]
// comes out: the first name as CommonName, all names as DNS SANs.
func (ca *CA) Issue(t testing.TB, names ...string) Leaf {
	t.Helper()
	key := newKey(t, ca.Alg)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("issue certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	l := Leaf{Cert: cert, CertPEM: pemCert(der),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
	l.TLS, err = tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	if err != nil {
		t.Fatalf("load key pair: %v", err)
	}
	return l
}

// ClientTLS is a client config that presents leaf (if non-nil), trusts
// only ca and expects serverName.
func (ca *CA) ClientTLS(leaf *Leaf, serverName string) *tls.Config {
	cfg := &tls.Config{RootCAs: ca.Pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if leaf != nil {
		cfg.Certificates = []tls.Certificate{leaf.TLS}
	}
	return cfg
}

// ServerTLS is a server config that presents leaf and requires a client
// certificate signed by ca.
func (ca *CA) ServerTLS(leaf Leaf) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, ClientCAs: ca.Pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
}

func newKey(t testing.TB, alg KeyAlgorithm) crypto.Signer {
	var key crypto.Signer
	var err error
	switch alg {
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatalf("generate %s key: %v", alg, err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("serial: %v", err)
	}
	return n
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

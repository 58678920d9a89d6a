package regions

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/sidecar/sidecartest"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
)

// workloadSecret waits for the workload certificate cert-manager issued
// to space ns and returns it as a leaf and its ca.crt.
func workloadSecret(t *testing.T, c client.Client, ns string) (sidecartest.Leaf, []byte) {
	t.Helper()
	var s corev1.Secret
	deccotest.WaitFor(t, 2*time.Minute, "the workload certificate of "+ns, func() error {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: space.DefaultWorkloadCertSecret}, &s); err != nil {
			return err
		}
		if len(s.Data[corev1.TLSCertKey]) == 0 || len(s.Data["ca.crt"]) == 0 {
			return fmt.Errorf("secret has keys %v", len(s.Data))
		}
		return nil
	})
	leaf := sidecartest.Leaf{CertPEM: s.Data[corev1.TLSCertKey], KeyPEM: s.Data[corev1.TLSPrivateKeyKey]}
	var err error
	leaf.TLS, err = tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	require.NoError(t, err)
	leaf.Cert, err = x509.ParseCertificate(leaf.TLS.Certificate[0])
	require.NoError(t, err)
	return leaf, s.Data["ca.crt"]
}

// certDir lays leaf and ca out as kubelet mounts the Secret.
func certDir(t *testing.T, leaf sidecartest.Leaf, ca []byte) string {
	t.Helper()
	d := sidecartest.NewCertDir(t, leaf, &sidecartest.CA{PEM: ca})
	return d.Dir
}

// roundTrip dials the listener presenting client (nil: none), trusting
// roots for serverName, and echoes one line.
func roundTrip(port int32, roots []byte, serverName string, client *sidecartest.Leaf) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	cfg := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if client != nil {
		// Always present it: Go's client would withhold a certificate the
		// server's list of acceptable CAs does not name, and the refusal
		// must be stunnel's verdict on the certificate itself.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &client.TLS, nil }
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", sidecartest.Addr(port), cfg)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "hello\n"); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if got != "hello\n" {
		return fmt.Errorf("echo %q", got)
	}
	return nil
}

// trustAcrossRegions runs foo-west's sidecar (decco-sidecar and real
// stunnel, with the certificate cert-manager issued in the west cluster)
// and connects with the certificates issued in the east cluster: foo-east's
// is accepted, another customer's space's is refused.
func trustAcrossRegions(t *testing.T, foo *sidecartest.CA) {
	sidecartest.RequireStunnel(t)
	dir, err := os.MkdirTemp("", "decco-regions-sidecar-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin, err := sidecartest.Build(dir)
	require.NoError(t, err)

	westLeaf, westCA := workloadSecret(t, west.Client, "foo-west")
	eastLeaf, eastCA := workloadSecret(t, east.Client, "foo-east")
	barLeaf, _ := workloadSecret(t, east.Client, "bar-east")
	assert.Equal(t, der(t, foo.PEM), der(t, westCA), "foo-west trusts the customer's CA")
	assert.Equal(t, der(t, westCA), der(t, eastCA), "and so does foo-east, in the other cluster")
	assert.Contains(t, westLeaf.Cert.DNSNames, globalName, "the workload certificate covers the global name")
	assert.Contains(t, westLeaf.Cert.DNSNames, "*."+globalName)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app := sidecartest.FreePort(t)
	sidecartest.EchoServer(ctx, t, app)
	cfg := sidecar.Config{CertDir: certDir(t, westLeaf, westCA), HealthPort: sidecartest.FreePort(t),
		Listeners: []sidecar.Listener{{Name: "db", Port: sidecartest.FreePort(t), AppPort: app, VerifyClient: true}}}
	p := sidecartest.Start(t, bin, cfg)
	p.WaitReady(t, 30*time.Second)
	port := cfg.Listeners[0].Port

	require.NoError(t, roundTrip(port, westCA, "db.foo-west."+zone, &eastLeaf), "foo-east's client certificate, at foo-west's own name")
	require.NoError(t, roundTrip(port, eastCA, globalName, &eastLeaf), "the same client at the global name, trusting only its own region's CA")
	err = roundTrip(port, westCA, "db.foo-west."+zone, &barLeaf)
	require.Error(t, err, "another customer's client certificate must be refused")
	t.Logf("bar-east's certificate refused: %v", err)
	deccotest.WaitFor(t, 10*time.Second, "stunnel logging the refusal", func() error {
		if !strings.Contains(p.Output(), "Rejected by CERT at depth=0") {
			return fmt.Errorf("sidecar log: %s", p.Output())
		}
		return nil
	})
	require.Error(t, roundTrip(port, westCA, "db.foo-west."+zone, nil), "no client certificate: refused")
}

// der is the first certificate of a PEM bundle.
func der(t *testing.T, pemBytes []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	require.NotNil(t, block, "no PEM in %q", pemBytes)
	return block.Bytes
}

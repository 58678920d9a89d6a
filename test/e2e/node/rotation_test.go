package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// TestRotationWithRealKubelet renews a space's workload certificate the
// way `cmctl renew` does (the Certificate's Issuing condition set by
// hand), and follows the new certificate from cert-manager to the Secret,
// from the Secret to the file kubelet mounts into the running pod, and
// from the file to what the sidecar's listener serves, read from a TLS
// handshake from the node. The sidecar must serve the new serial within
// 10 s of kubelet updating the mounted Secret, and a mutual-TLS
// connection opened before the renewal must keep carrying data after it.
func TestRotationWithRealKubelet(t *testing.T) {
	ctx := context.Background()
	ns := suite.NewSpace(t, "rotate", nil)
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "mysql", nodetest.App(ns, "mysql", nil,
		[]corev1.ContainerPort{{Name: "mysql", ContainerPort: mysqlPort}}, "tcp", fmt.Sprintf("-listen=:%d", mysqlPort)))))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Service(ns, "mysql", nodetest.ServicePort("main", mysqlPort, mysqlPort))))
	server := suite.ReadyPod(t, ns, "mysql")
	listener := net.JoinHostPort(server.Status.PodIP, strconv.Itoa(int(listenerPort(t, server, "mysql"))))
	mounted := mountedSecretFile(t, server, space.DefaultWorkloadCertSecret, "tls.crt")

	// The certificate is settled: issued for the Service too (adding it
	// reissues), mounted, and served.
	var secret corev1.Secret
	var cfg *tls.Config
	var before string
	deccotest.WaitFor(t, 60*time.Second, "the workload certificate to be issued, mounted and served", func() error {
		if err := certificateSettled(ctx, ns); err != nil {
			return err
		}
		if err := suite.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: space.DefaultWorkloadCertSecret}, &secret); err != nil {
			return err
		}
		var err error
		if cfg, err = clientTLS(&secret, ns+".example.com"); err != nil {
			return err
		}
		if before, err = pemSerial(secret.Data["tls.crt"]); err != nil {
			return err
		}
		if got, err := fileSerial(mounted); err != nil || got != before {
			return fmt.Errorf("mounted serial %s (%v), Secret's %s", got, err, before)
		}
		if got, err := servedSerial(listener, cfg); err != nil || got != before {
			return fmt.Errorf("served serial %s (%v), Secret's %s", got, err, before)
		}
		return nil
	})

	open := dialMySQL(t, listener, cfg)
	echo(t, open, "before renewal")

	renewed := time.Now()
	renew(t, ctx, ns, pki.WorkloadCertificateName)

	// One loop watches the three places the new certificate must reach,
	// recording when each first shows a new serial.
	var after string
	var inSecret, inFile, served time.Time
	deccotest.WaitFor(t, 90*time.Second, "the sidecar to serve the renewed certificate", func() error {
		now := time.Now()
		if inSecret.IsZero() {
			var s corev1.Secret
			if err := suite.Client.Get(ctx, client.ObjectKeyFromObject(&secret), &s); err != nil {
				return err
			}
			if got, err := pemSerial(s.Data["tls.crt"]); err == nil && got != before {
				after, inSecret = got, now
			}
		}
		if inFile.IsZero() {
			if got, err := fileSerial(mounted); err == nil && got != before {
				inFile = now
			}
		}
		got, err := servedSerial(listener, cfg)
		switch {
		case err != nil:
			return fmt.Errorf("handshake with the listener: %w", err)
		case got == before:
			return fmt.Errorf("still serving serial %s (Secret changed: %t, mounted file changed: %t)", before, !inSecret.IsZero(), !inFile.IsZero())
		case inSecret.IsZero() || got != after:
			return fmt.Errorf("serving serial %s, which the Secret does not hold (%s)", got, after)
		}
		served = now
		return nil
	})
	require.False(t, inFile.IsZero(), "the sidecar served the new certificate before kubelet mounted it")
	t.Logf("renewal: cert-manager wrote the Secret %s after the trigger; kubelet updated the mounted file %s later; the sidecar served serial %s %s after that (%s after the Secret changed)",
		inSecret.Sub(renewed).Round(time.Millisecond), inFile.Sub(inSecret).Round(time.Millisecond), after,
		served.Sub(inFile).Round(time.Millisecond), served.Sub(inSecret).Round(time.Millisecond))
	require.LessOrEqual(t, served.Sub(inFile), 10*time.Second, "the sidecar must serve the renewed certificate within 10 s of kubelet updating the mounted Secret")
	// kubelet rewrites a pod's Secret volumes when it syncs the pod: every
	// syncFrequency (5 s on the test node) plus up to half of it in jitter.
	require.LessOrEqual(t, inFile.Sub(inSecret), 15*time.Second, "kubelet must update the mounted Secret within its pod resync")

	echo(t, open, "after renewal")
}

// renew asks cert-manager to reissue a Certificate now, as `cmctl renew`
// does: it sets the Issuing condition, which cert-manager's trigger
// controller otherwise sets when renewal is due. (cert-manager's
// pkg/api/util has this setter, but would pull its logging and tracing
// dependencies into decco's module for one condition.)
func renew(t *testing.T, ctx context.Context, ns, name string) {
	t.Helper()
	var crt cmapi.Certificate
	require.NoError(t, suite.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &crt))
	now := metav1.Now()
	crt.Status.Conditions = append(slices.DeleteFunc(crt.Status.Conditions, func(c cmapi.CertificateCondition) bool {
		return c.Type == cmapi.CertificateConditionIssuing
	}), cmapi.CertificateCondition{
		Type: cmapi.CertificateConditionIssuing, Status: cmmeta.ConditionTrue, Reason: "ManuallyTriggered",
		Message: "Certificate re-issuance manually triggered by decco's rotation test", LastTransitionTime: &now,
		ObservedGeneration: crt.Generation,
	})
	require.NoError(t, suite.Client.Status().Update(ctx, &crt), "triggering a renewal as cmctl renew does")
}

// certificateCondition is crt's condition of type ct, or nil.
func certificateCondition(crt *cmapi.Certificate, ct cmapi.CertificateConditionType) *cmapi.CertificateCondition {
	for i := range crt.Status.Conditions {
		if crt.Status.Conditions[i].Type == ct {
			return &crt.Status.Conditions[i]
		}
	}
	return nil
}

// certificateSettled is nil once the workload Certificate is Ready, not
// being reissued, and issued for the current spec.
func certificateSettled(ctx context.Context, ns string) error {
	var crt cmapi.Certificate
	if err := suite.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pki.WorkloadCertificateName}, &crt); err != nil {
		return err
	}
	if c := certificateCondition(&crt, cmapi.CertificateConditionIssuing); c != nil && c.Status == cmmeta.ConditionTrue {
		return errors.New("the workload certificate is being issued")
	}
	ready := certificateCondition(&crt, cmapi.CertificateConditionReady)
	if ready == nil || ready.Status != cmmeta.ConditionTrue || ready.ObservedGeneration != crt.Generation {
		return fmt.Errorf("the workload certificate is not Ready for generation %d: %+v", crt.Generation, ready)
	}
	return nil
}

// listenerPort is the sidecar's TLS listener that took over the app's
// port name.
func listenerPort(t *testing.T, p *corev1.Pod, name string) int32 {
	t.Helper()
	for _, c := range p.Spec.InitContainers {
		for _, cp := range c.Ports {
			if cp.Name == name {
				return cp.ContainerPort
			}
		}
	}
	require.FailNow(t, "no listener", "pod %s has no sidecar port named %s", p.Name, name)
	return 0
}

// mountedSecretFile is where kubelet keeps file of the Secret volume
// secretName for pod p on this node.
func mountedSecretFile(t *testing.T, p *corev1.Pod, secretName, file string) string {
	t.Helper()
	for _, v := range p.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secretName {
			return filepath.Join(suite.Node.Dir, "kubelet", "pods", string(p.UID), "volumes", "kubernetes.io~secret", v.Name, file)
		}
	}
	require.FailNow(t, "no Secret volume", "pod %s mounts no Secret %s", p.Name, secretName)
	return ""
}

// clientTLS is a client of the space: its workload key pair, trusting its
// CA, expecting serverName.
func clientTLS(s *corev1.Secret, serverName string) (*tls.Config, error) {
	pair, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", s.Name, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.Data["ca.crt"]) {
		return nil, fmt.Errorf("secret %s: no CA certificate in ca.crt", s.Name)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}, nil
}

// servedSerial opens a TLS connection to addr and returns the serial of
// the certificate the server presented.
func servedSerial(addr string, cfg *tls.Config) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16), nil
}

func fileSerial(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return pemSerial(b)
}

func pemSerial(b []byte) (string, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return "", errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", err
	}
	return cert.SerialNumber.Text(16), nil
}

// mysqlConn is a mutual-TLS connection to the MySQL-style server through
// its sidecar, past the greeting.
type mysqlConn struct {
	c *tls.Conn
	r *bufio.Reader
}

func dialMySQL(t *testing.T, addr string, cfg *tls.Config) mysqlConn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	m := mysqlConn{c: c, r: bufio.NewReader(c)}
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	greeting, err := m.r.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(greeting, "greeting from "), "the server greets first, got %q", greeting)
	return m
}

// echo sends a line on m and requires it back.
func echo(t *testing.T, m mysqlConn, line string) {
	t.Helper()
	require.NoError(t, m.c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err := fmt.Fprintln(m.c, line)
	require.NoError(t, err, "writing %q on the connection opened before the renewal", line)
	got, err := m.r.ReadString('\n')
	require.NoError(t, err, "reading %q back on the connection opened before the renewal", line)
	require.Equal(t, line, strings.TrimSpace(got))
}

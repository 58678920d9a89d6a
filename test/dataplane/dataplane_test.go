package dataplane

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/sidecar/sidecartest"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/prereq"
)

// The sidecar, started with the arguments the webhook injected into a
// real Pod and the certificates cert-manager issued for its space:
// mutual TLS in, TLS out with name and CA checks, and certificate rotation
// without dropping connections.
func TestSidecarFromInjectedPod(t *testing.T) {
	cluster.Need(t)
	sidecartest.RequireStunnel(t)
	requireMountNamespaces(t)
	a, b := newSpace(t, "dp-a"), newSpace(t, "dp-b")

	ports := pickPorts(t)
	pod := injectedPod(t, a, ports)
	side := sidecarContainer(t, pod)
	t.Logf("sidecar args from the webhook: %q", side.Args)

	certs := sidecartest.NewCertDir(t, leafFromSecret(t, a.Name, a.WorkloadCertSecret()), &sidecartest.CA{PEM: caPEM(t, a.Name)})
	hosts := hostsFile(t, "egress."+a.Host(), "wrong."+a.Host(), "foreign."+b.Host())
	startSidecar(t, side.Args, certs.Dir, hosts)

	ctx := t.Context()
	sidecartest.EchoServer(ctx, t, ports.tcpApp)
	serveHTTP(t, ports.httpApp)
	aClient := issue(t, a.Name, "client", "client."+a.Host(), cmapi.UsageClientAuth)
	bClient := issue(t, b.Name, "client", "client."+b.Host(), cmapi.UsageClientAuth)
	egressServer(t, ports.egressServers[0], issue(t, a.Name, "egress", "egress."+a.Host(), cmapi.UsageServerAuth), caPool(t, a.Name))
	egressServer(t, ports.egressServers[1], issue(t, a.Name, "egress", "egress."+a.Host(), cmapi.UsageServerAuth), caPool(t, a.Name))
	egressServer(t, ports.egressServers[2], issue(t, b.Name, "foreign", "foreign."+b.Host(), cmapi.UsageServerAuth), caPool(t, b.Name))
	waitReady(t)

	tcpListener := inject.ListenerPort(ports.tcpApp)
	serverName := "mysql." + a.Host()
	trustA := caPool(t, a.Name)

	t.Run("space client certificate gets through", func(t *testing.T) {
		conn := dialTLS(t, tcpListener, &tls.Config{RootCAs: trustA, ServerName: serverName, Certificates: []tls.Certificate{aClient}})
		require.NoError(t, echo(conn, "ping"))
	})
	t.Run("no client certificate is refused", func(t *testing.T) {
		assert.Error(t, tryEcho(tcpListener, &tls.Config{RootCAs: trustA, ServerName: serverName}))
	})
	t.Run("another space's client certificate is refused", func(t *testing.T) {
		// Present it even though the server does not list B's CA.
		cfg := &tls.Config{RootCAs: trustA, ServerName: serverName,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &bClient, nil }}
		assert.Error(t, tryEcho(tcpListener, cfg))
	})
	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		cfg := &tls.Config{RootCAs: trustA, ServerName: serverName, Certificates: []tls.Certificate{aClient},
			MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
		assert.Error(t, tryEcho(tcpListener, cfg))
	})
	t.Run("HTTP port serves the app over TLS", func(t *testing.T) {
		c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trustA, ServerName: a.Host()}}}
		resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/shop", inject.ListenerPort(ports.httpApp)))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "app saw /shop", string(body))
	})
	t.Run("egress reaches a server of the same space", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", sidecartest.Addr(ports.egressLocal[0]), 5*time.Second)
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, echo(conn, "hello egress"))
	})
	t.Run("egress refuses a server with the wrong name", func(t *testing.T) {
		assert.Error(t, plainEcho(ports.egressLocal[1]))
	})
	t.Run("egress refuses a server of another space's CA", func(t *testing.T) {
		assert.Error(t, plainEcho(ports.egressLocal[2]))
	})
	t.Run("rotation: new certificate served, open connection kept", func(t *testing.T) {
		open := dialTLS(t, tcpListener, &tls.Config{RootCAs: trustA, ServerName: serverName, Certificates: []tls.Certificate{aClient}})
		require.NoError(t, echo(open, "before"))
		oldSerial := servedSerial(t, tcpListener, serverName, trustA, aClient)

		rotated := issueLeaf(t, a.Name, "rotated", "*."+a.Host(), cmapi.UsageServerAuth, cmapi.UsageClientAuth)
		certs.Write(t, rotated, caPEM(t, a.Name))
		swapped := time.Now()
		require.Eventually(t, func() bool {
			return servedSerial(t, tcpListener, serverName, trustA, aClient) != oldSerial
		}, 10*time.Second, 100*time.Millisecond, "stunnel still serves the old certificate")
		t.Logf("new certificate served %s after the swap", time.Since(swapped).Round(10*time.Millisecond))
		assert.NoError(t, echo(open, "after"), "a connection opened before the swap must keep working")
	})
}

// ports the test's servers and the pod's listeners use, all on loopback.
type testPorts struct {
	tcpApp, httpApp int32
	egressLocal     [3]int32
	egressServers   [3]int32
}

// pickPorts finds app ports whose TLS listener ports are free too.
func pickPorts(t *testing.T) testPorts {
	var p testPorts
	app := func() int32 {
		for range 100 {
			port := sidecartest.FreePort(t)
			if port <= 55535 && free(inject.ListenerPort(port)) {
				return port
			}
		}
		t.Fatal("no free app port whose listener port is free")
		return 0
	}
	p.tcpApp, p.httpApp = app(), app()
	for i := range p.egressLocal {
		p.egressLocal[i], p.egressServers[i] = sidecartest.FreePort(t), sidecartest.FreePort(t)
	}
	require.True(t, free(sidecar.HealthPort), "the sidecar's health port %d is taken on this machine", sidecar.HealthPort)
	return p
}

func free(port int32) bool {
	l, err := net.Listen("tcp", sidecartest.Addr(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// injectedPod creates a pod in the space through the apiserver (and so
// through decco's webhook) and returns it as stored.
func injectedPod(t *testing.T, sp space.Space, p testPorts) *corev1.Pod {
	egress := fmt.Sprintf("%d=egress.%s:%d,%d=wrong.%s:%d,%d=foreign.dp-b.example.com:%d",
		p.egressLocal[0], sp.Host(), p.egressServers[0],
		p.egressLocal[1], sp.Host(), p.egressServers[1],
		p.egressLocal[2], p.egressServers[2])
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: sp.Name, Name: "shop",
			Labels:      map[string]string{space.LabelSpace: sp.Name},
			Annotations: map[string]string{space.AnnotationEgress: egress}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "shop", Image: "shop",
			Ports: []corev1.ContainerPort{{Name: "mysql", ContainerPort: p.tcpApp}, {Name: "http", ContainerPort: p.httpApp}},
		}}},
	}
	require.NoError(t, cluster.Client.Create(t.Context(), pod))
	return pod
}

func sidecarContainer(t *testing.T, pod *corev1.Pod) corev1.Container {
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if c.Name == inject.SidecarName {
			return c
		}
	}
	t.Fatalf("pod %s was not injected", pod.Name)
	return corev1.Container{}
}

// startSidecar runs decco-sidecar with args unchanged. In a private mount
// namespace, the space's certificates are bind-mounted where the pod's
// volume would put them (sidecar.CertDir) and /etc/hosts maps the egress
// destinations to loopback, so not one argument needs rewriting.
func startSidecar(t *testing.T, args []string, certDir, hosts string) *exec.Cmd {
	bin, err := sidecartest.Build(t.TempDir())
	require.NoError(t, err)
	script := `mkdir -p "$3" && mount --bind "$1" "$3" && mount --bind "$2" /etc/hosts && shift 3 && exec "$@"`
	full := append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", certDir, hosts, sidecar.CertDir, bin}, args...)
	cmd := exec.Command("unshare", full...)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("sidecar output:\n%s", out.String())
		}
	})
	return cmd
}

// requireMountNamespaces applies prereq's rule to what a private
// /etc/hosts for the sidecar needs: root, util-linux's unshare, and a
// kernel and container that allow mount namespaces.
func requireMountNamespaces(t *testing.T) {
	t.Helper()
	prereq.Root(t, "a mount namespace gives the sidecar its own /etc/hosts")
	unshare := prereq.Command(t, "apt-get install util-linux", "unshare")
	if out, err := exec.Command(unshare, "--mount", "--propagation", "private", "true").CombinedOutput(); err != nil {
		prereq.Missing(t, "mount namespaces", fmt.Sprintf("allow unshare --mount (CAP_SYS_ADMIN; it said %v: %s)", err, bytes.TrimSpace(out)))
	}
}

func hostsFile(t *testing.T, names ...string) string {
	path := filepath.Join(t.TempDir(), "hosts")
	content := "127.0.0.1 localhost " + strings.Join(names, " ") + "\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func waitReady(t *testing.T) {
	url := fmt.Sprintf("http://127.0.0.1:%d%s", sidecar.HealthPort, sidecar.ReadyPath)
	var last string
	require.Eventually(t, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = string(body)
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "sidecar not ready: %s", last)
}

func serveHTTP(t *testing.T, port int32) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app saw %s", r.URL.Path)
	})}
	go srv.Serve(sidecartest.Listen(t, port))
	t.Cleanup(func() { srv.Close() })
}

// egressServer is a TLS echo server presenting cert and requiring a client
// certificate from clients.
func egressServer(t *testing.T, port int32, cert tls.Certificate, clients *x509.CertPool) {
	ln := tls.NewListener(sidecartest.Listen(t, port), &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: clients, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
}

func dialTLS(t *testing.T, port int32, cfg *tls.Config) *tls.Conn {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", sidecartest.Addr(port), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// tryEcho reports any failure to complete a TLS echo round trip: with TLS
// 1.3 a refused client certificate shows only on the first read.
func tryEcho(port int32, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", sidecartest.Addr(port), cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	return echo(conn, "ping")
}

func plainEcho(port int32) error {
	conn, err := net.DialTimeout("tcp", sidecartest.Addr(port), 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	return echo(conn, "ping")
}

func echo(conn net.Conn, msg string) error {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(conn, msg); err != nil {
		return err
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(got) != msg {
		return fmt.Errorf("echo: got %q, want %q", got, msg)
	}
	return nil
}

func servedSerial(t *testing.T, port int32, serverName string, roots *x509.CertPool, client tls.Certificate) string {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", sidecartest.Addr(port),
		&tls.Config{RootCAs: roots, ServerName: serverName, Certificates: []tls.Certificate{client}})
	if err != nil {
		return ""
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// newSpace creates a space namespace and its PKI (the reconciler's job in
// production, done here directly so this test depends on nothing else),
// and waits until cert-manager has issued its certificates.
func newSpace(t *testing.T, name string) space.Space {
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{space.LabelSpace: name}, Annotations: map[string]string{space.AnnotationDomain: "example.com"}}}
	require.NoError(t, cluster.Client.Create(ctx, ns))
	sp, err := space.FromNamespace(ns)
	require.NoError(t, err)
	for _, obj := range pki.Objects(sp, pki.Options{}) {
		if err := cluster.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err)
		}
	}
	waitSecret(t, name, sp.WorkloadCertSecret())
	return sp
}

func waitSecret(t *testing.T, ns, name string) *corev1.Secret {
	secret := &corev1.Secret{}
	require.Eventually(t, func() bool {
		return cluster.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, secret) == nil && len(secret.Data["tls.crt"]) > 0
	}, 60*time.Second, 100*time.Millisecond, "Secret %s/%s not issued; cert-manager log:\n%s", ns, name, cluster.CertManagerLog())
	return secret
}

// issue asks cert-manager for a certificate from the space's CA.
func issue(t *testing.T, ns, name, dnsName string, usages ...cmapi.KeyUsage) tls.Certificate {
	return issueLeaf(t, ns, name, dnsName, usages...).TLS
}

func issueLeaf(t *testing.T, ns, name, dnsName string, usages ...cmapi.KeyUsage) sidecartest.Leaf {
	secretName := "test-" + name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cert := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretName},
		Spec: cmapi.CertificateSpec{
			SecretName: secretName, DNSNames: []string{dnsName},
			Usages:     append(usages, cmapi.UsageDigitalSignature, cmapi.UsageKeyEncipherment),
			PrivateKey: &cmapi.CertificatePrivateKey{Algorithm: cmapi.ECDSAKeyAlgorithm, Size: 256},
			IssuerRef:  cmmeta.IssuerReference{Kind: cmapi.IssuerKind, Name: pki.CAIssuerName},
		},
	}
	require.NoError(t, cluster.Client.Create(t.Context(), cert))
	return leafFromSecret(t, ns, secretName)
}

func leafFromSecret(t *testing.T, ns, name string) sidecartest.Leaf {
	s := waitSecret(t, ns, name)
	pair, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	return sidecartest.Leaf{Cert: leaf, CertPEM: s.Data["tls.crt"], KeyPEM: s.Data["tls.key"], TLS: pair}
}

func caPEM(t *testing.T, ns string) []byte {
	return waitSecret(t, ns, space.CASecretName).Data["tls.crt"]
}

func caPool(t *testing.T, ns string) *x509.CertPool {
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM(t, ns)))
	return pool
}

package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/gateway"
	"github.com/decco-dev/decco/test/node"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// The gateway is started once, by the first test that needs it: building
// Traefik takes minutes on a cold cache.
var (
	gatewayOnce    sync.Once
	theGateway     *gateway.Gateway
	gatewayStartup error
)

func startGateway(t *testing.T) *gateway.Gateway {
	t.Helper()
	node.Require(t)
	gatewayOnce.Do(func() {
		start := time.Now()
		theGateway, gatewayStartup = gateway.Start(context.Background(), suite.Client, suite.Node, gatewayNamespace, os.Stderr)
		fmt.Fprintf(os.Stderr, "gateway: Traefik %s Ready in %s, image built and imported\n", gateway.TraefikVersion, time.Since(start).Round(100*time.Millisecond))
	})
	require.NoError(t, gatewayStartup, "starting the gateway")
	t.Cleanup(func() {
		if t.Failed() {
			dumpGateway(t)
		}
	})
	return theGateway
}

// dumpGateway logs what Traefik wrote and what it said in the statuses of
// the objects it serves.
func dumpGateway(t *testing.T) {
	ctx := context.Background()
	var pods corev1.PodList
	_ = suite.Client.List(ctx, &pods, client.InNamespace(gatewayNamespace))
	for _, p := range pods.Items {
		t.Logf("--- %s/%s:\n%s", gatewayNamespace, p.Name, suite.Node.ContainerLog(gatewayNamespace, p.Name, "traefik"))
	}
	var gws gatewayv1.GatewayList
	_ = suite.Client.List(ctx, &gws)
	for _, g := range gws.Items {
		t.Logf("Gateway %s/%s status: %+v", g.Namespace, g.Name, g.Status)
	}
	var hrs gatewayv1.HTTPRouteList
	_ = suite.Client.List(ctx, &hrs)
	for _, r := range hrs.Items {
		t.Logf("HTTPRoute %s/%s status: %+v", r.Namespace, r.Name, r.Status)
	}
}

// A tenant of the gateway tests: a space with an HTTP service at
// <space>.<domain>/shop and a MySQL-style service at db.<space>.<domain>.
type tenant struct {
	sp      space.Space
	web, db string // the pods' names
	// caPool trusts the space's CA; clientCert is a certificate of the
	// space that its TCP listeners accept.
	caPool     *x509.CertPool
	clientCert tls.Certificate
}

const shopPath = "/shop"

func newTenant(t *testing.T, prefix string) *tenant {
	t.Helper()
	return tenantIn(t, suite.NewSpace(t, prefix, nil))
}

// tenantIn runs the tenant's web and db workloads in space ns and waits
// for their pods and the space's workload certificate.
func tenantIn(t *testing.T, ns string) *tenant {
	t.Helper()
	ctx := context.Background()
	web := nodetest.App(ns, "web", nil, []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}, "http", "-listen=:8080")
	db := nodetest.App(ns, "db", nil, []corev1.ContainerPort{{Name: "mysql", ContainerPort: 3306}}, "tcp", "-listen=:3306")
	webSvc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Labels: map[string]string{space.LabelSpace: ns},
			Annotations: map[string]string{space.AnnotationHTTPPath: shopPath}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	dbSvc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db", Labels: map[string]string{space.LabelSpace: ns}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "db"},
			Ports: []corev1.ServicePort{{Name: "mysql", Port: 3306, TargetPort: intstr.FromInt32(3306)}}},
	}
	for _, obj := range []client.Object{nodetest.Deployment(ns, "web", web), nodetest.Deployment(ns, "db", db), webSvc, dbSvc} {
		require.NoError(t, suite.Client.Create(ctx, obj))
	}
	var nsObj corev1.Namespace
	require.NoError(t, suite.Client.Get(ctx, client.ObjectKey{Name: ns}, &nsObj))
	sp, err := space.FromNamespace(&nsObj)
	require.NoError(t, err)
	tn := &tenant{sp: sp, web: suite.ReadyPod(t, ns, "web").Name, db: suite.ReadyPod(t, ns, "db").Name}

	tn.caPool, tn.clientCert = workloadCert(t, sp)
	return tn
}

// workloadCert waits for space sp's workload certificate and returns a
// pool trusting the CA its sidecars trust and the certificate as a client
// certificate.
func workloadCert(t *testing.T, sp space.Space) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	var workload corev1.Secret
	deccotest.WaitFor(t, 60*time.Second, "the space's workload certificate", func() error {
		return suite.Client.Get(context.Background(), client.ObjectKey{Namespace: sp.Name, Name: sp.WorkloadCertSecret()}, &workload)
	})
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(workload.Data["ca.crt"]), "the workload Secret's ca.crt")
	cert, err := tls.X509KeyPair(workload.Data[corev1.TLSCertKey], workload.Data[corev1.TLSPrivateKeyKey])
	require.NoError(t, err)
	return pool, cert
}

// get sends GET https://<host><path> to the gateway at addr, checking the
// gateway's certificate for host against the space's CA, and returns the
// status and body.
func get(addr, host, path string, roots *x509.CertPool) (int, string, error) {
	c := &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			},
			TLSClientConfig: &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12},
		},
	}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + host + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body)), err
}

// greet opens a TLS connection by SNI host through the gateway at addr,
// presenting cert and trusting roots, and returns the server's first line:
// the MySQL-style server speaks first, through its sidecar. With nil
// roots it checks nothing of the server, to see whatever answers.
func greet(addr, host string, roots *x509.CertPool, cert tls.Certificate) (string, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: &tls.Config{
		ServerName: host, RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		InsecureSkipVerify: roots == nil, //nolint:gosec // only to read what an unrouted name reaches
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// assertRoutes proves, through the gateway at addr, that each tenant's
// HTTP path and SNI hostname reach its own pods through their sidecars,
// and that no request for one tenant reaches another's pods.
func assertRoutes(t *testing.T, addr string, a, b *tenant) {
	t.Helper()
	for _, tn := range []*tenant{a, b} {
		want := fmt.Sprintf("hello from %s path %s/cart", tn.web, shopPath)
		var took time.Duration
		start := time.Now()
		deccotest.WaitFor(t, 90*time.Second, "HTTPS to "+tn.sp.Host()+shopPath, func() error {
			code, body, err := get(addr, tn.sp.Host(), shopPath+"/cart", tn.caPool)
			if err != nil {
				return err
			}
			if code != http.StatusOK || body != want {
				return fmt.Errorf("%d %q, want 200 %q", code, body, want)
			}
			took = time.Since(start)
			return nil
		})
		t.Logf("https://%s%s/cart reached pod %s (the route served %s after the pods were Ready)", tn.sp.Host(), shopPath, tn.web, took.Round(time.Millisecond))

		dbHost := tn.sp.ServiceHost("db")
		deccotest.WaitFor(t, 90*time.Second, "TLS passthrough to "+dbHost, func() error {
			line, err := greet(addr, dbHost, tn.caPool, tn.clientCert)
			if err != nil {
				return err
			}
			if line != "greeting from "+tn.db {
				return fmt.Errorf("got %q, want the greeting of %s", line, tn.db)
			}
			return nil
		})
		t.Logf("TLS by SNI %s reached pod %s, its sidecar checking the space's client certificate", dbHost, tn.db)
	}

	// A path the space does not route is not served, even on its own host.
	code, body, err := get(addr, a.sp.Host(), "/elsewhere", a.caPool)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, code, "an unrouted path: %q", body)

	// Another space's hostname reaches that space's pods only: b's HTTP
	// host answers from b's pod, never a's.
	code, body, err = get(addr, b.sp.Host(), shopPath, b.caPool)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	assert.NotContains(t, body, a.web)

	// b's TCP service is passed through to b's sidecar, which refuses a's
	// client certificate: the gateway never opens the stream, and another
	// space's certificate is worth nothing there (invariant 3).
	line, err := greet(addr, b.sp.ServiceHost("db"), b.caPool, a.clientCert)
	assert.Error(t, err, "b's sidecar must refuse a's certificate; read %q", line)
	assert.NotContains(t, line, b.db)

	// A hostname no space routes reaches no pod, even for a client that
	// checks nothing and holds a certificate a's sidecars accept.
	line, _ = greet(addr, "db.nowhere."+a.sp.Domain, nil, a.clientCert)
	assert.NotContains(t, line, "greeting from", "an unrouted SNI name reached a pod")
}

// Gateway API mode, with a Gateway per space (the chart's
// gateway-per-space mode, as Traefik has no ListenerSet): an HTTPS request
// by path to <space>.<domain>/<path> and a TLS-passthrough connection by
// SNI to <svc>.<space>.<domain>, from the host, reach the right pods.
func TestGatewayRoutesByPathAndSNI(t *testing.T) {
	gw := startGateway(t)
	a, b := newTenant(t, "gw-a"), newTenant(t, "gw-b")
	for _, tn := range []*tenant{a, b} {
		var g gatewayv1.Gateway
		deccotest.WaitFor(t, 30*time.Second, "the space's own Gateway", func() error {
			return suite.Client.Get(context.Background(), client.ObjectKey{Namespace: tn.sp.Name, Name: route.GatewayName}, &g)
		})
		require.Equal(t, gateway.GatewayClass, string(g.Spec.GatewayClassName))
	}
	assertRoutes(t, gw.Addr[gateway.GatewayAPI], a, b)
}

// Ingress mode: the Ingresses decco's route builder writes in Ingress mode
// (HTTP ones with nginx's backend-TLS annotations, SNI ones with
// ssl-passthrough), served by Traefik's ingress-nginx provider, carry the
// same traffic to the same pods.
func TestIngressRoutesByPathAndSNI(t *testing.T) {
	gw := startGateway(t)
	a, b := newTenant(t, "ing-a"), newTenant(t, "ing-b")
	ctx := context.Background()
	for _, tn := range []*tenant{a, b} {
		var svcs corev1.ServiceList
		require.NoError(t, suite.Client.List(ctx, &svcs, client.InNamespace(tn.sp.Name)))
		objs, conflicts := route.Objects(route.Input{Space: tn.sp, Services: svcs.Items, Mode: route.ModeIngress,
			IngressClass: gateway.HTTPIngressClass, SNIIngressClass: gateway.SNIIngressClass})
		require.Empty(t, conflicts)
		require.Len(t, objs, 2, "an HTTP and an SNI Ingress")
		for _, obj := range objs {
			require.NoError(t, suite.Client.Create(ctx, obj))
		}
	}
	assertRoutes(t, gw.Addr[gateway.Ingress], a, b)
}

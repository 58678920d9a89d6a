package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/gateway"
	"github.com/decco-dev/decco/test/node"
	"github.com/decco-dev/decco/test/node/nodetest"
	"github.com/decco-dev/decco/test/testkit"
)

// The customer-wide name of TestGlobalNameThroughTheGateway, in a
// reserved zone: the test resolves every name itself (the gateway's
// address for the host's clients, hostAliases for the pods), so nothing
// is ever looked up outside the machine.
const (
	regionDomain = "platform9.test"
	globalName   = "foo." + regionDomain
	customerCA   = "foo-ca"
)

// A customer's two regions behind a real gateway (Traefik, on the real
// node): HTTPS for the global name and TLS passthrough for
// db.<global name> reach the region holding the name, through its
// sidecars, with certificates naming the global name; a pod's egress
// tunnel crosses the gateway to the other region's sidecar, which takes
// the first region's client certificate because both trust the customer's
// CA (decco.io/ca-secret), while another customer's pod gets nothing.
//
// The two regions are two spaces of one cluster sharing the CA: foo-east
// claims the global name first and holds it, foo-west claims it second and
// is refused it (HostnameTaken), so it answers at its region name alone,
// as a region in another cluster is reached by its region name. One
// cluster rather than two control planes because what this test adds to
// test/e2e/regions (two control planes, one BIND zone, the DNS ownership
// and health) is the data path, and the data path does not know clusters:
// the gateway routes by hostname and the sidecars judge certificates by
// CA. A second cluster would need a second node, which this machine can't
// host beside the first (the node owns the pod bridge and its range).
func TestGlobalNameThroughTheGateway(t *testing.T) {
	gw := startGateway(t)
	addr := gw.Addr[gateway.GatewayAPI]
	gwIP, _, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	foo := testkit.NewCA(t, "foo customer CA")
	fooPool := x509.NewCertPool()
	fooPool.AddCert(foo.Cert)

	east := regionSpace(t, "foo-east", foo)
	waitHolds(t, east, globalName)
	west := regionSpace(t, "foo-west", foo)
	e, w := tenantIn(t, east), tenantIn(t, west)
	bar := suite.NewSpace(t, "bar", nil)
	barSpace := space.Space{Name: bar, Domain: "example.com"}

	t.Run("the holder answers the global name", func(t *testing.T) {
		assert.ElementsMatch(t, []string{route.ListenerHTTPS, route.ListenerHTTPSGlobal, route.ListenerTLS, route.ListenerTLSGlobal}, listenerNames(t, east))
		want := fmt.Sprintf("hello from %s path %s/cart", e.web, shopPath)
		deccotest.WaitFor(t, 90*time.Second, "HTTPS to "+globalName+shopPath, func() error {
			code, body, err := get(addr, globalName, shopPath+"/cart", fooPool)
			if err != nil {
				return err
			}
			if code != http.StatusOK || body != want {
				return fmt.Errorf("%d %q, want 200 %q", code, body, want)
			}
			return nil
		})
		served := servedNames(t, addr, globalName, fooPool)
		assert.Contains(t, served, globalName, "the gateway's certificate for the global name")
		t.Logf("https://%s%s/cart reached %s; the gateway presented a certificate for %v", globalName, shopPath, e.web, served)

		// One client certificate everywhere: foo-west's, issued from the
		// customer's CA, opens foo-east's listener by the global name.
		dbGlobal := "db." + globalName
		deccotest.WaitFor(t, 90*time.Second, "TLS passthrough to "+dbGlobal, func() error {
			line, err := greet(addr, dbGlobal, fooPool, w.clientCert)
			if err != nil {
				return err
			}
			if line != "greeting from "+e.db {
				return fmt.Errorf("got %q, want the greeting of %s", line, e.db)
			}
			return nil
		})
		t.Logf("TLS by SNI %s reached %s with foo-west's client certificate", dbGlobal, e.db)
	})

	t.Run("the other region gets none of it", func(t *testing.T) {
		assert.ElementsMatch(t, []string{route.ListenerHTTPS, route.ListenerTLS}, listenerNames(t, west))
		for _, s := range []string{w.sp.WorkloadCertSecret(), w.sp.HTTPTLSSecret()} {
			assert.NotContains(t, strings.Join(secretNames(t, west, s), " "), globalName, "foo-west's Secret %s", s)
		}
		// Its own names still lead to its own pods, with foo-east's client
		// certificate accepted at its sidecar.
		want := fmt.Sprintf("hello from %s path %s", w.web, shopPath)
		deccotest.WaitFor(t, 90*time.Second, "HTTPS to "+w.sp.Host()+shopPath, func() error {
			code, body, err := get(addr, w.sp.Host(), shopPath, fooPool)
			if err != nil {
				return err
			}
			if code != http.StatusOK || body != want {
				return fmt.Errorf("%d %q, want 200 %q", code, body, want)
			}
			return nil
		})
		deccotest.WaitFor(t, 90*time.Second, "TLS passthrough to "+w.sp.ServiceHost("db"), func() error {
			line, err := greet(addr, w.sp.ServiceHost("db"), fooPool, e.clientCert)
			if err != nil {
				return err
			}
			if line != "greeting from "+w.db {
				return fmt.Errorf("got %q, want the greeting of %s", line, w.db)
			}
			return nil
		})
		for range 5 {
			_, body, err := get(addr, globalName, shopPath, fooPool)
			require.NoError(t, err)
			assert.NotContains(t, body, w.web, "the global name reached the region that does not hold it")
		}
	})

	t.Run("egress crosses the gateway between regions", func(t *testing.T) {
		westDB, dbGlobal := w.sp.ServiceHost("db"), "db."+globalName
		eastClient := egressClient(t, east, gwIP, westDB)
		westClient := egressClient(t, west, gwIP, dbGlobal)
		barClient := egressClient(t, bar, gwIP, westDB)
		for _, c := range []struct {
			from *corev1.Pod
			to   string
			want string
		}{{eastClient, westDB, w.db}, {westClient, dbGlobal, e.db}} {
			deccotest.WaitFor(t, time.Minute, c.from.Namespace+"'s tunnel to "+c.to, func() error {
				line, err := suite.Probe(c.from, fmt.Sprintf("127.0.0.1:%d", egressPort))
				if err != nil {
					return err
				}
				if !strings.HasPrefix(line, "greeting from "+c.want) {
					return fmt.Errorf("the tunnel answered %q", line)
				}
				return nil
			})
			t.Logf("%s's egress tunnel to %s:%d reached %s through the gateway", c.from.Namespace, c.to, gateway.ServicePort, c.want)
		}

		// Another customer's pod: its sidecar trusts its own CA alone, so
		// its tunnel to foo-west ends at the handshake...
		line, err := suite.Probe(barClient, fmt.Sprintf("127.0.0.1:%d", egressPort))
		assert.NotContains(t, line, "greeting from", "bar's tunnel reached foo-west (err %v)", err)
		// ...and foo-west's sidecar refuses bar's certificate even from a
		// client that trusts foo's CA: the gateway passes the stream through
		// unopened, and the sidecar judges the certificate.
		_, barCert := workloadCert(t, barSpace)
		line, err = greet(addr, westDB, fooPool, barCert)
		assert.Error(t, err, "foo-west's sidecar must refuse bar's certificate; read %q", line)
		assert.NotContains(t, line, w.db)
	})
}

// regionSpace makes a region of the customer whose CA is ca: the platform
// creates the namespace, distributes the CA into it, and only then makes
// it a space with the global name, as README's "Several regions" says.
func regionSpace(t *testing.T, prefix string, ca *testkit.CA) string {
	t.Helper()
	node.Require(t)
	ctx := context.Background()
	name := prefix + "-" + rand.String(5)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	require.NoError(t, suite.Client.Create(ctx, ns))
	secret, err := deccotest.CASecret(name, customerCA, ca)
	require.NoError(t, err)
	require.NoError(t, suite.Client.Create(ctx, secret))
	ns.Labels = map[string]string{space.LabelSpace: name}
	ns.Annotations = map[string]string{space.AnnotationDomain: regionDomain, space.AnnotationGlobalName: globalName, space.AnnotationCASecret: customerCA}
	require.NoError(t, suite.Client.Update(ctx, ns))
	return name
}

// waitHolds waits until space ns records its claim to host.
func waitHolds(t *testing.T, ns, host string) {
	t.Helper()
	deccotest.WaitFor(t, 30*time.Second, ns+" holding "+host, func() error {
		var n corev1.Namespace
		if err := suite.Client.Get(context.Background(), client.ObjectKey{Name: ns}, &n); err != nil {
			return err
		}
		claims, err := space.ParseClaims(n.Annotations[space.AnnotationHostnames])
		if err != nil {
			return err
		}
		if _, ok := claims[host]; !ok {
			return fmt.Errorf("claims %q", n.Annotations[space.AnnotationHostnames])
		}
		return nil
	})
}

// listenerNames are the listeners of space ns's own Gateway.
func listenerNames(t *testing.T, ns string) []string {
	t.Helper()
	var g gatewayv1.Gateway
	require.NoError(t, suite.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: route.GatewayName}, &g))
	var names []string
	for _, l := range g.Spec.Listeners {
		names = append(names, string(l.Name))
	}
	return names
}

// secretNames are the DNS names of the certificate in Secret name of ns.
func secretNames(t *testing.T, ns, name string) []string {
	t.Helper()
	var s corev1.Secret
	require.NoError(t, suite.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s))
	c, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	require.NoError(t, err)
	return leaf.DNSNames
}

// servedNames are the DNS names of the certificate the gateway at addr
// presents for host, verified against roots.
func servedNames(t *testing.T, addr, host string, roots *x509.CertPool) []string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	defer conn.Close()
	return slices.Clone(conn.ConnectionState().PeerCertificates[0].DNSNames)
}

// egressClient runs an agent in space ns whose sidecar tunnels
// 127.0.0.1:egressPort to host on the gateway's port. The pod resolves
// host to the gateway's address through its own hosts file (hostAliases):
// the node's CoreDNS answers only cluster.local.
func egressClient(t *testing.T, ns, gatewayIP, host string) *corev1.Pod {
	t.Helper()
	tmpl := nodetest.App(ns, "client", map[string]string{space.AnnotationEgress: fmt.Sprintf("%d=%s:%d", egressPort, host, gateway.ServicePort)},
		nil, "agent", fmt.Sprintf("-listen=:%d", agentPort))
	tmpl.Spec.HostAliases = []corev1.HostAlias{{IP: gatewayIP, Hostnames: []string{host}}}
	require.NoError(t, suite.Client.Create(context.Background(), nodetest.Deployment(ns, "client", tmpl)))
	return suite.ReadyPod(t, ns, "client")
}

// Package restart proves that decco's manager rides out a kube-apiserver
// restart in the middle of converging spaces: it reconnects, converges,
// and nothing it made is lost or made twice. The package has a control
// plane of its own because the test restarts its apiserver.
package restart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/install"
	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/reliability/reltest"
)

var cluster *controlplane.Cluster

func TestMain(m *testing.M) {
	if os.Getenv("DECCO_TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	}
	os.Exit(controlplane.RunTests(m, &cluster, controlplane.Options{WithCertManager: true,
		APIServerArgs: map[string][]string{controlplane.WatchGracePeriodFlag: {"2s"}}}))
}

// creates records every object decco's manager created, from the 201
// Created answers to its writes (a POST, or a server-side apply PATCH
// that created the object): "ns/resource/name" -> the UID of each create.
type creates struct {
	mu   sync.Mutex
	uids map[string][]string
}

// wrap returns a copy of cfg whose creates are recorded.
func (c *creates) wrap(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil && resp.StatusCode == http.StatusCreated {
				c.record(req.URL.Path, resp)
			}
			return resp, err
		})
	})
	return out
}

// record notes a create at .../namespaces/<ns>/<resource>[/<name>], with
// the name and UID from the answer, whose body it puts back.
func (c *creates) record(p string, resp *http.Response) {
	parts := strings.Split(p, "/")
	i := slices.Index(parts, "namespaces")
	if i < 0 || i+2 >= len(parts) {
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var obj metav1.PartialObjectMetadata
	if err != nil || json.Unmarshal(body, &obj) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := parts[i+1] + "/" + parts[i+2] + "/" + obj.Name
	c.uids[key] = append(c.uids[key], string(obj.UID))
}

// in returns the creates in namespace ns, keyed "resource/name".
func (c *creates) in(ns string) map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]string{}
	for k, v := range c.uids {
		if rest, ok := strings.CutPrefix(k, ns+"/"); ok {
			out[rest] = v
		}
	}
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

const (
	gatewayNamespace = "decco-gateway"
	gatewayName      = "shared"
)

// kube-apiserver restarts while decco's manager (webhook and reconciler,
// in this process) converges six new spaces, each with an HTTP and a TCP
// service. The manager reconnects on its own; a space created right after
// the restart converges too; every space ends with exactly the objects of
// a space converged without a restart; every object decco had made before
// the restart is still there with the same UID (nothing deleted and made
// again); decco created each object once; and the webhook injects again.
func TestAPIServerRestartMidReconcile(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	c := cluster.Client
	require.NoError(t, deccotest.Gateway(ctx, c, gatewayNamespace, gatewayName, "192.0.2.10"))
	made := &creates{uids: map[string][]string{}}
	mgr, err := deccotest.StartManager(ctx, made.wrap(cluster.Config), c, func(o *manager.Options) {
		o.Reconciler.Gateway = gatewayNamespace + "/" + gatewayName
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = mgr.Stop() })

	// A space converged before anything happens: what every space must
	// look like in the end.
	ref := newSpace(t, "restart-ref")
	reltest.WaitFor(t, time.Minute, "the reference space converged", func() error { return spaceReady(t, ref) })
	settled(t, ref)
	want := names(uids(t, ref))

	var spaces []string
	for i := range 6 {
		spaces = append(spaces, newSpace(t, fmt.Sprintf("restart-%d", i)))
	}
	reltest.WaitFor(t, time.Minute, "the reconciler at work", func() error {
		if len(uids(t, spaces[0])) == 0 {
			return errors.New("no decco objects yet")
		}
		return nil
	})
	readyBefore := 0
	for _, ns := range spaces {
		if spaceReady(t, ns) == nil {
			readyBefore++
		}
	}

	down, err := cluster.RestartAPIServer(ctx)
	require.NoError(t, err)
	restarted := time.Now()
	spaces = append(spaces, newSpace(t, "restart-late"), ref)
	for _, ns := range spaces {
		reltest.WaitFor(t, convergeTimeout, "space "+ns+" converged", func() error {
			if err := spaceReady(t, ns); err != nil {
				return err
			}
			if got := names(uids(t, ns)); !slices.Equal(got, want) {
				return fmt.Errorf("objects %v, want %v", got, want)
			}
			return nil
		})
	}
	converged := time.Since(restarted)

	// Every object decco created was created once, and is still the same
	// object (same UID): nothing lost, nothing made twice.
	kept := 0
	for _, ns := range spaces {
		after := uids(t, ns)
		createdIn := made.in(ns)
		for obj, uid := range after {
			// No create recorded is possible: an answer lost to the
			// restart, the apply repeated and answered 200.
			if c := createdIn[obj]; len(c) > 1 || (len(c) == 1 && c[0] != uid) {
				t.Errorf("space %s: %s created with UIDs %v, now %s: made more than once", ns, obj, c, uid)
			}
		}
		for obj, created := range createdIn {
			if _, tracked := lists[strings.Split(obj, "/")[0]]; tracked && after[obj] == "" {
				t.Errorf("space %s: %s, created with UID %v, is gone", ns, obj, created)
			}
			if after[obj] != "" && created[0] == after[obj] && created[0] != "" {
				kept++
			}
		}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: spaces[0], Name: "after-restart", Labels: map[string]string{space.LabelSpace: spaces[0]}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
	require.NoError(t, c.Create(ctx, pod))
	assert.True(t, deccotest.Injected(pod), "the webhook injects after the restart")
	t.Logf("apiserver down %s with %d of 6 new spaces ready; all %d spaces converged %s after it was back, %d objects each, every one created once and kept (%d)",
		down.Round(time.Millisecond), readyBefore, len(spaces), converged.Round(time.Millisecond), len(want), kept)
}

// convergeTimeout bounds how long a space may take to converge after the
// restart.
const convergeTimeout = 5 * time.Minute

// settled waits until ns's decco objects stay the same for two seconds.
func settled(t *testing.T, ns string) {
	t.Helper()
	last, since := names(uids(t, ns)), time.Now()
	reltest.WaitFor(t, time.Minute, "space "+ns+" settled", func() error {
		if now := names(uids(t, ns)); !slices.Equal(now, last) {
			last, since = now, time.Now()
		}
		if time.Since(since) < 2*time.Second {
			return errors.New("still changing")
		}
		return nil
	})
}

// newSpace creates space ns with an HTTP and a TCP service.
func newSpace(t *testing.T, ns string) string {
	t.Helper()
	reltest.EnsureSpace(t, cluster.Client, ns)
	for name, ann := range map[string]map[string]string{
		"web": {space.AnnotationHTTPPath: "/"},
		"db":  {space.AnnotationDNS: "true"},
	} {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{space.LabelSpace: ns}, Annotations: ann},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
				Ports: []corev1.ServicePort{{Name: "tls", Port: 443, TargetPort: intstr.FromString("serve")}}},
		}
		// The webhook reads namespaces from its informer cache, which may
		// not have the namespace created a moment ago (RELIABILITY.md,
		// open items): retry that one refusal, as a user would.
		reltest.WaitFor(t, 10*time.Second, "creating service "+ns+"/"+name, func() error {
			err := cluster.Client.Create(context.Background(), svc.DeepCopy())
			if err != nil && !strings.Contains(err.Error(), "from the cache") {
				t.Fatalf("creating service %s/%s: %v", ns, name, err)
			}
			return err
		})
	}
	return ns
}

func spaceReady(t *testing.T, ns string) error {
	var n corev1.Namespace
	if err := cluster.Client.Get(context.Background(), client.ObjectKey{Name: ns}, &n); err != nil {
		return err
	}
	v, ok := n.Annotations[space.AnnotationStatus]
	if !ok {
		return errors.New("no status yet")
	}
	st, err := space.ParseStatus(v)
	require.NoError(t, err)
	if !st.Ready() {
		return fmt.Errorf("status %s", st.Format())
	}
	return nil
}

// resources are the kinds the reconciler writes, as API paths name them.
var resources = []string{"certificates", "issuers", "networkpolicies", "listenersets", "httproutes", "tlsroutes", "backendtlspolicies", "dnsendpoints"}

var lists = map[string]func() client.ObjectList{
	"certificates":       func() client.ObjectList { return &certmanagerv1.CertificateList{} },
	"issuers":            func() client.ObjectList { return &certmanagerv1.IssuerList{} },
	"networkpolicies":    func() client.ObjectList { return &networkingv1.NetworkPolicyList{} },
	"listenersets":       func() client.ObjectList { return &gatewayv1.ListenerSetList{} },
	"httproutes":         func() client.ObjectList { return &gatewayv1.HTTPRouteList{} },
	"tlsroutes":          func() client.ObjectList { return &gatewayv1.TLSRouteList{} },
	"backendtlspolicies": func() client.ObjectList { return &gatewayv1.BackendTLSPolicyList{} },
	"dnsendpoints":       func() client.ObjectList { return &endpoint.DNSEndpointList{} },
}

// types maps "resource/name" to UID for decco's objects in a namespace.
type types map[string]string

var (
	deccoClientOnce sync.Once
	deccoClient     client.Client
)

// uids lists every object labeled as decco's in ns, of every kind the
// reconciler writes, keyed "resource/name" (resource as in API paths).
func uids(t *testing.T, ns string) types {
	t.Helper()
	deccoClientOnce.Do(func() {
		var err error
		deccoClient, err = client.New(cluster.Config, client.Options{Scheme: install.Scheme})
		require.NoError(t, err)
	})
	out := types{}
	for _, resource := range resources {
		list := lists[resource]()
		require.NoError(t, deccoClient.List(context.Background(), list, client.InNamespace(ns),
			client.MatchingLabels{space.LabelManagedBy: space.ManagedByValue}))
		items, err := meta.ExtractList(list)
		require.NoError(t, err)
		for _, item := range items {
			obj := item.(client.Object)
			out[resource+"/"+obj.GetName()] = string(obj.GetUID())
		}
	}
	return out
}

func names(u types) []string {
	var out []string
	for k := range u {
		out = append(out, k)
	}
	sort.Strings(out)
	return slices.Clip(out)
}

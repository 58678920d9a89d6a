//go:build linux

// Package replicas proves that terminating a webhook replica, as
// Kubernetes does on a rolling update or a node drain, costs clients no
// admission error: the apiserver reaches two decco replicas through a
// Service with two endpoints, and pods are created without pause while
// each replica in turn is terminated and replaced. The replicas run in a
// network namespace of the test's own (EndpointSlices can't carry
// loopback addresses), and the apiserver routes to endpoints directly
// (--enable-aggregator-routing), so the test can play the EndpointSlice
// controller.
package replicas

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/reliability/reltest"
	"github.com/decco-dev/decco/test/testkit"
	"github.com/decco-dev/decco/webhook"
)

var cluster *controlplane.Cluster

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(m, &cluster, controlplane.Options{
		// No controller-manager: the test is the EndpointSlice controller.
		WithoutControllerManager: true,
		APIServerArgs:            map[string][]string{"enable-aggregator-routing": {"true"}},
	}))
}

const (
	serviceName = "decco-webhook"
	webhookPort = 9443
	probePort   = 8081
	metricsPort = 8080
	// shutdownDelay is the replicas' --shutdown-delay.
	shutdownDelay = 3 * time.Second
	// propagation is how long after SIGTERM the test marks the endpoint
	// terminating: the EndpointSlice controller and the apiserver's
	// informer are not instant, and a replica must outlast them.
	propagation = time.Second
)

// replica is one decco webhook process inside the namespace.
type replica struct {
	i    int
	ip   string
	args []string
	proc *reltest.Proc
}

// fleet is the replicas, their Service's EndpointSlice and the namespace.
type fleet struct {
	ns       *netns
	replicas []*replica
	slice    client.ObjectKey
}

// Two webhook replicas behind a Service; pods are created without pause
// while, four times, the replica serving them gets SIGTERM (its endpoint
// marked terminating a second later, as the EndpointSlice controller
// would), drains, exits, and is replaced. No pod creation may fail.
func TestReplicaTerminationDuringChurn(t *testing.T) {
	cluster.Need(t)
	requireNetns(t)
	c := cluster.Client
	f := startFleet(t, 2)
	ns := reltest.EnsureSpace(t, c, "churn")
	churn := reltest.StartChurn(c, ns, 3, 10*time.Millisecond)
	time.Sleep(2 * time.Second)

	const terminations = 4
	var loads []string
	for range terminations {
		// The apiserver keeps its keep-alive connections where they are,
		// so one replica may carry all the traffic: terminate the one that
		// does, so each termination is under load.
		r, perSecond := f.busiest(t)
		loads = append(loads, fmt.Sprintf("%d/s", perSecond))
		f.terminate(t, r)
		f.replace(t, r)
		time.Sleep(2 * time.Second)
	}
	res := churn.Stop()
	t.Logf("%d replica terminations (SIGTERM, endpoint terminating %s later, --shutdown-delay=%s) of replicas serving %s during churn: %s",
		terminations, propagation, shutdownDelay, strings.Join(loads, ", "), res)
	assert.Empty(t, res.Errors, "admission errors seen by clients")
	assert.Empty(t, res.NotInjected)
	assert.Greater(t, res.Created, 100, "too little churn to prove anything")
}

// startFleet starts n replicas in a new network namespace, publishes them
// as the endpoints of a Service, and points decco's webhooks at it.
func startFleet(t *testing.T, n int) *fleet {
	t.Helper()
	c := cluster.Client
	ctx := context.Background()
	f := &fleet{ns: newNetns(t, n)}
	kubeconfig := f.kubeconfig(t)
	ca := testkit.NewCA(t, "decco-webhook-ca")
	certDir := t.TempDir()
	host := serviceName + "." + reltest.SystemNamespace + ".svc"
	ca.Issue(t, host, host+".cluster.local").Write(t, certDir)

	reltest.EnsureNamespace(t, c, reltest.SystemNamespace)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: reltest.SystemNamespace, Name: serviceName},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(webhookPort)}}}}
	require.NoError(t, c.Create(ctx, svc))
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: reltest.SystemNamespace, Name: serviceName + "-test",
			Labels: map[string]string{discoveryv1.LabelServiceName: serviceName, discoveryv1.LabelManagedBy: "decco-reliability-test"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](webhookPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for i := range n {
		r := &replica{i: i, ip: f.ns.replicaIP(i)}
		r.args = append(reltest.WebhookArgs(kubeconfig, r.ip, webhookPort, certDir, net.JoinHostPort(r.ip, strconv.Itoa(probePort))),
			"--metrics-bind-address="+net.JoinHostPort(r.ip, strconv.Itoa(metricsPort)),
			"--shutdown-delay="+shutdownDelay.String())
		f.replicas = append(f.replicas, r)
		r.start(t, f.ns.name)
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{r.ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}})
	}
	require.NoError(t, c.Create(ctx, slice))
	f.slice = client.ObjectKeyFromObject(slice)
	reltest.RegisterWebhooks(t, c, webhook.ServiceClientConfig(reltest.SystemNamespace, serviceName, 443, ca.PEM))
	return f
}

// kubeconfig is the cluster's kubeconfig with the apiserver reached
// through a forwarder inside the namespace.
func (f *fleet) kubeconfig(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(cluster.Config.Host)
	require.NoError(t, err)
	port := f.ns.forwardToHost(t, u.Host)
	kc, err := clientcmd.LoadFromFile(cluster.Kubeconfig)
	require.NoError(t, err)
	for _, cl := range kc.Clusters {
		cl.Server = "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, path))
	return path
}

func (r *replica) start(t *testing.T, netnsName string) {
	t.Helper()
	r.proc = reltest.Start(t, fmt.Sprintf("decco replica %d", r.i), r.args, reltest.StartOptions{Netns: netnsName})
	reltest.WaitFor(t, 60*time.Second, fmt.Sprintf("replica %d ready", r.i), func() error {
		select {
		case <-r.proc.Exited():
			t.Fatalf("replica %d exited:\n%s", r.i, r.proc.Log())
		default:
		}
		resp, err := http.Get("http://" + net.JoinHostPort(r.ip, strconv.Itoa(probePort)) + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz %d", resp.StatusCode)
		}
		return nil
	})
}

// admissions is how many pod admissions the replica has answered, from
// its decco_admission_duration_seconds histogram.
func (r *replica) admissions(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + net.JoinHostPort(r.ip, strconv.Itoa(metricsPort)) + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, `decco_admission_duration_seconds_count{handler="Pod"} `); ok {
			n, err := strconv.ParseFloat(rest, 64)
			require.NoError(t, err)
			return int(n)
		}
	}
	return 0
}

// busiest returns the replica answering the most pod admissions over a
// second, and how many it answered; it fails if none answered any.
func (f *fleet) busiest(t *testing.T) (*replica, int) {
	t.Helper()
	before := make([]int, len(f.replicas))
	for i, r := range f.replicas {
		before[i] = r.admissions(t)
	}
	time.Sleep(time.Second)
	var top *replica
	most := 0
	for i, r := range f.replicas {
		if d := r.admissions(t) - before[i]; d > most {
			top, most = r, d
		}
	}
	require.NotNil(t, top, "no replica answered an admission request in a second of churn")
	return top, most
}

// terminate does what Kubernetes does to a deleted pod: SIGTERM to the
// process and, once the EndpointSlice controller gets to it, the endpoint
// marked terminating (not ready). The replica must exit 0.
func (f *fleet) terminate(t *testing.T, r *replica) {
	t.Helper()
	require.NoError(t, r.proc.Signal(syscall.SIGTERM))
	time.Sleep(propagation)
	f.setReady(t, r, false)
	require.NoError(t, r.proc.Wait(shutdownDelay+30*time.Second), "replica %d must exit 0 after SIGTERM", r.i)
}

// replace starts a new process for r and marks its endpoint ready once
// /readyz says so, as the kubelet and the EndpointSlice controller would.
func (f *fleet) replace(t *testing.T, r *replica) {
	t.Helper()
	r.start(t, f.ns.name)
	f.setReady(t, r, true)
}

func (f *fleet) setReady(t *testing.T, r *replica, ready bool) {
	t.Helper()
	var slice discoveryv1.EndpointSlice
	require.NoError(t, cluster.Client.Get(context.Background(), f.slice, &slice))
	for i := range slice.Endpoints {
		if slice.Endpoints[i].Addresses[0] == r.ip {
			slice.Endpoints[i].Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(!ready)}
		}
	}
	require.NoError(t, cluster.Client.Update(context.Background(), &slice))
}

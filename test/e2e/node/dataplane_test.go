package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node/nodetest"
)

const (
	mysqlPort  = 3306
	agentPort  = 9000
	egressPort = 3307
)

// TestTCPServiceOverMutualTLS is decco's TCP promise on a real node: a
// client pod of the space talks plaintext to its local egress port, its
// sidecar resolves the Service through CoreDNS and opens mutual TLS to the
// server's listener through kube-proxy, and the server's sidecar hands the
// connection to the app. The app's own port stays closed to other pods,
// and a Job using the same tunnel runs to completion.
func TestTCPServiceOverMutualTLS(t *testing.T) {
	ctx := context.Background()
	ns := suite.NewSpace(t, "acme", nil)
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "mysql", nodetest.App(ns, "mysql", nil,
		[]corev1.ContainerPort{{Name: "mysql", ContainerPort: mysqlPort}}, "tcp", fmt.Sprintf("-listen=:%d", mysqlPort)))))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Service(ns, "mysql", nodetest.ServicePort("main", mysqlPort, mysqlPort))))
	egress := map[string]string{space.AnnotationEgress: fmt.Sprintf("%d=mysql.%s.svc:%d", egressPort, ns, mysqlPort)}
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "client", nodetest.App(ns, "client", egress, nil, "agent", fmt.Sprintf("-listen=:%d", agentPort)))))

	server := suite.ReadyPod(t, ns, "mysql")
	clientPod := suite.ReadyPod(t, ns, "client")
	require.Len(t, server.Spec.InitContainers, 1, "the server runs decco's sidecar")
	require.Len(t, clientPod.Spec.InitContainers, 1, "the client runs decco's sidecar")

	deccotest.WaitFor(t, 30*time.Second, "the MySQL-style greeting through the egress tunnel", func() error {
		line, err := suite.Probe(clientPod, fmt.Sprintf("127.0.0.1:%d", egressPort))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "greeting from "+server.Name) {
			return fmt.Errorf("the tunnel answered %q", line)
		}
		return nil
	})

	_, err := suite.Probe(clientPod, fmt.Sprintf("%s:%d", server.Status.PodIP, mysqlPort))
	require.Error(t, err, "the server's plaintext port must be closed to other pods")

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: new(int32),
			Template:     nodetest.App(ns, "migrate", egress, nil, "dial", fmt.Sprintf("-addr=127.0.0.1:%d", egressPort), "-expect=greeting from"),
		},
	}
	job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	require.NoError(t, suite.Client.Create(ctx, job))
	suite.WaitJob(t, job)
}

// TestNamedPortReachesTheListener is a Service whose target port is a
// name, as most charts write it: the sidecar takes the name over, and the
// policy must open the listener by its number, because kube-router (like
// other engines) resolves named ports on regular containers only, and the
// sidecar is an init container. A peer of the space reaches the listener
// through the Service; the app's own port stays closed. (With the name in
// the policy, kube-router 2.1 was seen to open the app's plaintext port to
// the peer: this test failed on its last assertion.)
func TestNamedPortReachesTheListener(t *testing.T) {
	ctx := context.Background()
	ns := suite.NewSpace(t, "named", nil)
	const appPort = 5000
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "api", nodetest.App(ns, "api", nil,
		[]corev1.ContainerPort{{Name: "api", ContainerPort: appPort}}, "tcp", fmt.Sprintf("-listen=:%d", appPort)))))
	svc := nodetest.Service(ns, "api", nodetest.ServicePort("main", 443, 443))
	svc.Spec.Ports[0].TargetPort = intstr.FromString("api")
	require.NoError(t, suite.Client.Create(ctx, svc))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "peer", nodetest.App(ns, "peer", nil, nil, "agent", fmt.Sprintf("-listen=:%d", agentPort)))))
	server := suite.ReadyPod(t, ns, "api")
	peer := suite.ReadyPod(t, ns, "peer")

	// The listener asks for a client certificate, so the peer's agent
	// gets no greeting: a connection that opens is all it reports.
	deccotest.WaitFor(t, 30*time.Second, "the listener through the Service, by its named port", func() error {
		_, err := suite.Probe(peer, fmt.Sprintf("api.%s.svc:443", ns))
		return err
	})
	_, err := suite.Probe(peer, fmt.Sprintf("%s:%d", server.Status.PodIP, appPort))
	require.Error(t, err, "the app's plaintext port must stay closed")
}

// TestStatefulSetPodsByStableName runs a StatefulSet behind a headless
// Service, as clustered charts do: both replicas reach Ready with their
// sidecars, and a peer of the space reaches replica 0's TLS listener by its
// stable DNS name (CoreDNS's answer for <pod>.<service>) while its app port
// stays closed.
func TestStatefulSetPodsByStableName(t *testing.T) {
	ctx := context.Background()
	ns := suite.NewSpace(t, "sts", nil)
	const appPort = 6379
	svc := nodetest.Service(ns, "cache", nodetest.ServicePort("main", appPort, appPort))
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	require.NoError(t, suite.Client.Create(ctx, svc))
	tmpl := nodetest.App(ns, "cache", nil, []corev1.ContainerPort{{Name: "redis", ContainerPort: appPort}}, "tcp", fmt.Sprintf("-listen=:%d", appPort))
	require.NoError(t, suite.Client.Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "cache", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "cache",
			Replicas:    new(int32(2)),
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cache"}},
			Template:    tmpl,
		},
	}))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "peer", nodetest.App(ns, "peer", nil, nil, "agent", fmt.Sprintf("-listen=:%d", agentPort)))))
	peer := suite.ReadyPod(t, ns, "peer")
	deccotest.WaitFor(t, 2*time.Minute, "both replicas Ready", func() error {
		var pods corev1.PodList
		if err := suite.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "cache"}); err != nil {
			return err
		}
		ready := 0
		for i := range pods.Items {
			if nodetest.PodReady(&pods.Items[i]) && len(pods.Items[i].Spec.InitContainers) == 1 {
				ready++
			}
		}
		if ready != 2 {
			return fmt.Errorf("%d of 2 Ready with the sidecar: %s", ready, nodetest.PodStates(pods.Items))
		}
		return nil
	})
	stable := fmt.Sprintf("cache-0.cache.%s.svc.cluster.local", ns)
	deccotest.WaitFor(t, 30*time.Second, "replica 0's listener by its stable name", func() error {
		_, err := suite.Probe(peer, fmt.Sprintf("%s:%d", stable, inject.ListenerPort(appPort)))
		return err
	})
	_, err := suite.Probe(peer, fmt.Sprintf("%s:%d", stable, appPort))
	require.Error(t, err, "replica 0's app port must stay closed to its peers")
}

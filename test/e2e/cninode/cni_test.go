package cninode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// memberProbe is the members' readiness: /healthy on their health port,
// 200 only while they reach every peer. The injector points it at the
// sidecar, which asks the app on loopback.
func memberProbe() *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthy", Port: intstr.FromString("health")}},
		PeriodSeconds: 1, FailureThreshold: 3}
}

func member(ns, name, payload string, peers []string, ports ...corev1.ContainerPort) corev1.PodTemplateSpec {
	args := []string{"member", "-listen=:7000", "-health=:7001", "-payload=" + payload}
	if len(peers) > 0 {
		args = append(args, "-peers="+strings.Join(peers, ","))
	}
	t := nodetest.App(ns, name, nil, append(ports, nodetest.TCPPort("health", 7001)), args...)
	t.Spec.Containers[0].ReadinessProbe = memberProbe()
	return t
}

// TestClusteredAppsOverTransparentTLS is issue 14's "done when" on a real
// node: a 3-member peer-to-peer cluster whose members dial each other by
// pod DNS name on the app port forms and stays healthy, a replica syncs
// from its primary through the primary's Service, and a client-only Job
// (no port, no annotation) completes against a Service, while a capture
// of every frame on the node's bridge and veths finds none of the payload
// those hops carry. A plaintext connection from outside the pod to an app
// port is handed to the TLS listener, and the app never sees it.
func TestClusteredAppsOverTransparentTLS(t *testing.T) {
	ctx := context.Background()
	ns := suite.NewSpace(t, "cluster", nil)
	payload := "decco-payload-" + rand.String(12)
	control := "decco-control-" + rand.String(12)
	capt := startCapture(t, payload, control)

	// The peer-to-peer cluster: members dial every member, themselves
	// included, by <pod>.<service> name on 7000.
	var peers []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("members-%d.members.%s.svc.cluster.local:7000", i, ns))
	}
	headless := nodetest.Service(ns, "members", nodetest.ServicePort("peer", 7000, 7000))
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	headless.Spec.PublishNotReadyAddresses = true // members find each other before they are Ready
	require.NoError(t, suite.Client.Create(ctx, headless))
	require.NoError(t, suite.Client.Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "members", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "members", Replicas: new(int32(3)),
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "members"}},
			Template:            member(ns, "members", payload, peers, nodetest.TCPPort("peer", 7000)),
		},
	}))
	// A primary and a replica syncing from it through its Service.
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "primary", member(ns, "primary", payload, nil, nodetest.TCPPort("redis", 7000)))))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Service(ns, "primary", nodetest.ServicePort("redis", 6379, 7000))))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "replica", member(ns, "replica", payload, []string{fmt.Sprintf("primary.%s.svc:6379", ns)}))))
	// A MySQL-style server and a client-only Job.
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "db", nodetest.App(ns, "db", nil, []corev1.ContainerPort{nodetest.TCPPort("mysql", 3306)}, "tcp", "-listen=:3306"))))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Service(ns, "db", nodetest.ServicePort("mysql", 3306, 3306))))
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: ns},
		Spec: batchv1.JobSpec{BackoffLimit: new(int32),
			Template: nodetest.App(ns, "migrate", nil, nil, "dial", fmt.Sprintf("-addr=db.%s.svc:3306", ns), "-expect=greeting from")},
	}
	job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	require.NoError(t, suite.Client.Create(ctx, job))

	start := time.Now()
	members := suite.ReadyPods(t, ns, "members", 3, 3*time.Minute)
	t.Logf("3 members Ready (each reaching all 3 by pod DNS name) %s after creation", time.Since(start).Round(100*time.Millisecond))
	suite.ReadyPods(t, ns, "replica", 1, time.Minute)
	db := suite.ReadyPods(t, ns, "db", 1, time.Minute)[0]
	suite.WaitJob(t, job)
	t.Logf("replica synced and the client-only Job completed %s after creation", time.Since(start).Round(100*time.Millisecond))

	for _, p := range members {
		_, ok := p.Annotations[space.AnnotationInterception]
		assert.True(t, ok, "%s carries its interception plan", p.Name)
		assert.Equal(t, "peer", p.Spec.Containers[0].Ports[0].Name, "ports keep their names in cni mode")
	}

	// From outside the pod, plaintext to the app's port reaches the TLS
	// listener, never the app: no greeting comes back. The bytes sent are
	// the capture's control: they cross the bridge in plaintext.
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(db.Status.PodIP, "3306"), 2*time.Second)
	require.NoError(t, err)
	fmt.Fprintf(conn, "%s\n", control)
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	assert.NotContains(t, line, "greeting", "a plaintext client reached the app through interception")

	// Stays healthy: every member and the replica remain Ready for ten
	// seconds, each second of which their readiness asks whether every
	// peer answered within the last ten.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var pods corev1.PodList
		require.NoError(t, suite.Client.List(ctx, &pods, client.InNamespace(ns)))
		for _, p := range pods.Items {
			if a := p.Labels["app"]; (a == "members" || a == "replica") && !nodetest.PodReady(&p) {
				t.Fatalf("%s became unready: %s", p.Name, nodetest.PodStates([]corev1.Pod{p}))
			}
		}
		time.Sleep(time.Second)
	}

	frames, seen := capt.resultAfter(control)
	t.Logf("capture: %d frames on the node's bridge and veths; markers seen: %v", frames, seen)
	require.NotZero(t, seen[control], "the capture must see the plaintext control sent from the node (else it proves nothing)")
	assert.Zero(t, seen[payload], "the members', replica's and primary's payload crossed the bridge in plaintext")
}

// TestPortsThatCollideOrAreUndeclared: the workloads ports mode refuses or
// misses inject with TLS on every port, and their Services reach them: a
// RabbitMQ-like pod (5672 and 15672, which is 5672+10000), a
// redis-cluster-like pod (6379 and its bus 16379), and a Deployment that
// declares no port behind a Service with targetPort 8080.
func TestPortsThatCollideOrAreUndeclared(t *testing.T) {
	ctx := context.Background()
	ns := suite.NewSpace(t, "brokers", nil)
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "rabbitmq", nodetest.App(ns, "rabbitmq", nil,
		[]corev1.ContainerPort{nodetest.TCPPort("amqp", 5672), nodetest.TCPPort("http-stats", 15672)}, "tcp", "-listen=:5672,:15672"))))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Service(ns, "rabbitmq", nodetest.ServicePort("amqp", 5672, 5672), nodetest.ServicePort("http-stats", 15672, 15672))))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "redis", nodetest.App(ns, "redis", nil,
		[]corev1.ContainerPort{nodetest.TCPPort("tcp-redis", 6379), nodetest.TCPPort("tcp-redis-bus", 16379)}, "tcp", "-listen=:6379,:16379"))))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Service(ns, "redis", nodetest.ServicePort("tcp-redis", 6379, 6379), nodetest.ServicePort("tcp-redis-bus", 16379, 16379))))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "bare", nodetest.App(ns, "bare", nil, nil, "tcp", "-listen=:8080"))))
	require.NoError(t, suite.Client.Create(ctx, nodetest.Service(ns, "bare", nodetest.ServicePort("http", 80, 8080))))
	require.NoError(t, suite.Client.Create(ctx, agent(ns)))

	peer := *suite.ReadyPod(t, ns, "agent")
	for _, name := range []string{"rabbitmq", "redis", "bare"} {
		p := *suite.ReadyPod(t, ns, name)
		require.Len(t, p.Spec.InitContainers, 1, "%s runs decco's sidecar", name)
		assert.Contains(t, p.Annotations, space.AnnotationInterception)
		var svc corev1.Service
		require.NoError(t, suite.Client.Get(ctx, types(ns, name), &svc))
		assert.NotContains(t, svc.Annotations, space.AnnotationRewrittenPorts, "Services are not rewritten in cni mode")
		for _, sp := range svc.Spec.Ports {
			assert.NotEqual(t, inject.ListenerPort(sp.Port), sp.TargetPort.IntVal, "Services are not rewritten in cni mode")
		}
	}
	for _, addr := range []string{"rabbitmq:5672", "rabbitmq:15672", "redis:6379", "redis:16379", "bare:80"} {
		target := strings.Replace(addr, ":", "."+ns+".svc:", 1)
		deccotest.WaitFor(t, 30*time.Second, "the agent reaching "+target+" over mutual TLS", func() error {
			line, err := suite.Probe(&peer, target)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(line, "greeting from "+strings.Split(addr, ":")[0]) {
				return fmt.Errorf("answered %q", line)
			}
			return nil
		})
	}
}

func types(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

// TestFailsClosedWithoutThePlugin: a pod on a node network without
// decco-cni (here a runtime handler whose network lacks it, as a node
// where the plugin was never installed) gets no interception rules. Its
// sidecar then never becomes ready, saying why, and the app never starts,
// so no plaintext port is ever served.
func TestFailsClosedWithoutThePlugin(t *testing.T) {
	ctx := context.Background()
	ns := suite.NewSpace(t, "closed", nil)
	rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "without-decco-cni-" + rand.String(4)}, Handler: node.RuntimeWithoutDeccoCNI}
	require.NoError(t, suite.Client.Create(ctx, rc))
	t.Cleanup(func() { _ = suite.Client.Delete(context.Background(), rc) })
	tmpl := nodetest.App(ns, "db", nil, []corev1.ContainerPort{nodetest.TCPPort("mysql", 3306)}, "tcp", "-listen=:3306")
	tmpl.Spec.RuntimeClassName = &rc.Name
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "db", tmpl)))

	var pod corev1.Pod
	var why string
	deccotest.WaitFor(t, 90*time.Second, "the sidecar to report the missing rules, and the kubelet its failed startup probe", func() error {
		var pods corev1.PodList
		if err := suite.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "db"}); err != nil {
			return err
		}
		if len(pods.Items) != 1 || pods.Items[0].Status.PodIP == "" {
			return fmt.Errorf("no pod with an address yet: %s", nodetest.PodStates(pods.Items))
		}
		pod = pods.Items[0]
		resp, err := http.Get("http://" + net.JoinHostPort(pod.Status.PodIP, "15021") + "/ready")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if why = string(body); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(why, "interception rules not in place") {
			return fmt.Errorf("the sidecar's /ready answered %d: %s", resp.StatusCode, why)
		}
		var events corev1.EventList
		if err := suite.Client.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Reason == "Unhealthy" && e.InvolvedObject.Name == pod.Name && strings.Contains(e.Message, "Startup probe failed") {
				return suite.Client.Get(ctx, client.ObjectKeyFromObject(&pod), &pod)
			}
		}
		return errors.New("no failed startup probe recorded yet")
	})
	t.Logf("the sidecar, without decco-cni: %s", strings.TrimSpace(why))
	require.NotEmpty(t, pod.Status.PodIP, "the pod has its network")
	for _, s := range pod.Status.ContainerStatuses {
		assert.Nil(t, s.State.Running, "app container %s must not run", s.Name)
		assert.Zero(t, s.RestartCount)
	}
	assert.False(t, nodetest.PodReady(&pod))
	_, err := net.DialTimeout("tcp", net.JoinHostPort(pod.Status.PodIP, "3306"), time.Second)
	assert.Error(t, err, "nothing serves the app's port")
}

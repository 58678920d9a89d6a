package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node"
)

// newSpace creates a space namespace named after prefix.
func newSpace(t *testing.T, prefix string) string {
	t.Helper()
	return newSpaceWith(t, prefix, nil)
}

// newSpaceWith creates a space namespace named after prefix, with
// annotations besides its domain. The namespace is created a space in one
// request, as a manifest applies it: the webhook must never see it
// half-made (its cache could still hold the namespace without the label
// when the first pod arrives).
func newSpaceWith(t *testing.T, prefix string, annotations map[string]string) string {
	t.Helper()
	node.Require(t)
	name := prefix + "-" + rand.String(5)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Labels:      map[string]string{space.LabelSpace: name},
		Annotations: map[string]string{space.AnnotationDomain: "example.com"},
	}}
	maps.Copy(ns.Annotations, annotations)
	require.NoError(t, k8s.Create(context.Background(), ns))
	return ns.Name
}

// app is a pod template running testapp with args, in space ns.
func app(ns, name string, annotations map[string]string, ports []corev1.ContainerPort, args ...string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{"app": name, space.LabelSpace: ns},
			Annotations: annotations,
		},
		Spec: restricted(corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:            "app",
				Image:           node.AppImage,
				ImagePullPolicy: corev1.PullNever,
				Args:            args,
				Ports:           ports,
			}},
		}),
	}
}

// appUID is the apps' user: not root, and not the sidecar's UID, which
// decco reserves so that only the sidecar can read the space's key.
const appUID = 10001

// restricted makes spec pass Pod Security "restricted", the level decco
// sets on every space by default.
func restricted(spec corev1.PodSpec) corev1.PodSpec {
	spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   new(true),
		RunAsUser:      new(int64(appUID)),
		RunAsGroup:     new(int64(appUID)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	for i := range spec.Containers {
		spec.Containers[i].SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: new(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
	}
	return spec
}

func deployment(ns, name string, tmpl corev1.PodTemplateSpec) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: tmpl,
		},
	}
}

func service(ns, name string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{space.LabelSpace: ns}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "main", Port: port, TargetPort: intstr.FromInt32(port)}},
		},
	}
}

// readyPod waits until the Deployment's pod has every container, the
// sidecar included, ready, and returns it.
func readyPod(t *testing.T, ns, app string) *corev1.Pod {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			dumpPods(t, ns, app)
		}
	})
	var ready *corev1.Pod
	deccotest.WaitFor(t, 90*time.Second, "pod "+app+" to be Ready", func() error {
		var pods corev1.PodList
		if err := k8s.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
			return err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if podReady(p) {
				ready = p
				return nil
			}
		}
		return fmt.Errorf("%d pods, none Ready: %s", len(pods.Items), podStates(pods.Items))
	})
	return ready
}

// dumpPods logs what the containers of app's pods wrote, read from the
// node's log directory.
func dumpPods(t *testing.T, ns, app string) {
	var pods corev1.PodList
	if err := k8s.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
		return
	}
	for _, p := range pods.Items {
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			t.Logf("--- %s/%s %s:\n%s", ns, p.Name, c.Name, theNode.ContainerLog(ns, p.Name, c.Name))
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func podStates(pods []corev1.Pod) string {
	var parts []string
	for _, p := range pods {
		var cs []string
		for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			state := "?"
			switch {
			case s.State.Running != nil:
				state = fmt.Sprintf("running(ready=%t)", s.Ready)
			case s.State.Waiting != nil:
				state = "waiting:" + s.State.Waiting.Reason + " " + s.State.Waiting.Message
			case s.State.Terminated != nil:
				state = fmt.Sprintf("terminated:%s(%d)", s.State.Terminated.Reason, s.State.Terminated.ExitCode)
			}
			cs = append(cs, s.Name+"="+state)
		}
		parts = append(parts, fmt.Sprintf("%s %s [%s]", p.Name, p.Status.Phase, strings.Join(cs, ", ")))
	}
	return strings.Join(parts, "; ")
}

// probe asks the testapp agent in pod to connect to addr, from inside the
// pod's network namespace. It returns the first line the peer sent, or an
// error if the connection failed.
func probe(pod *corev1.Pod, addr string) (string, error) {
	q := url.Values{"addr": {addr}, "timeout": {"1s"}}
	resp, err := http.Get("http://" + pod.Status.PodIP + ":9000/connect?" + q.Encode())
	if err != nil {
		return "", fmt.Errorf("asking the agent in %s: %w", pod.Name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

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
	ns := newSpace(t, "acme")
	require.NoError(t, k8s.Create(ctx, deployment(ns, "mysql", app(ns, "mysql", nil,
		[]corev1.ContainerPort{{Name: "mysql", ContainerPort: mysqlPort}}, "tcp", fmt.Sprintf("-listen=:%d", mysqlPort)))))
	require.NoError(t, k8s.Create(ctx, service(ns, "mysql", mysqlPort)))
	egress := map[string]string{space.AnnotationEgress: fmt.Sprintf("%d=mysql.%s.svc:%d", egressPort, ns, mysqlPort)}
	require.NoError(t, k8s.Create(ctx, deployment(ns, "client", app(ns, "client", egress, nil, "agent", fmt.Sprintf("-listen=:%d", agentPort)))))

	server := readyPod(t, ns, "mysql")
	clientPod := readyPod(t, ns, "client")
	require.Len(t, server.Spec.InitContainers, 1, "the server runs decco's sidecar")
	require.Len(t, clientPod.Spec.InitContainers, 1, "the client runs decco's sidecar")

	deccotest.WaitFor(t, 30*time.Second, "the MySQL-style greeting through the egress tunnel", func() error {
		line, err := probe(clientPod, fmt.Sprintf("127.0.0.1:%d", egressPort))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "greeting from "+server.Name) {
			return fmt.Errorf("the tunnel answered %q", line)
		}
		return nil
	})

	_, err := probe(clientPod, fmt.Sprintf("%s:%d", server.Status.PodIP, mysqlPort))
	require.Error(t, err, "the server's plaintext port must be closed to other pods")

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: new(int32),
			Template:     app(ns, "migrate", egress, nil, "dial", fmt.Sprintf("-addr=127.0.0.1:%d", egressPort), "-expect=greeting from"),
		},
	}
	job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	require.NoError(t, k8s.Create(ctx, job))
	deccotest.WaitFor(t, 90*time.Second, "the Job to complete", func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return err
		}
		for _, c := range job.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return nil
			}
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return fmt.Errorf("job failed: %s", c.Message)
			}
		}
		return errors.New("not complete yet")
	})
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
	ns := newSpace(t, "named")
	const appPort = 5000
	require.NoError(t, k8s.Create(ctx, deployment(ns, "api", app(ns, "api", nil,
		[]corev1.ContainerPort{{Name: "api", ContainerPort: appPort}}, "tcp", fmt.Sprintf("-listen=:%d", appPort)))))
	svc := service(ns, "api", 443)
	svc.Spec.Ports[0].TargetPort = intstr.FromString("api")
	require.NoError(t, k8s.Create(ctx, svc))
	require.NoError(t, k8s.Create(ctx, deployment(ns, "peer", app(ns, "peer", nil, nil, "agent", fmt.Sprintf("-listen=:%d", agentPort)))))
	server := readyPod(t, ns, "api")
	peer := readyPod(t, ns, "peer")

	// The listener asks for a client certificate, so the peer's agent
	// gets no greeting: a connection that opens is all it reports.
	deccotest.WaitFor(t, 30*time.Second, "the listener through the Service, by its named port", func() error {
		_, err := probe(peer, fmt.Sprintf("api.%s.svc:443", ns))
		return err
	})
	_, err := probe(peer, fmt.Sprintf("%s:%d", server.Status.PodIP, appPort))
	require.Error(t, err, "the app's plaintext port must stay closed")
}

// TestStatefulSetPodsByStableName runs a StatefulSet behind a headless
// Service, as clustered charts do: both replicas reach Ready with their
// sidecars, and a peer of the space reaches replica 0's TLS listener by its
// stable DNS name (CoreDNS's answer for <pod>.<service>) while its app port
// stays closed.
func TestStatefulSetPodsByStableName(t *testing.T) {
	ctx := context.Background()
	ns := newSpace(t, "sts")
	const appPort = 6379
	svc := service(ns, "cache", appPort)
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	require.NoError(t, k8s.Create(ctx, svc))
	tmpl := app(ns, "cache", nil, []corev1.ContainerPort{{Name: "redis", ContainerPort: appPort}}, "tcp", fmt.Sprintf("-listen=:%d", appPort))
	require.NoError(t, k8s.Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "cache", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "cache",
			Replicas:    new(int32(2)),
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cache"}},
			Template:    tmpl,
		},
	}))
	require.NoError(t, k8s.Create(ctx, deployment(ns, "peer", app(ns, "peer", nil, nil, "agent", fmt.Sprintf("-listen=:%d", agentPort)))))
	peer := readyPod(t, ns, "peer")
	deccotest.WaitFor(t, 2*time.Minute, "both replicas Ready", func() error {
		var pods corev1.PodList
		if err := k8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "cache"}); err != nil {
			return err
		}
		ready := 0
		for i := range pods.Items {
			if podReady(&pods.Items[i]) && len(pods.Items[i].Spec.InitContainers) == 1 {
				ready++
			}
		}
		if ready != 2 {
			return fmt.Errorf("%d of 2 Ready with the sidecar: %s", ready, podStates(pods.Items))
		}
		return nil
	})
	stable := fmt.Sprintf("cache-0.cache.%s.svc.cluster.local", ns)
	deccotest.WaitFor(t, 30*time.Second, "replica 0's listener by its stable name", func() error {
		_, err := probe(peer, fmt.Sprintf("%s:%d", stable, inject.ListenerPort(appPort)))
		return err
	})
	_, err := probe(peer, fmt.Sprintf("%s:%d", stable, appPort))
	require.Error(t, err, "replica 0's app port must stay closed to its peers")
}

package faults

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/reliability/reltest"
	"github.com/decco-dev/decco/test/testkit"
	"github.com/decco-dev/decco/webhook"
)

// webhookServer is a webhook-only decco process on loopback, with a
// serving certificate from a CA of the test's own.
type webhookServer struct {
	proc    *reltest.Proc
	args    []string
	port    int
	probe   int
	certDir string
	ca      *testkit.CA
}

// startWebhook starts decco serving the webhook (no reconciler) with
// extra flags, and registers it with the apiserver.
func startWebhook(t *testing.T, extra ...string) *webhookServer {
	t.Helper()
	w := &webhookServer{port: reltest.FreeLoopbackPort(t), probe: reltest.FreeLoopbackPort(t), certDir: t.TempDir(),
		ca: testkit.NewCA(t, "decco-webhook-ca")}
	w.ca.Issue(t, "localhost", "127.0.0.1").Write(t, w.certDir)
	w.args = append(reltest.WebhookArgs(cluster.Kubeconfig, "127.0.0.1", w.port, w.certDir, reltest.LoopbackAddr(w.probe)), extra...)
	w.start(t)
	reltest.RegisterWebhooks(t, cluster.Client, webhook.URLClientConfig(w.url(), w.ca.PEM))
	return w
}

func (w *webhookServer) start(t *testing.T) {
	t.Helper()
	w.proc = reltest.Start(t, "decco webhook", w.args, reltest.StartOptions{})
	w.waitReady(t)
}

func (w *webhookServer) url() string { return "https://" + w.addr() }

func (w *webhookServer) addr() string { return reltest.LoopbackAddr(w.port) }

// readyz returns the status code of the manager's /readyz.
func (w *webhookServer) readyz() (int, error) {
	resp, err := http.Get("http://" + reltest.LoopbackAddr(w.probe) + "/readyz")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (w *webhookServer) waitReady(t *testing.T) {
	t.Helper()
	reltest.WaitFor(t, 60*time.Second, "decco ready", func() error {
		select {
		case <-w.proc.Exited():
			t.Fatalf("decco exited before it was ready:\n%s", w.proc.Log())
		default:
		}
		code, err := w.readyz()
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("/readyz %d", code)
		}
		return err
	})
}

// podWatch records every pod of a namespace the apiserver ever stores
// without decco's sidecar: the proof that no un-injected pod exists in a
// space at any moment, not only at the end.
type podWatch struct {
	stop func()
	done chan struct{}

	mu          sync.Mutex
	seen        int
	notInjected []string
}

func watchPods(t *testing.T, ns string) *podWatch {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cluster.Config)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	pw := &podWatch{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(pw.done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			pw.mu.Lock()
			pw.seen++
			if !deccotest.Injected(pod) {
				pw.notInjected = append(pw.notInjected, pod.Name)
			}
			pw.mu.Unlock()
		}
	}()
	t.Cleanup(cancel)
	return pw
}

// result stops the watch and returns what it saw.
func (pw *podWatch) result() (seen int, notInjected []string) {
	pw.stop()
	<-pw.done
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.seen, pw.notInjected
}

// Webhook down (every replica, as after a crash): pods outside spaces,
// kube-system included, still create; a pod in a space is refused with a
// message naming decco's webhook; a ReplicaSet scaled up meanwhile keeps
// retrying (its FailedCreate event says why) and gets its pods, injected,
// once the webhook is back. A watch on the space proves no un-injected pod
// existed there at any moment.
func TestWebhookDownFailsClosedOnlyInSpaces(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	c := cluster.Client
	w := startWebhook(t)
	ns := reltest.EnsureSpace(t, c, "down-space")
	reltest.EnsureNamespace(t, c, "down-plain")
	pods := watchPods(t, ns)
	rs := replicaSet(ns, "web")
	require.NoError(t, c.Create(ctx, rs), "a ReplicaSet with no pods yet, created while the webhook is up")

	w.proc.Kill()
	down := time.Now()

	for _, other := range []string{"kube-system", "down-plain"} {
		pod := plainPod(other)
		require.NoError(t, c.Create(ctx, pod), "a pod in %s must not depend on decco's webhook", other)
		require.NoError(t, c.Delete(ctx, pod))
	}
	err := c.Create(ctx, spacePod(ns))
	require.Error(t, err, "a pod in a space must not be admitted without injection")
	assert.Contains(t, err.Error(), `failed calling webhook "pods.decco.io"`)
	assert.Contains(t, err.Error(), "connection refused")
	t.Logf("while down, a pod in the space is refused with: %v", err)

	// Scaling through the scale subresource (which no decco webhook
	// matches) makes the ReplicaSet controller create pods now.
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: rs.Name}, Spec: autoscalingv1.ScaleSpec{Replicas: 3}}
	require.NoError(t, c.SubResource("scale").Update(ctx, rs, client.WithSubResourceBody(scale)))
	var failed string
	reltest.WaitFor(t, 60*time.Second, "the ReplicaSet's FailedCreate event", func() error {
		failed = event(t, ns, rs.Name, "FailedCreate")
		if failed == "" {
			return fmt.Errorf("no FailedCreate event yet")
		}
		return nil
	})
	assert.Contains(t, failed, `failed calling webhook "pods.decco.io"`)
	t.Logf("the ReplicaSet reports: %s", failed)
	// A few seconds down, so the ReplicaSet controller backs off as it
	// would after a real outage.
	time.Sleep(time.Until(down.Add(outage)))
	attempts := eventCount(t, ns, rs.Name, "FailedCreate")

	w.start(t)
	back := time.Now()
	var created time.Duration
	reltest.WaitFor(t, 2*time.Minute, "the ReplicaSet's 3 pods once the webhook is back", func() error {
		var list corev1.PodList
		if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{"app": "web"}); err != nil {
			return err
		}
		if len(list.Items) < 3 {
			return fmt.Errorf("%d pods", len(list.Items))
		}
		created = time.Since(back)
		return nil
	})
	seen, notInjected := pods.result()
	assert.Empty(t, notInjected, "pods stored in the space without the sidecar")
	assert.Positive(t, seen)
	t.Logf("webhook down for %s, %d creations refused; the 3 pods created, injected, %s after it was back (ReplicaSet controller backoff); %d pod events in the space, %d un-injected",
		back.Sub(down).Round(time.Millisecond), attempts, created.Round(time.Millisecond), seen, len(notInjected))
}

// outage is how long TestWebhookDownFailsClosedOnlyInSpaces keeps the
// webhook down.
const outage = 5 * time.Second

// eventCount sums the counts of events reason on object name in ns.
func eventCount(t *testing.T, ns, name, reason string) int32 {
	t.Helper()
	var list corev1.EventList
	require.NoError(t, cluster.Client.List(context.Background(), &list, client.InNamespace(ns)))
	var n int32
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason {
			n += max(e.Count, 1)
		}
	}
	return n
}

// event returns the message of the latest event reason on object name in
// ns, or "".
func event(t *testing.T, ns, name, reason string) string {
	t.Helper()
	var list corev1.EventList
	require.NoError(t, cluster.Client.List(context.Background(), &list, client.InNamespace(ns)))
	msg := ""
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason {
			msg = e.Message
		}
	}
	return msg
}

func replicaSet(ns, name string) *appsv1.ReplicaSet {
	labels := map[string]string{"app": name, space.LabelSpace: ns}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
			},
		},
	}
}

func plainPod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "plain-"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
}

// spacePod is a pod opting into space ns, with one port for TLS.
func spacePod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "web-", Labels: map[string]string{space.LabelSpace: ns, "app": "bare"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
}

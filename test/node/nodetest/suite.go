package nodetest

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
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node"
)

// Suite is a node suite's cluster: the client its tests act through and
// the node their pods run on.
type Suite struct {
	Client client.Client
	Node   *node.Node
	// ProbeTimeout bounds each connection Probe asks an agent for.
	ProbeTimeout time.Duration
	// Network is the node's address plan (node.DualStackNetwork for a
	// dual-stack node); node.DefaultNetwork if zero.
	Network node.Network
}

// NewSpace creates a space namespace named after prefix, with annotations
// besides its domain. The namespace is created a space in one request, as
// a manifest applies it: the webhook must never see it half-made (its
// cache could still hold the namespace without the label when the first
// pod arrives).
func (s Suite) NewSpace(t *testing.T, prefix string, annotations map[string]string) string {
	t.Helper()
	node.Require(t)
	name := prefix + "-" + rand.String(5)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Labels:      map[string]string{space.LabelSpace: name},
		Annotations: map[string]string{space.AnnotationDomain: "example.com"},
	}}
	maps.Copy(ns.Annotations, annotations)
	require.NoError(t, s.Client.Create(context.Background(), ns))
	return ns.Name
}

// ReadyPod waits up to 90s until a pod of app has every container, the
// sidecar included, ready, and returns it.
func (s Suite) ReadyPod(t *testing.T, ns, app string) *corev1.Pod {
	t.Helper()
	return &s.ReadyPods(t, ns, app, 1, 90*time.Second)[0]
}

// ReadyPods waits until want pods of app are Ready, sidecar included, and
// returns them. If the test fails, the containers' logs are dumped.
func (s Suite) ReadyPods(t *testing.T, ns, app string, want int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			s.DumpPods(t, ns, app)
		}
	})
	var ready []corev1.Pod
	deccotest.WaitFor(t, timeout, fmt.Sprintf("%d pods of %s to be Ready", want, app), func() error {
		var pods corev1.PodList
		if err := s.Client.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
			return err
		}
		ready = ready[:0]
		for _, p := range pods.Items {
			if PodReady(&p) {
				ready = append(ready, p)
			}
		}
		if len(ready) < want {
			return fmt.Errorf("%d of %d Ready: %s", len(ready), want, PodStates(pods.Items))
		}
		return nil
	})
	return ready
}

// DumpPods logs what the containers of app's pods wrote, read from the
// node's log directory.
func (s Suite) DumpPods(t *testing.T, ns, app string) {
	var pods corev1.PodList
	if err := s.Client.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
		t.Logf("listing the pods of %s/%s for their logs: %v", ns, app, err)
		return
	}
	for _, p := range pods.Items {
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			t.Logf("--- %s/%s %s:\n%s", ns, p.Name, c.Name, s.Node.ContainerLog(ns, p.Name, c.Name))
		}
	}
}

// Probe asks the testapp agent in pod (listening on :9000) to connect to
// addr from inside the pod's network namespace. It returns the first line
// the peer sent, or why the connection failed.
func (s Suite) Probe(pod *corev1.Pod, addr string) (string, error) {
	return s.ProbeSending(pod, addr, "")
}

// ProbeSending is Probe with the agent sending send once connected (to
// put a marker on the wire that a capture looks for).
func (s Suite) ProbeSending(pod *corev1.Pod, addr, send string) (string, error) {
	q := url.Values{"addr": {addr}, "timeout": {s.ProbeTimeout.String()}}
	if send != "" {
		q.Set("send", send)
	}
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

// WaitJob waits up to 90s for job to complete; a failed Job's message is
// the reason given if it never does.
func (s Suite) WaitJob(t *testing.T, job *batchv1.Job) {
	t.Helper()
	deccotest.WaitFor(t, 90*time.Second, "Job "+job.Name+" to complete", func() error {
		if err := s.Client.Get(context.Background(), client.ObjectKeyFromObject(job), job); err != nil {
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

package cninode

import (
	"context"
	"errors"
	"fmt"
	"io"
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

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node"
)

// The helpers below mirror test/e2e/node's; the two suites need separate
// packages (one interception mode per cluster), see the package doc.

func newSpace(t *testing.T, prefix string) string {
	t.Helper()
	node.Require(t)
	name := prefix + "-" + rand.String(5)
	require.NoError(t, k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Labels:      map[string]string{space.LabelSpace: name},
		Annotations: map[string]string{space.AnnotationDomain: "example.com"},
	}}))
	return name
}

const appUID = 10001

// app is a pod template running testapp with args, in space ns.
func app(ns, name string, annotations map[string]string, ports []corev1.ContainerPort, args ...string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, space.LabelSpace: ns}, Annotations: annotations},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: new(true), RunAsUser: new(int64(appUID)), RunAsGroup: new(int64(appUID)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "app", Image: node.AppImage, ImagePullPolicy: corev1.PullNever, Args: args, Ports: ports,
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: new(false),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
	}
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

// service is a Service of space ns for app name, port -> target.
func service(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{space.LabelSpace: ns}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: ports},
	}
}

func svcPort(name string, port, target int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, TargetPort: intstr.FromInt32(target)}
}

func tcpPort(name string, n int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: n, Protocol: corev1.ProtocolTCP}
}

// readyPods waits until want pods of app are Ready, sidecar included.
func readyPods(t *testing.T, ns, app string, want int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			dumpPods(t, ns, app)
		}
	})
	var ready []corev1.Pod
	deccotest.WaitFor(t, timeout, fmt.Sprintf("%d pods of %s to be Ready", want, app), func() error {
		var pods corev1.PodList
		if err := k8s.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
			return err
		}
		ready = ready[:0]
		for _, p := range pods.Items {
			if podReady(&p) {
				ready = append(ready, p)
			}
		}
		if len(ready) < want {
			return fmt.Errorf("%d of %d Ready: %s", len(ready), want, podStates(pods.Items))
		}
		return nil
	})
	return ready
}

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

// probe asks the testapp agent in pod (its port excluded from
// interception with decco.io/plaintext-ports, so the test reaches it) to
// connect to addr from inside the pod: the connection leaves through the
// sidecar's mutual-TLS client. It returns the first line the peer sent.
func probe(pod *corev1.Pod, addr string) (string, error) {
	q := url.Values{"addr": {addr}, "timeout": {"2s"}}
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

// agent is a client pod of the space whose agent port the test reaches.
func agent(ns string) *appsv1.Deployment {
	return deployment(ns, "agent", app(ns, "agent", map[string]string{space.AnnotationPlaintextPorts: "agent"},
		[]corev1.ContainerPort{tcpPort("agent", 9000)}, "agent", "-listen=:9000"))
}

func waitJob(t *testing.T, job *batchv1.Job) {
	t.Helper()
	deccotest.WaitFor(t, 90*time.Second, "Job "+job.Name+" to complete", func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(job), job); err != nil {
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

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/spacectl"
)

// A Service port whose target the selected pods don't declare (a name
// they lack, a number no container declares) is reported in all three
// places (and a Service without the space label whose numeric target is an
// app port decco took over is warned about on the workload), never silently rewritten to a listener nobody runs: as an
// admission warning (on the workload when the Service came first, as Helm
// orders them, and on the Service once its pods exist), in the space's
// status with a PortMismatch Event, and by spacectl describe space. A fix
// clears the status.
func TestServicePortsNoPodDeclaresAreReported(t *testing.T) {
	ns := newSpace(t, "mismatch")
	ctx := context.Background()
	warned := &warningLog{}
	c := clientWithWarnings(t, warned)

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Labels: map[string]string{space.LabelSpace: ns}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
			{Name: "follower", Port: 2888, TargetPort: intstr.FromString("follower")},
			{Name: "debug", Port: 7000, TargetPort: intstr.FromInt32(7000)},
		}},
	}
	require.NoError(t, c.Create(ctx, svc))
	assert.Empty(t, warned.take(), "no pod selected yet: nothing to compare")
	// A Service the user did not label: decco leaves its numeric target on
	// the app's port, which it closes.
	internal := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-internal"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
		}},
	}
	require.NoError(t, c.Create(ctx, internal))

	want := []space.PortMismatch{
		{Service: "web", Port: 2888, Target: "follower", Missing: 1, Selected: 1},
		{Service: "web", Port: 7000, Target: "7000", Missing: 1, Selected: 1},
	}
	require.NoError(t, c.Create(ctx, webDeployment(ns, ns)))
	assert.Equal(t, append(messagesOf(want),
		"Service web-internal port 80 targets the app's plaintext port 8080, which decco closes to other pods: the Service has no decco.io/space label, so decco doesn't point it at the TLS listener; label it decco.io/space="+ns),
		warned.take(), "the Deployment's warnings")

	pod := waitForPod(t, ns, "app=web")
	waitFor(t, 30*time.Second, "the mismatches in the status of "+ns, func() error {
		st, _ := status(t, ns)
		if !assert.ObjectsAreEqual(want, st.Mismatches) {
			return fmt.Errorf("status lists %+v", st.Mismatches)
		}
		return nil
	})
	waitEvent(t, ns, "PortMismatch")

	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(svc), svc))
	svc.Annotations = map[string]string{"team": "web"}
	require.NoError(t, c.Update(ctx, svc))
	assert.Equal(t, messagesOf(want), warned.take(), "the Service's warnings, against pod %s", pod.Name)

	out := describe(t, ns)
	assert.Contains(t, out, "Service ports no pod declares:")
	assert.Regexp(t, `\n  web +2888 +follower +1 of 1 +declare the port in the pod template`, out)
	assert.Regexp(t, `\n  web +7000 +7000 +1 of 1 +declare the port in the pod template \(ports: \[\{containerPort: 7000\}\]\)`, out)

	// The fix: target what the pods declare.
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(svc), svc))
	svc.Spec.Ports = svc.Spec.Ports[:1]
	require.NoError(t, c.Update(ctx, svc))
	assert.Empty(t, warned.take())
	waitFor(t, 30*time.Second, "no mismatch in the status of "+ns, func() error {
		if st, _ := status(t, ns); len(st.Mismatches) > 0 {
			return fmt.Errorf("status lists %+v", st.Mismatches)
		}
		return nil
	})
	assert.NotContains(t, describe(t, ns), "Service ports no pod declares")
}

func messagesOf(ms []space.PortMismatch) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Message())
	}
	return out
}

// describe runs `spacectl describe space ns` in-process.
func describe(t *testing.T, ns string) string {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	code := spacectl.Run(context.Background(), []string{"spacectl", "--kubeconfig", cluster.Kubeconfig, "describe", "space", ns}, streams)
	require.Equal(t, 0, code, "spacectl describe space %s: %s", ns, errOut.String())
	return out.String()
}

// warningLog keeps the apiserver's warnings (admission warnings among
// them) until taken.
type warningLog struct {
	mu   sync.Mutex
	text []string
}

func (w *warningLog) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text = append(w.text, text)
}

// take returns the warnings so far, decco's only, and forgets them.
func (w *warningLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, s := range w.text {
		if strings.HasPrefix(s, "Service ") {
			out = append(out, s)
		}
	}
	w.text = nil
	return slices.Clip(out)
}

func clientWithWarnings(t *testing.T, w *warningLog) client.Client {
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WarningHandler, cfg.WarningHandlerWithContext = nil, w
	c, err := client.New(cfg, client.Options{Scheme: k8s.Scheme(), Mapper: k8s.RESTMapper()})
	require.NoError(t, err)
	return c
}

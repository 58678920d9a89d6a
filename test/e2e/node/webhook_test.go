package node

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// TestWebhookSurvivesManagerPodDeletion deletes a manager pod while pods
// are being admitted in a space, as a node drain or a rollout does: the
// chart's second replica, readiness and shutdown delay keep every
// admission answered while kube-proxy moves the webhook Service's traffic.
func TestWebhookSurvivesManagerPodDeletion(t *testing.T) {
	ctx := context.Background()
	ns := suite.NewSpace(t, "churn", nil)
	admit := func(ctx context.Context) error {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "churn-", Namespace: ns, Labels: map[string]string{space.LabelSpace: ns}},
			Spec: nodetest.Restricted(corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: node.AppImage,
				Ports: []corev1.ContainerPort{{Name: "tcp", ContainerPort: 5000}},
			}}}),
		}
		if err := suite.Client.Create(ctx, pod, client.DryRunAll); err != nil {
			return err
		}
		if !deccotest.Injected(pod) {
			return errors.New("admitted without the sidecar")
		}
		return nil
	}
	// The space's ServiceAccount and the webhook's cache settle first.
	deccotest.WaitFor(t, 30*time.Second, "a first admission in the space", func() error { return admit(ctx) })

	churn, stop := context.WithCancel(ctx)
	var admitted, failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for churn.Err() == nil {
				err := admit(churn)
				switch {
				case err == nil:
					admitted.Add(1)
				case churn.Err() == nil:
					failed.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	start := time.Now()
	deccotest.WaitFor(t, 30*time.Second, "churn under way before the deletion", func() error {
		if n := admitted.Load(); n < 20 {
			return errors.New("too few admissions yet")
		}
		return nil
	})
	var pods corev1.PodList
	require.NoError(t, suite.Client.List(ctx, &pods, client.InNamespace(systemNamespace), client.MatchingLabels{"app.kubernetes.io/component": "manager"}))
	require.Len(t, pods.Items, 2)
	victim := pods.Items[0]
	require.NoError(t, suite.Client.Delete(ctx, &victim))
	deccotest.WaitFor(t, 2*time.Minute, "the deleted manager pod to be gone and replaced", func() error {
		var gone corev1.Pod
		if err := suite.Client.Get(ctx, client.ObjectKeyFromObject(&victim), &gone); err == nil {
			return errors.New(victim.Name + " still terminating")
		}
		var d appsv1.Deployment
		if err := suite.Client.Get(ctx, client.ObjectKey{Namespace: systemNamespace, Name: "decco"}, &d); err != nil {
			return err
		}
		if d.Status.ReadyReplicas < 2 {
			return errors.New("fewer than 2 replicas ready")
		}
		return nil
	})
	stop()
	wg.Wait()
	t.Logf("%d admissions in %s across a manager pod's deletion and replacement, %d failed", admitted.Load(), time.Since(start).Round(100*time.Millisecond), failed.Load())
	require.Zero(t, failed.Load(), "admissions failed while a manager pod went away; first: %v", firstErr)
	require.Greater(t, admitted.Load(), int64(50), "the churn admitted too few pods to mean anything")
}

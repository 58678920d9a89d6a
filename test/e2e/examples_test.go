package e2e

import (
	"context"
	"maps"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
)

// examples/ applied as the README says: every workload's pod is injected,
// and the pod as stored, sidecar included, passes Pod Security
// "restricted", which decco enforces in every space by default. (The
// suites' spaces enforce baseline, so the check is made where restricted
// is enforced; see requireRestricted.)
func TestExamplesPassRestrictedPodSecurity(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	objs, err := deccotest.ReadManifests(filepath.Join(controlplane.RepoRoot(), "examples"))
	require.NoError(t, err)
	var workloads []client.ObjectKey
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace":
			t.Cleanup(func() { _ = k8s.Delete(context.Background(), o) })
		case "Deployment":
			workloads = append(workloads, client.ObjectKeyFromObject(o))
		}
	}
	require.NotEmpty(t, workloads, "examples/ has Deployments")
	require.NoError(t, deccotest.Apply(ctx, k8s, "", objs))

	for _, w := range workloads {
		// The examples' Deployments select their pods by app=<name>.
		pod := waitForPod(t, w.Namespace, "app="+w.Name+",pod-template-hash")
		require.True(t, deccotest.Injected(&pod), "example %s is injected", w)
		requireRestricted(t, &pod, "example "+w.String())
	}
}

// requireRestricted checks that pod, as stored in its space, passes Pod
// Security restricted: a copy dry-run into a namespace that enforces it
// (and is no space, so decco leaves it alone) is admitted by the
// apiserver's own Pod Security admission. A control without the pod's
// security context is refused there, so the namespace does enforce.
func requireRestricted(t *testing.T, pod *corev1.Pod, what string) {
	t.Helper()
	ctx := context.Background()
	strict := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "restricted-",
		Labels: map[string]string{space.PodSecurityPrefix + "enforce": "restricted"}}}
	require.NoError(t, k8s.Create(ctx, strict))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), strict) })
	// Without the space label, which decco refuses outside a space.
	labels := maps.Clone(pod.Labels)
	delete(labels, space.LabelSpace)
	copyOf := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: strict.Name, Name: pod.Name, Labels: labels, Annotations: pod.Annotations}, Spec: *pod.Spec.DeepCopy()}
	copyOf.Spec.NodeName = ""
	require.NoError(t, k8s.Create(ctx, copyOf, client.DryRunAll), "%s must pass Pod Security restricted", what)
	denied := copyOf.DeepCopy()
	denied.Spec.SecurityContext = nil
	for i := range denied.Spec.Containers {
		denied.Spec.Containers[i].SecurityContext = nil
	}
	err := k8s.Create(ctx, denied, client.DryRunAll)
	require.Error(t, err, "control: the restricted namespace enforces")
	assert.Contains(t, err.Error(), "violates PodSecurity \"restricted:latest\"")
}

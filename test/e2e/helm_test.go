package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
)

// The output of a real Helm chart (helm create's nginx starter, see the
// file's header) applied unchanged into a space: its Deployment's pods are
// injected, its Service's named targetPort reaches TLS, and the chart's
// unlabeled test Pod is left alone.
func TestHelmChartOutputIsInjected(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	const ns = "shop" // the chart was rendered with decco.io/space=shop
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels:      map[string]string{space.LabelSpace: ns},
		Annotations: map[string]string{space.AnnotationDomain: "example.com"}}}
	require.NoError(t, k8s.Create(ctx, namespace))

	data, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "test", "testdata", "helm-create-web.yaml"))
	require.NoError(t, err)
	objs, err := deccotest.DecodeYAML(data)
	require.NoError(t, err)
	require.Len(t, objs, 4)
	require.NoError(t, deccotest.Apply(ctx, k8s, ns, objs))

	// pod-template-hash: the chart's test Pod carries the same app labels.
	pod := waitForPod(t, ns, "app.kubernetes.io/name=web,pod-template-hash")
	require.True(t, deccotest.Injected(&pod))
	// The chart's Service targets port "http", which now names the
	// sidecar's TLS listener for the app's port 80.
	listener := findPort(&pod, "http")
	require.NotNil(t, listener)
	assert.Equal(t, inject.SidecarName, listener.owner)
	assert.Equal(t, inject.ListenerPort(80), listener.number)
	web := findContainer(t, &pod, "web")
	assert.Equal(t, int32(80), web.ReadinessProbe.HTTPGet.Port.IntVal, "probe on the moved name must target the app's number")

	var testPod corev1.Pod
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-test-connection"}, &testPod))
	assert.False(t, deccotest.Injected(&testPod), "the chart's test pod has no space label")
}

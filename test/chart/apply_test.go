package chart

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/decco-dev/decco/test/controlplane"
)

// fieldOwner is this package's server-side apply field manager.
const fieldOwner = "decco-chart-test"

// Every object of every value set is accepted by the real apiserver, with
// the CRDs it refers to installed (cert-manager, Gateway API, external-dns,
// and prometheus-operator's ServiceMonitor): server-side apply, dry-run,
// so nothing is left behind and no webhook configuration is registered.
// Server-side apply refuses fields the schema doesn't know.
func TestRenderedObjectsAreAcceptedByTheAPIServer(t *testing.T) {
	cluster.Need(t)
	installServiceMonitorCRD(t)
	ctx := context.Background()
	for _, set := range valueSets {
		t.Run(set.name, func(t *testing.T) {
			r := mustRender(t, set)
			for _, o := range r.objects {
				if ns := o.GetNamespace(); ns != "" {
					ensureNamespace(t, ns)
				}
			}
			kinds := map[string]int{}
			for _, o := range r.objects {
				kinds[o.GetKind()]++
				err := apply(ctx, o, client.DryRunAll)
				assert.NoError(t, err, "the apiserver refused %s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
			}
			t.Logf("%d objects accepted: %v", len(r.objects), kinds)
		})
	}
}

// apply server-side applies o as rendered.
func apply(ctx context.Context, o *unstructured.Unstructured, opts ...client.ApplyOption) error {
	opts = append(opts, client.FieldOwner(fieldOwner), client.ForceOwnership)
	return cluster.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), opts...)
}

// ensureNamespace creates namespace ns if it doesn't exist; namespaced
// dry-run requests need their namespace to be real.
func ensureNamespace(t *testing.T, ns string) {
	t.Helper()
	err := cluster.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err, "creating namespace %s", ns)
	}
}

// prometheusOperator, at prometheusOperatorVersion, is the module the
// ServiceMonitor CRD is read from. The chart only renders a
// ServiceMonitor, so only the CRD is needed, taken from the module cache
// like the other CRDs of the test control plane.
const (
	prometheusOperator        = "github.com/prometheus-operator/prometheus-operator"
	prometheusOperatorVersion = "v0.85.0"
)

// installServiceMonitorCRD installs prometheus-operator's ServiceMonitor
// CRD and waits until it serves.
func installServiceMonitorCRD(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	dir, err := controlplane.ModuleDir(ctx, prometheusOperator, prometheusOperatorVersion)
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(dir, "example", "prometheus-operator-crd", "monitoring.coreos.com_servicemonitors.yaml"))
	require.NoError(t, err)
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, yaml.Unmarshal(raw, &crd))
	if err := cluster.Client.Create(ctx, &crd); err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err, "creating the ServiceMonitor CRD")
	}
	require.Eventually(t, func() bool {
		var got apiextensionsv1.CustomResourceDefinition
		if cluster.Client.Get(ctx, client.ObjectKeyFromObject(&crd), &got) != nil {
			return false
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond, "the ServiceMonitor CRD is not established")
}

// Package e2e tests decco end to end against the real local control plane:
// kube-apiserver calls the manager's webhook over TLS, and the real
// controller-manager turns workloads into Pods.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
)

var (
	cluster *controlplane.Cluster
	k8s     client.Client
)

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(&withManager{m}, &cluster, controlplane.Options{WithCertManager: true}))
}

// withManager starts decco's manager once the cluster is up and stops it
// before the cluster goes.
type withManager struct{ m *testing.M }

func (w *withManager) Run() int {
	if cluster == nil {
		return w.m.Run()
	}
	k8s = cluster.Client
	if os.Getenv("DECCO_TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapcore.Level(-2))))
	}
	mgr, err := deccotest.StartManager(context.Background(), managerWrites.wrap(cluster.Config), cluster.Client, tuneReconciler)
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting decco's manager: %v\n", err)
		return 1
	}
	defer mgr.Stop()
	return w.m.Run()
}

// newSpace creates a space namespace named after prefix.
func newSpace(t *testing.T, prefix string) string {
	t.Helper()
	cluster.Need(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	require.NoError(t, k8s.Create(context.Background(), ns))
	ns.Labels = map[string]string{space.LabelSpace: ns.Name}
	ns.Annotations = map[string]string{space.AnnotationDomain: "example.com"}
	require.NoError(t, k8s.Update(context.Background(), ns))
	return ns.Name
}

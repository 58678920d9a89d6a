// Package dataplane proves the data plane end to end: the sidecar program
// runs with exactly the arguments the webhook wrote into a real injected
// Pod, in front of real servers, with certificates cert-manager's real
// controllers issued for the space, and real stunnel between them.
package dataplane

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
)

var cluster *controlplane.Cluster

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(&withWebhook{m}, &cluster, controlplane.Options{WithCertManager: true}))
}

// withWebhook runs decco's webhook (not the reconciler: the tests create
// the space's PKI themselves, so they depend on nothing else).
type withWebhook struct{ m *testing.M }

func (w *withWebhook) Run() int {
	if cluster == nil {
		return w.m.Run()
	}
	mgr, err := deccotest.StartManager(context.Background(), cluster.Config, cluster.Client, func(o *manager.Options) {
		o.EnableReconciler = false
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting decco's manager: %v\n", err)
		return 1
	}
	defer mgr.Stop()
	return w.m.Run()
}

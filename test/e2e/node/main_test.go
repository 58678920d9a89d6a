// Package node runs decco on a real node (test/node): injected pods start
// under containerd and runc, their sidecars serve real stunnel, Services
// reach listeners through kube-proxy, names resolve through CoreDNS, and
// kube-router enforces decco's NetworkPolicies on real packets.
package node

import (
	"context"
	"fmt"
	"os"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node"
)

var (
	cluster *controlplane.Cluster
	k8s     client.Client
	theNode *node.Node
	// decco is the running manager; tests read its options (system and
	// gateway namespaces) to know what its policies admit.
	decco *deccotest.Manager
)

// gatewayNamespace runs no gateway yet, but decco's policies already
// admit it to every space's listeners; it is apart from the system
// namespace so that the isolation matrix tells the two roles apart.
const gatewayNamespace = "decco-gateway"

func TestMain(m *testing.M) {
	if err := node.CanHost(); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("DECCO_REQUIRE_ALL") == "1" {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "decco-missing: real node: %v\nSKIP: test/e2e/node needs a real node\n", err)
		os.Exit(0)
	}
	os.Exit(controlplane.RunTests(&withNode{m}, &cluster, controlplane.Options{
		WithCertManager: true,
		WithScheduler:   true,
		APIServerArgs:   node.APIServerArgs(),
	}))
}

// withNode starts the node and decco's manager once the cluster is up and
// stops them before the cluster goes.
type withNode struct{ m *testing.M }

func (w *withNode) Run() int {
	if cluster == nil {
		return w.m.Run()
	}
	k8s = cluster.Client
	ctx := context.Background()
	n, err := node.Start(ctx, cluster, node.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the node: %v\n", err)
		return 1
	}
	theNode = n
	defer func() {
		if err := n.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the node: %v\n", err)
		}
	}()
	mgr, err := deccotest.StartManager(ctx, cluster.Config, cluster.Client, func(o *manager.Options) {
		o.SidecarImage = n.Images.Sidecar
		o.Reconciler.Gateway = gatewayNamespace + "/decco"
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting decco's manager: %v\n", err)
		return 1
	}
	defer mgr.Stop()
	decco = mgr
	return w.m.Run()
}

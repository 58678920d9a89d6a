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
)

func TestMain(m *testing.M) {
	os.Exit(node.RunTests(&withManager{m}, &cluster, &theNode, controlplane.Options{WithCertManager: true}))
}

// withManager starts decco's manager in this process once the node is up
// (the chart test installs it as pods) and stops it before the node goes.
type withManager struct{ m *testing.M }

func (w *withManager) Run() int {
	if theNode == nil {
		return w.m.Run()
	}
	k8s = cluster.Client
	mgr, err := deccotest.StartManager(context.Background(), cluster.Config, cluster.Client, func(o *manager.Options) {
		o.SidecarImage = theNode.Images.Sidecar
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting decco's manager: %v\n", err)
		return 1
	}
	defer mgr.Stop()
	return w.m.Run()
}

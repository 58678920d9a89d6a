// Package cninode runs decco with cni interception on a real node
// (test/node): decco-cni chained after the bridge installs each pod's plan
// in its network namespace, sidecars serve TLS on the apps' own ports and
// turn their connections into mutual TLS, and a capture on the node shows
// what crosses the bridge. decco is installed with its Helm chart, with
// dataPlane.interception cni, as users install it.
//
// It is a package of its own because the interception mode is the
// cluster's: test/e2e/node runs the same node with ports mode. The two
// suites take turns on the machine (test/node runs one node at a time).
package cninode

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/node"
	"github.com/decco-dev/decco/test/node/nodetest"
)

var (
	cluster *controlplane.Cluster
	k8s     client.Client
	theNode *node.Node
	suite   nodetest.Suite
)

func TestMain(m *testing.M) {
	os.Exit(node.RunTests(nodetest.WithDecco(m, &theNode, installDecco), &cluster, &theNode, controlplane.Options{WithCertManager: true}))
}

const systemNamespace = "decco-system"

// installDecco points the suite at the cluster and installs the chart
// with cni interception over the node's ranges. The kubernetes Service's
// address and the node's (where the apiserver serves, inside the pod range
// here) don't speak decco's TLS.
func installDecco(ctx context.Context) error {
	k8s = cluster.Client
	suite = nodetest.Suite{Client: k8s, Node: theNode, ProbeTimeout: 2 * time.Second}
	net := theNode.Network
	kubernetesSvc := net.ServiceCIDR.Addr().Next()
	return suite.InstallDecco(ctx, cluster.Kubeconfig, nodetest.Chart{
		Namespace: systemNamespace,
		Mode:      "with cni interception",
		Values: fmt.Sprintf(`dataPlane:
  interception: cni
  podCIDRs: [%s]
  serviceCIDRs: [%s]
  excludeCIDRs: [%s/32, %s/32]
`, net.PodCIDR, net.ServiceCIDR, kubernetesSvc, net.NodeIP()),
	})
}

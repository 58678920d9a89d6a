// Package node runs decco on a real node (test/node): injected pods start
// under containerd and runc, their sidecars serve real stunnel, Services
// reach listeners through kube-proxy, names resolve through CoreDNS, and
// kube-router enforces decco's NetworkPolicies on real packets. decco itself
// is installed with its Helm chart and runs as pods on the node.
package node

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/gateway"
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

// systemNamespace is where the chart installs decco.
const systemNamespace = "decco-system"

// gatewayNamespace is where the gateway runs (test/gateway, started by
// the first gateway test), and the namespace decco's policies admit to
// the listeners of routed Services; it is apart from the system namespace
// so that the isolation matrix tells the two roles apart.
const gatewayNamespace = "decco-gateway"

// installDecco points the suite at the cluster and installs decco with its
// Helm chart. Routes are in gateway-per-space mode for the gateway the
// node runs, Traefik, which has no ListenerSet.
func installDecco(ctx context.Context) error {
	k8s = cluster.Client
	suite = nodetest.Suite{Client: k8s, Node: theNode, ProbeTimeout: time.Second}
	return suite.InstallDecco(ctx, cluster.Kubeconfig, nodetest.Chart{
		Namespace: systemNamespace,
		Values: fmt.Sprintf("routing: {mode: gateway-per-space, gateway: {namespace: %s, className: %s, port: %d}}\n",
			gatewayNamespace, gateway.GatewayClass, gateway.Port),
	})
}

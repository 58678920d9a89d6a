// Package node runs decco on a real node (test/node): injected pods start
// under containerd and runc, their sidecars serve real stunnel, Services
// reach listeners through kube-proxy, names resolve through CoreDNS, and
// kube-router enforces decco's NetworkPolicies on real packets. decco itself
// is installed with its Helm chart and runs as pods on the node.
package node

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/decco-dev/decco/test/gateway"
	"github.com/decco-dev/decco/test/node"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// suite is the node and its cluster, once decco is installed.
var suite = nodetest.Suite{ProbeTimeout: time.Second}

func TestMain(m *testing.M) { os.Exit(suite.Main(m, chart)) }

// systemNamespace is where the chart installs decco.
const systemNamespace = "decco-system"

// gatewayNamespace is where the gateway runs (test/gateway, started by
// the first gateway test), and the namespace decco's policies admit to
// the listeners of routed Services; it is apart from the system namespace
// so that the isolation matrix tells the two roles apart.
const gatewayNamespace = "decco-gateway"

// chart installs decco with routes in gateway-per-space mode for the
// gateway the node runs, Traefik, which has no ListenerSet.
func chart(*node.Node) nodetest.Chart {
	return nodetest.Chart{
		Namespace: systemNamespace,
		Values: fmt.Sprintf("routing: {mode: gateway-per-space, gateway: {namespace: %s, className: %s, port: %d}}\n",
			gatewayNamespace, gateway.GatewayClass, gateway.Port),
	}
}

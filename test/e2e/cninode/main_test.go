// Package cninode runs decco with cni interception on a real node
// (test/node): decco-cni chained after the bridge installs each pod's plan
// in its network namespace, sidecars serve TLS on the apps' own ports and
// turn their connections into mutual TLS, and a capture on the node shows
// what crosses the bridge. decco is installed with its Helm chart, with
// dataPlane.interception cni, as users install it: the chart's DaemonSet
// copies decco-cni onto the node and chains it into the node's conflist,
// so every test here runs on a plugin the DaemonSet installed.
//
// It is a package of its own because the interception mode is the
// cluster's: test/e2e/node runs the same node with ports mode. The two
// suites take turns on the machine (test/node runs one node at a time).
package cninode

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/decco-dev/decco/test/node"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// suite is the node and its cluster, once decco is installed. The node is
// dual-stack, so every test's pods have both families (IPv4 primary).
var suite = nodetest.Suite{ProbeTimeout: 2 * time.Second, Network: node.DualStackNetwork}

func TestMain(m *testing.M) { os.Exit(suite.Main(m, chart)) }

const systemNamespace = "decco-system"

// chart installs decco with cni interception over the node's ranges, in
// both families. The kubernetes Service's address and the node's (where
// the apiserver serves, inside the pod range here) don't speak decco's TLS.
// The DaemonSet installs decco-cni into the node's own CNI directories; it
// runs as root with hostPath volumes, so decco's namespace allows
// privileged pods.
func chart(n *node.Node) nodetest.Chart {
	net := n.Network
	cniRepo, cniTag := nodetest.SplitImage(n.Images.CNI)
	exclude := []netip.Prefix{netip.PrefixFrom(net.ServiceCIDR.Addr().Next(), 32)}
	for _, ip := range net.NodeIPs() {
		exclude = append(exclude, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return nodetest.Chart{
		Namespace:   systemNamespace,
		Mode:        "with cni interception",
		PodSecurity: "privileged",
		Values: fmt.Sprintf(`dataPlane:
  interception: cni
  podCIDRs: %s
  serviceCIDRs: %s
  excludeCIDRs: %s
  cni:
    image: {repository: %s, tag: %s}
    binDir: %s
    confDir: %s
`, yamlList(net.PodCIDRs()), yamlList(net.ServiceCIDRs()), yamlList(exclude), cniRepo, cniTag, n.CNIBinDir(), n.CNIConfDir()),
	}
}

// yamlList writes ranges as a YAML flow sequence of quoted strings (an
// IPv6 range's colons stay text).
func yamlList(ps []netip.Prefix) string {
	b, _ := json.Marshal(ps) // netip.Prefix marshals as its text
	return string(b)
}

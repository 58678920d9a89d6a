package node

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/prereq"
)

// RunTests is a TestMain body for packages whose tests need a node: it
// prepares the node's network (network, DefaultNetwork if zero), starts a
// control plane serving on it (opts plus ControlPlaneOptions), joins the
// node, points *cluster and *node at them, runs the tests and always stops
// both. Use it as
//
//	func TestMain(m *testing.M) {
//		os.Exit(node.RunTests(m, &cluster, &theNode, controlplane.Options{}, node.Network{}))
//	}
//
// With -short nothing starts and both stay nil. Every test calls Require
// first: it skips under -short, and on a machine that can't host a node it
// applies decco's rule for a missing component (test/prereq): a skip
// saying why, a failure in CI.
func RunTests(m controlplane.Runner, cluster **controlplane.Cluster, node **Node, opts controlplane.Options, network Network) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	if unavailable = CanHost(); unavailable != nil {
		return m.Run()
	}
	ctx := context.Background()
	n, err := Prepare(ctx, Options{Network: network})
	if err != nil {
		fmt.Fprintf(os.Stderr, "preparing the node: %v\n", err)
		return 1
	}
	defer func() {
		if err := n.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the node: %v\n", err)
		}
	}()
	return controlplane.RunTests(&joined{m: m, node: n, cluster: cluster, into: node}, cluster, n.ControlPlaneOptions(opts))
}

// unavailable is why this machine can't host a node, if it can't.
var unavailable error

// Require skips t under -short, and applies test/prereq's rule when this
// machine can't host a node.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real node (see test/node); run without -short")
	}
	if unavailable != nil {
		prereq.Missing(t, "a real node", unavailable.Error())
	}
}

// joined joins the node once the control plane is up.
type joined struct {
	m       controlplane.Runner
	node    *Node
	cluster **controlplane.Cluster
	into    **Node
}

func (j *joined) Run() int {
	if err := j.node.Join(context.Background(), *j.cluster); err != nil {
		fmt.Fprintf(os.Stderr, "starting the node: %v\n", err)
		return 1
	}
	*j.into = j.node
	code := j.m.Run()
	// Before the control plane goes, so the node's daemons don't hold the
	// apiserver's shutdown up.
	if err := j.node.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the node: %v\n", err)
	}
	return code
}

package node

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/decco-dev/decco/test/controlplane"
)

// A test binary killed outright can't stop its node. Every running node is
// recorded under the cache directory, named after the owning process, and
// the next Prepare undoes nodes whose owner is gone, from their directory:
// their daemons and containers are killed, kube-proxy's and kube-router's
// rules cleaned, mounts, cgroups, guard and bridge removed.

// nodes are the running test nodes.
const nodes controlplane.Records = "running-nodes"

func record(n *Node) {
	nodes.Add(filepath.Base(n.Dir), []byte(n.Dir+"\n"+n.bin+"\n"+n.Network.Bridge))
}

func forget(n *Node) { nodes.Remove(filepath.Base(n.Dir)) }

// reapStale stops the nodes of processes that died without stopping them.
func reapStale(out io.Writer) {
	nodes.ReapStale(func(owner int, data []byte) {
		fields := strings.Split(string(data), "\n")
		if len(fields) != 3 {
			return
		}
		net := DefaultNetwork
		net.Bridge = fields[2]
		stale := &Node{Dir: fields[0], bin: fields[1], Network: net}
		stale.undo = stale.cleanups()
		fmt.Fprintf(out, "node: removing a node left by an interrupted run (owner pid %d, %s)\n", owner, stale.Dir)
		if err := stale.Stop(); err != nil {
			fmt.Fprintf(out, "node: cleaning up %s: %v\n", stale.Dir, err)
		}
	})
}

// cleanups are the undo steps of startNetwork, in start order, for a node
// whose start progress is unknown (Stop runs them last to first). Each
// tolerates what is already gone; the netfilter step also removes what
// kubelet, kube-proxy and kube-router added.
func (n *Node) cleanups() []func() error {
	return []func() error{n.restoreNetfilter, n.stopNetwork}
}

package node

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/decco-dev/decco/test/controlplane"
)

// A test binary killed outright can't stop its node. Every running node is
// recorded under the cache directory, named after the owning process, and
// the next Start undoes nodes whose owner is gone, from their directory:
// their daemons and containers are killed, kube-proxy's and kube-router's
// rules cleaned, mounts, cgroups, guard and bridge removed.

func recordPath(n *Node) string {
	cache, err := controlplane.CacheDir()
	if err != nil || n.Dir == "" {
		return ""
	}
	return filepath.Join(cache, "running-nodes", fmt.Sprintf("%d-%s", os.Getpid(), filepath.Base(n.Dir)))
}

func record(n *Node) {
	if path := recordPath(n); path != "" {
		_ = os.MkdirAll(filepath.Dir(path), 0o755)
		_ = os.WriteFile(path, []byte(n.Dir+"\n"+n.bin+"\n"+n.Network.Bridge), 0o644)
	}
}

func forget(n *Node) {
	if path := recordPath(n); path != "" {
		_ = os.Remove(path)
	}
}

// reapStale stops the nodes of processes that died without stopping them.
func reapStale(out io.Writer) {
	cache, err := controlplane.CacheDir()
	if err != nil {
		return
	}
	records, _ := filepath.Glob(filepath.Join(cache, "running-nodes", "*"))
	for _, path := range records {
		owner, err := strconv.Atoi(strings.SplitN(filepath.Base(path), "-", 2)[0])
		if err != nil || alive(owner) {
			continue
		}
		data, _ := os.ReadFile(path)
		fields := strings.Split(string(data), "\n")
		if len(fields) != 3 {
			_ = os.Remove(path)
			continue
		}
		net := DefaultNetwork
		net.Bridge = fields[2]
		stale := &Node{Dir: fields[0], bin: fields[1], Network: net}
		stale.undo = stale.cleanups()
		fmt.Fprintf(out, "node: removing a node left by an interrupted run (owner pid %d, %s)\n", owner, stale.Dir)
		if err := stale.Stop(); err != nil {
			fmt.Fprintf(out, "node: cleaning up %s: %v\n", stale.Dir, err)
		}
		_ = os.Remove(path)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// cleanups are the undo steps of startNetwork, in start order, for a node
// whose start progress is unknown (Stop runs them last to first). Each
// tolerates what is already gone; the netfilter step also removes what
// kubelet, kube-proxy and kube-router added.
func (n *Node) cleanups() []func() error {
	return []func() error{n.restoreNetfilter, n.stopNetwork}
}

package node

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// guardChain holds the rules that keep pod traffic on the machine.
const guardChain = "DECCO-NODE-GUARD"

const forwardingSysctl = "/proc/sys/net/ipv4/ip_forward"

const containerdRunDir = "/run/containerd"

// guardRules are the raw-table rules, in order, for the guard chain: pod
// traffic may reach the pod range and the Service range (kube-proxy
// rewrites it later, to a pod; cluster DNS is a Service); everything else
// on the machine is dropped
// before routing, so turning on forwarding for the bridge never sends a
// packet off the machine. The raw table is used because neither
// kube-proxy nor kube-router touches it. It comes before connection
// tracking, so the rules for the node's own address are stateless: a pod
// may not open a TCP connection to the node (kubelet's API, the machine's
// services; admitAPIServer adds the one exception) but answers the node's
// own connections (kubelet's probes, the tests' requests).
func guardRules(n Network) [][]string {
	node := n.NodeIP().String()
	return [][]string{
		{"-d", node, "-p", "tcp", "--syn", "-j", "DROP"},
		{"-d", node, "-p", "tcp", "-j", "RETURN"},
		{"-d", node, "-p", "icmp", "-j", "RETURN"},
		{"-d", node, "-j", "DROP"},
		{"-d", n.PodCIDR.String(), "-j", "RETURN"},
		{"-d", n.ServiceCIDR.String(), "-j", "RETURN"},
		{"-j", "DROP"},
	}
}

// startNetwork creates the bridge with the node's address, installs the
// guard, and records the forwarding switch so Stop can put it back (the
// bridge CNI plugin turns it on).
func (n *Node) startNetwork(ctx context.Context) error {
	if err := n.snapshotNetfilter(); err != nil {
		return err
	}
	// containerd keeps its shims' sockets in /run/containerd whatever its
	// configuration says; remove the directory after if it wasn't there.
	if _, err := os.Stat(containerdRunDir); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(filepath.Join(n.Dir, "remove-run-dir"), nil, 0o644); err != nil {
			return err
		}
	}
	prev, err := os.ReadFile(forwardingSysctl)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.Dir, "ip_forward"), prev, 0o644); err != nil {
		return err
	}
	n.undo = append(n.undo, n.cleanups()...)
	br := n.Network.Bridge
	cmds := [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "addr", "add", n.Network.NodeIP().String() + "/" + fmt.Sprint(n.Network.PodCIDR.Bits()), "dev", br},
		{"ip", "link", "set", br, "up"},
		{"iptables", "-t", "raw", "-N", guardChain},
		{"ip6tables", "-t", "raw", "-N", guardChain},
		// Pods get no IPv6 route; drop whatever they send anyway.
		{"ip6tables", "-t", "raw", "-A", guardChain, "-j", "DROP"},
	}
	for _, r := range guardRules(n.Network) {
		cmds = append(cmds, append([]string{"iptables", "-t", "raw", "-A", guardChain}, r...))
	}
	cmds = append(cmds,
		[]string{"iptables", "-t", "raw", "-I", "PREROUTING", "-i", br, "-j", guardChain},
		[]string{"ip6tables", "-t", "raw", "-I", "PREROUTING", "-i", br, "-j", guardChain},
	)
	for _, c := range cmds {
		if err := quiet(exec.CommandContext(ctx, c[0], c[1:]...)); err != nil {
			return err
		}
	}
	return nil
}

// stopNetwork removes the bridge and restores forwarding. It runs from
// the node's directory alone, so a later run can undo a killed one;
// whatever is already gone is skipped. (The guard goes with the rest of
// the node's rules in restoreNetfilter.)
func (n *Node) stopNetwork() error {
	_ = quiet(exec.Command("ip", "link", "del", n.Network.Bridge))
	if _, err := os.Stat(filepath.Join(n.Dir, "remove-run-dir")); err == nil {
		_ = os.RemoveAll(containerdRunDir)
	}
	if prev, err := os.ReadFile(filepath.Join(n.Dir, "ip_forward")); err == nil && strings.TrimSpace(string(prev)) != "" {
		return os.WriteFile(forwardingSysctl, prev, 0o644)
	}
	return nil
}

// admitAPIServer lets pods open connections to the apiserver on the node's
// address, the one port of the node they may dial (the
// kubernetes Service leads there).
func (n *Node) admitAPIServer(ctx context.Context) error {
	u, err := url.Parse(n.cluster.Config.Host)
	if err != nil {
		return fmt.Errorf("the apiserver's address %q: %w", n.cluster.Config.Host, err)
	}
	if u.Hostname() != n.Network.NodeIP().String() {
		return fmt.Errorf("the apiserver serves on %s, not on the node's address %s: start the control plane with the node's ControlPlaneOptions", u.Hostname(), n.Network.NodeIP())
	}
	return quiet(exec.CommandContext(ctx, "iptables", "-t", "raw", "-I", guardChain, "1",
		"-d", u.Hostname(), "-p", "tcp", "--dport", u.Port(), "-j", "RETURN"))
}

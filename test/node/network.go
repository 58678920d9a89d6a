package node

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// guardChain holds the rules that keep pod traffic on the machine.
const guardChain = "DECCO-NODE-GUARD"

// forwardingSysctls are the forwarding switches the bridge plugin turns
// on (IPv6's on a dual-stack node only); Prepare records each and Stop
// puts it back.
var forwardingSysctls = map[string]string{
	"ip_forward":      "/proc/sys/net/ipv4/ip_forward",
	"ipv6_forwarding": "/proc/sys/net/ipv6/conf/all/forwarding",
}

const containerdRunDir = "/run/containerd"

// guardRules are the raw-table rules, in order, for the guard chain of
// family f: pod traffic may reach the pod range and the Service range
// (kube-proxy rewrites it later, to a pod; cluster DNS is a Service);
// everything else on the machine is dropped before routing, so turning on
// forwarding for the bridge never sends a packet off the machine. The raw
// table is used because neither kube-proxy nor kube-router touches it. It
// comes before connection tracking, so the rules for the node's own
// address are stateless: a pod may not open a TCP connection to the node
// (kubelet's API, the machine's services; admitAPIServer adds the one
// exception) but answers the node's own connections (kubelet's probes, the
// tests' requests).
//
// IPv6 also needs ICMPv6 to link-local and link-scope multicast addresses
// (neighbour discovery, which finds the gateway and other pods, and
// multicast listener reports); those are never routed, so they can't
// leave the bridge, and nothing else may use them (a pod could otherwise
// dial the node's services on its link-local address). On an IPv4-only
// node every IPv6 packet from a pod is dropped.
func guardRules(n Network, f family) [][]string {
	if f == ipv6 && !n.DualStack() {
		return [][]string{{"-j", "DROP"}}
	}
	node, pods, services, icmp := n.NodeIP().String(), n.PodCIDR.String(), n.ServiceCIDR.String(), "icmp"
	var rules [][]string
	if f == ipv6 {
		node, pods, services, icmp = n.NodeIPv6().String(), n.PodCIDRv6.String(), n.ServiceCIDRv6.String(), "ipv6-icmp"
		rules = [][]string{
			{"-d", "fe80::/10", "-p", "ipv6-icmp", "-j", "RETURN"},
			{"-d", "ff02::/16", "-p", "ipv6-icmp", "-j", "RETURN"},
		}
	}
	return append(rules,
		[]string{"-d", node, "-p", "tcp", "--syn", "-j", "DROP"},
		[]string{"-d", node, "-p", "tcp", "-j", "RETURN"},
		[]string{"-d", node, "-p", icmp, "-j", "RETURN"},
		[]string{"-d", node, "-j", "DROP"},
		[]string{"-d", pods, "-j", "RETURN"},
		[]string{"-d", services, "-j", "RETURN"},
		[]string{"-j", "DROP"},
	)
}

// family is an iptables command's address family.
type family string

const (
	ipv4 family = "iptables"
	ipv6 family = "ip6tables"
)

// startNetwork creates the bridge with the node's addresses, installs the
// guard in both families, and records the forwarding switches so Stop can
// put them back (the bridge CNI plugin turns them on).
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
	for name, path := range forwardingSysctls {
		prev, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(n.Dir, name), prev, 0o644); err != nil {
			return err
		}
	}
	n.undo = append(n.undo, n.cleanups()...)
	for _, c := range networkCommands(n.Network) {
		if err := quiet(exec.CommandContext(ctx, c[0], c[1:]...)); err != nil {
			return err
		}
	}
	return nil
}

// networkCommands create the bridge, its addresses and the guard. The
// IPv6 address skips duplicate address detection: the bridge is the
// node's own, and a tentative address would hold kubelet's start up.
func networkCommands(n Network) [][]string {
	br := n.Bridge
	cmds := [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "addr", "add", n.NodeIP().String() + "/" + strconv.Itoa(n.PodCIDR.Bits()), "dev", br},
	}
	if n.DualStack() {
		cmds = append(cmds, []string{"ip", "-6", "addr", "add", n.NodeIPv6().String() + "/" + strconv.Itoa(n.PodCIDRv6.Bits()), "dev", br, "nodad"})
	}
	cmds = append(cmds, []string{"ip", "link", "set", br, "up"})
	for _, f := range []family{ipv4, ipv6} {
		cmds = append(cmds, []string{string(f), "-t", "raw", "-N", guardChain})
		for _, r := range guardRules(n, f) {
			cmds = append(cmds, append([]string{string(f), "-t", "raw", "-A", guardChain}, r...))
		}
		cmds = append(cmds, []string{string(f), "-t", "raw", "-I", "PREROUTING", "-i", br, "-j", guardChain})
	}
	return cmds
}

// stopNetwork removes the bridge (and with it the node's addresses and
// the routes to the pod ranges) and restores forwarding. It runs from
// the node's directory alone, so a later run can undo a killed one;
// whatever is already gone is skipped. (The guard goes with the rest of
// the node's rules in restoreNetfilter.)
func (n *Node) stopNetwork() error {
	_ = quiet(exec.Command("ip", "link", "del", n.Network.Bridge))
	if _, err := os.Stat(filepath.Join(n.Dir, "remove-run-dir")); err == nil {
		_ = os.RemoveAll(containerdRunDir)
	}
	var errs []error
	for name, path := range forwardingSysctls {
		if prev, err := os.ReadFile(filepath.Join(n.Dir, name)); err == nil && strings.TrimSpace(string(prev)) != "" {
			errs = append(errs, os.WriteFile(path, prev, 0o644))
		}
	}
	return errors.Join(errs...)
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

package node

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// What the node takes from Debian's packages.
const (
	runcPath  = "/usr/sbin/runc"
	cniBinDir = "/usr/lib/cni"
)

// Packages are the Debian packages a node needs besides what the tests
// already install: runc, the CNI plugins, and the netfilter tools that
// kube-proxy and kube-router drive.
var Packages = []string{"runc", "containernetworking-plugins", "iptables", "ipset", "conntrack"}

// CanHost reports why this machine can't run a node, or nil if it can: the
// node needs Linux, root (it creates a bridge, iptables rules, mounts and
// cgroups), overlayfs for containerd's snapshots, bridge netfilter for
// NetworkPolicy on pod-to-pod traffic, and the Debian packages above.
func CanHost() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("a test node needs Linux, not %s", runtime.GOOS)
	}
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "it must run as root (it creates a bridge, iptables rules, mounts and cgroups): run the tests as root, e.g. sudo -E make test")
	}
	if fs, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(fs), "\toverlay\n") {
		problems = append(problems, "the kernel has no overlay filesystem, which containerd's snapshotter needs (modprobe overlay)")
	}
	var missing []string
	for _, f := range []string{runcPath, cniBinDir + "/bridge", cniBinDir + "/host-local", cniBinDir + "/loopback"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	for _, c := range []string{"iptables", "ip6tables", "ipset", "conntrack", "ip", "dpkg-deb", "apt-get"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%s missing: apt-get install %s", strings.Join(missing, ", "), strings.Join(Packages, " ")))
	}
	if len(problems) > 0 {
		return errors.New("this machine can't host a test node: " + strings.Join(problems, "; "))
	}
	return nil
}

package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/test/controlplane"
)

// Name is the node's name in the cluster.
const Name = "decco-node"

// notReadyTaint keeps pods off the node until the policy engine has
// programmed its chains: a pod scheduled earlier would briefly run with no
// NetworkPolicy enforced.
const notReadyTaint = "decco.io/node-not-ready"

// Options tune Prepare.
type Options struct {
	// Out receives build progress and start-up messages; stderr if nil.
	Out io.Writer
	// Network is the address plan; DefaultNetwork if zero.
	Network Network
}

// Node is a running node.
type Node struct {
	// Network is its address plan; Network.NodeIP() is its address.
	Network Network
	// Dir holds its state, configuration and logs; removed by Stop.
	Dir string
	// Images are the images built and imported by Join.
	Images Images

	paths   paths
	bin     string
	cluster *controlplane.Cluster
	procs   []*process
	undo    []func() error
	out     io.Writer
	unlock  func()
}

// process is one of the node's daemons.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
}

// ControlPlaneOptions adds to opts what a control plane needs to serve a
// node: a scheduler, the apiserver on the node's address (pods reach it
// through the kubernetes Service), kubelets reached by address, never by
// a name it would have to look up, and the ServiceAccount admission plugin
// envtest turns off, so pods get the token in-cluster clients use.
func (n *Node) ControlPlaneOptions(opts controlplane.Options) controlplane.Options {
	opts.WithScheduler = true
	opts.APIServerAddress = n.Network.NodeIP().String()
	args := map[string][]string{}
	for k, v := range opts.APIServerArgs {
		args[k] = v
	}
	args["kubelet-preferred-address-types"] = []string{"InternalIP"}
	args["disable-admission-plugins"] = []string{"DefaultStorageClass"}
	// Both families' ranges on a dual-stack node (the apiserver allocates
	// ClusterIPs; kube-controller-manager needs no range, as it allocates
	// no node CIDRs: host-local IPAM has the pod ranges).
	args["service-cluster-ip-range"] = []string{Join(n.Network.ServiceCIDRs())}
	opts.APIServerArgs = args
	return opts
}

// Prepare builds what is missing and creates the node's network, which the
// control plane then serves on (see ControlPlaneOptions); Join brings the
// node up against it. Only one node runs on a machine at a time: Prepare
// waits for another to stop. The caller must call Stop, which also runs if
// Prepare or Join fails half-way.
func Prepare(ctx context.Context, opts Options) (_ *Node, err error) {
	if opts.Out == nil {
		opts.Out = os.Stderr
	}
	if opts.Network == (Network{}) {
		opts.Network = DefaultNetwork
	}
	if err := opts.Network.Validate(); err != nil {
		return nil, err
	}
	if err := CanHost(); err != nil {
		return nil, err
	}
	bin, err := EnsureBinaries(ctx, opts.Out)
	if err != nil {
		return nil, err
	}
	unlock, err := lockMachine(opts.Out)
	if err != nil {
		return nil, err
	}
	reapStale(opts.Out)
	dir, err := os.MkdirTemp("", "decco-node-")
	if err != nil {
		unlock()
		return nil, err
	}
	n := &Node{Network: opts.Network, Dir: dir, bin: bin, out: opts.Out, unlock: unlock}
	defer func() {
		if err != nil {
			n.Stop()
		}
	}()
	record(n)
	return n, n.step(ctx, "network", n.startNetwork)
}

// Join brings the node up against cluster, started with
// ControlPlaneOptions. When it returns, the Node is Ready and untainted,
// its images are imported, and its pods reach the apiserver.
func (n *Node) Join(ctx context.Context, cluster *controlplane.Cluster) (err error) {
	n.cluster = cluster
	defer func() {
		if err != nil {
			if logs := n.logTails(); logs != "" {
				err = fmt.Errorf("%w\n%s", err, logs)
			}
		}
	}()
	if n.paths, err = n.layout(); err != nil {
		return err
	}
	steps := []struct {
		what string
		run  func(context.Context) error
	}{
		{"apiserver access", n.admitAPIServer},
		{"containerd", n.startContainerd},
		{"images", n.importImages},
		{"kubelet", n.startKubelet},
		{"kube-proxy", n.startKubeProxy},
		{"kube-router", n.startPolicyEngine},
		{"cluster DNS", n.startDNS},
	}
	for _, s := range steps {
		if err := n.step(ctx, s.what, s.run); err != nil {
			return err
		}
	}
	return nil
}

// step runs one start step and reports how long it took.
func (n *Node) step(ctx context.Context, what string, run func(context.Context) error) error {
	start := time.Now()
	if err := run(ctx); err != nil {
		return fmt.Errorf("starting the node's %s: %w", what, err)
	}
	fmt.Fprintf(n.out, "node: %s up in %s\n", what, time.Since(start).Round(10*time.Millisecond))
	return nil
}

// layout creates the node's directories and configuration files.
func (n *Node) layout() (paths, error) {
	ports, err := freePorts(3)
	if err != nil {
		return paths{}, err
	}
	p := paths{
		Dir:              n.Dir,
		CNIBin:           cniBinDir,
		DeccoCNIBin:      filepath.Join(n.Dir, "cni", "bin"),
		PlainCNIConf:     filepath.Join(n.Dir, "cni", "net.d-plain"),
		ContainerdRoot:   filepath.Join(n.Dir, "containerd", "root"),
		State:            filepath.Join(n.Dir, "containerd", "state"),
		Socket:           filepath.Join(n.Dir, "containerd", "containerd.sock"),
		CNIConf:          filepath.Join(n.Dir, "cni", "net.d"),
		RegistryDir:      filepath.Join(n.Dir, "containerd", "certs.d"),
		KubeletRoot:      filepath.Join(n.Dir, "kubelet"),
		PodLogs:          filepath.Join(n.Dir, "pod-logs"),
		Kubeconfig:       n.cluster.Kubeconfig,
		ResolvConf:       filepath.Join(n.Dir, "resolv.conf"),
		PauseImage:       PauseImage,
		Runc:             runcPath,
		NodeIP:           n.Network.NodeIP().String(),
		Network:          n.Network,
		KubeletPort:      ports[0],
		ProxyHealthPort:  ports[1],
		ProxyMetricsPort: ports[2],
	}
	for _, d := range []string{p.ContainerdRoot, p.State, p.CNIConf, filepath.Join(p.RegistryDir, "_default"), p.KubeletRoot, p.PodLogs, filepath.Join(n.Dir, "opt"), filepath.Join(n.Dir, "cni", "ipam"), filepath.Join(n.Dir, "cni", "bin"), filepath.Join(n.Dir, "cni", "net.d-plain")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return p, err
		}
	}
	files := map[string][]byte{
		filepath.Join(n.Dir, "containerd.toml"):                 render(containerdTemplate, p),
		filepath.Join(p.RegistryDir, "_default", "hosts.toml"):  []byte(refusingRegistry),
		filepath.Join(p.CNIConf, "10-decco-node.conflist"):      render(cniTemplate, p),
		filepath.Join(p.PlainCNIConf, "10-decco-node.conflist"): render(cniTemplate, p),
		filepath.Join(n.Dir, "kubelet.yaml"):                    render(kubeletTemplate, p),
		// Pods with dnsPolicy Default get the node's resolv.conf: the
		// cluster's DNS, never the machine's own resolver.
		p.ResolvConf: []byte("nameserver " + n.Network.DNSIP().String() + "\n"),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return p, err
		}
	}
	return p, nil
}

func (n *Node) startContainerd(ctx context.Context) error {
	if err := n.run("containerd", filepath.Join(n.bin, "containerd"), "--config", filepath.Join(n.Dir, "containerd.toml")); err != nil {
		return err
	}
	return waitUntil(ctx, 30*time.Second, "containerd to serve", func() error {
		return n.ctr(ctx, "version")
	})
}

func (n *Node) startKubelet(ctx context.Context) error {
	if err := n.run("kubelet", filepath.Join(n.bin, "kubelet"),
		"--config="+filepath.Join(n.Dir, "kubelet.yaml"),
		"--kubeconfig="+n.cluster.Kubeconfig,
		"--hostname-override="+Name,
		"--node-ip="+Join(n.Network.NodeIPs()),
		"--root-dir="+n.paths.KubeletRoot,
		"--cert-dir="+filepath.Join(n.Dir, "kubelet-pki"),
		"--register-with-taints="+notReadyTaint+"=:NoSchedule",
		"--v=1",
	); err != nil {
		return err
	}
	return waitUntil(ctx, 60*time.Second, "the Node to be Ready", func() error {
		var node corev1.Node
		if err := n.cluster.Client.Get(ctx, client.ObjectKey{Name: Name}, &node); err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return errors.New("not Ready yet")
	})
}

func (n *Node) startKubeProxy(ctx context.Context) error {
	if err := n.run("kube-proxy", filepath.Join(n.bin, "kube-proxy"), n.kubeProxyArgs()...); err != nil {
		return err
	}
	// kube-proxy has synced once it has written the kubernetes Service
	// (each family's proxier writes its own chains).
	return waitUntil(ctx, 30*time.Second, "kube-proxy's Service rules", func() error {
		for _, fam := range n.iptables() {
			if err := quiet(exec.CommandContext(ctx, fam, "-t", "nat", "-S", "KUBE-SERVICES")); err != nil {
				return err
			}
		}
		return nil
	})
}

func (n *Node) kubeProxyArgs() []string {
	return []string{
		"--kubeconfig=" + n.cluster.Kubeconfig,
		"--proxy-mode=iptables",
		"--hostname-override=" + Name,
		"--cluster-cidr=" + Join(n.Network.PodCIDRs()),
		"--bind-address=" + n.paths.NodeIP,
		"--healthz-bind-address=127.0.0.1:" + strconv.Itoa(n.paths.ProxyHealthPort),
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(n.paths.ProxyMetricsPort),
		// Leave the machine's conntrack sysctls alone.
		"--conntrack-max-per-core=0",
		"--v=1",
	}
}

// startPolicyEngine runs kube-router's firewall, waits until it has
// programmed the node, then lifts the taint that kept pods away.
func (n *Node) startPolicyEngine(ctx context.Context) error {
	if err := n.run("kube-router", filepath.Join(n.bin, "kube-router"), n.policyEngineArgs()...); err != nil {
		return err
	}
	if err := waitUntil(ctx, 60*time.Second, "kube-router's firewall chains", func() error {
		return quiet(exec.CommandContext(ctx, "iptables", "-t", "filter", "-S", "KUBE-ROUTER-FORWARD"))
	}); err != nil {
		return err
	}
	return n.untaint(ctx)
}

// policyEngineArgs run kube-router's firewall alone, for IPv4 only even
// on a dual-stack node: kube-router 2.1.0 (the newest release the module
// proxy serves here) fails every IPv6 sync once a policy selects peers by
// namespace, as decco's do (its ip6tables rules name the peers' ipset
// without the "inet6:" prefix the set has; upstream issue
// cloudnativelabs/kube-router#1653, fixed after 2.1.0). IPv6 would then be
// fenced by whichever syncs happened to succeed: pods created later open
// to all, older ones closed even to their own space. Without it, IPv6 is
// consistently left to decco's TLS listeners. With a fixed release, pass
// --enable-ipv6 and both Service ranges (Join(n.Network.ServiceCIDRs())).
func (n *Node) policyEngineArgs() []string {
	return []string{
		"--kubeconfig=" + n.cluster.Kubeconfig,
		"--hostname-override=" + Name,
		"--run-firewall=true",
		"--run-router=false",
		"--run-service-proxy=false",
		"--enable-cni=false",
		"--enable-ipv4=true",
		"--enable-ipv6=false",
		"--service-cluster-ip-range=" + n.Network.ServiceCIDR.String(),
		"--metrics-port=0",
		"--health-port=0",
		"--v=1",
	}
}

// iptables are the iptables commands of the node's families.
func (n *Node) iptables() []string {
	if n.Network.DualStack() {
		return iptablesFamilies
	}
	return iptablesFamilies[:1]
}

func (n *Node) untaint(ctx context.Context) error {
	var node corev1.Node
	if err := n.cluster.Client.Get(ctx, client.ObjectKey{Name: Name}, &node); err != nil {
		return err
	}
	patch := client.MergeFrom(node.DeepCopy())
	var kept []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Key != notReadyTaint {
			kept = append(kept, t)
		}
	}
	node.Spec.Taints = kept
	return n.cluster.Client.Patch(ctx, &node, patch)
}

// lockMachine waits until no other node runs on this machine (test
// packages run in parallel, and a node owns the bridge, its address range
// and the machine's netfilter state) and returns the release.
func lockMachine(out io.Writer) (func(), error) {
	cache, err := controlplane.CacheDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(cache, "node.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the node lock: %w", err)
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		fmt.Fprintln(out, "node: waiting for another test node on this machine to stop")
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("taking the node lock: %w", err)
		}
	}
	return func() { f.Close() }, nil
}

// run starts one daemon in its own process group, logging to
// <name>.log in the node's directory.
func (n *Node) run(name, path string, args ...string) error {
	logPath := filepath.Join(n.Dir, name+".log")
	cmd := exec.Command(path, args...)
	// containerd finds its shim on PATH.
	cmd.Env = append(os.Environ(), "PATH="+n.bin+":"+os.Getenv("PATH"))
	if _, err := controlplane.StartGroup(cmd, logPath); err != nil {
		return err
	}
	n.procs = append(n.procs, &process{name: name, cmd: cmd, log: logPath})
	return nil
}

// ctr runs containerd's client against the node's containerd, in the
// namespace kubelet's images and containers live in.
func (n *Node) ctr(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(n.bin, "ctr"), append([]string{"--address", n.paths.Socket, "--namespace", "k8s.io"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Log returns what a daemon ("kubelet", "containerd", ...) has logged.
func (n *Node) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, name+".log"))
	return string(b)
}

// ContainerLog returns what a container of a pod has written, read from
// kubelet's log directory (the apiserver can't proxy logs: the kubelet's
// API accepts no client here).
func (n *Node) ContainerLog(namespace, pod, container string) string {
	matches, _ := filepath.Glob(filepath.Join(n.paths.PodLogs, namespace+"_"+pod+"_*", container, "*.log"))
	var b strings.Builder
	for _, m := range matches {
		data, _ := os.ReadFile(m)
		b.Write(data)
	}
	return b.String()
}

// logTails is the end of every daemon's log, for a failure message.
func (n *Node) logTails() string {
	var b strings.Builder
	for _, p := range n.procs {
		data, _ := os.ReadFile(p.log)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "--- %s (last lines of %s)\n%s\n", p.name, p.log, strings.Join(lines, "\n"))
	}
	return b.String()
}

// waitUntil polls check every 100 ms until it succeeds or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting %s for %s: %w", timeout, what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func quiet(cmd *exec.Cmd) error {
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// freePorts returns count loopback ports that were free a moment ago, all
// different.
func freePorts(count int) ([]int, error) {
	var ports []int
	for range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// CNIBinDir and CNIConfDir are the node's CNI directories, the runtime's
// bin_dirs (besides the system's plugins) and conf_dir: where decco's
// chart installs decco-cni and chains it into the bridge's conflist.
func (n *Node) CNIBinDir() string  { return n.paths.DeccoCNIBin }
func (n *Node) CNIConfDir() string { return n.paths.CNIConf }

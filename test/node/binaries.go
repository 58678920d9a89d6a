package node

import (
	"context"
	"io"

	"github.com/decco-dev/decco/test/controlplane"
)

// Versions of what the node runs; each is pinned by its tools module's
// go.mod, and the cache directory is keyed by this string, so bump it with
// any pin.
const toolsVersion = "containerd-v2.4.2_kube-v1.36.3_coredns-v1.15.0_kube-router-v2.1.0"

// tools are the node's commands, built from the tools modules in test/tools.
var tools = []controlplane.Tool{
	// containerd without the snapshotters that need cgo or kernel modules.
	{Name: "containerd", Package: "github.com/containerd/containerd/v2/cmd/containerd", Module: "test/tools/containerd", Tags: []string{"no_btrfs", "no_devmapper", "no_zfs"}, Cold: "about 2 minutes"},
	{Name: "containerd-shim-runc-v2", Package: "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2", Module: "test/tools/containerd", Tags: []string{"no_btrfs", "no_devmapper", "no_zfs"}, Cold: "seconds after containerd"},
	{Name: "ctr", Package: "github.com/containerd/containerd/v2/cmd/ctr", Module: "test/tools/containerd", Tags: []string{"no_btrfs", "no_devmapper", "no_zfs"}, Cold: "seconds after containerd"},
	{Name: "kubelet", Package: "k8s.io/kubernetes/cmd/kubelet", Module: "test/tools", KubeVersion: true, Cold: "about a minute after the control plane"},
	{Name: "kube-proxy", Package: "k8s.io/kubernetes/cmd/kube-proxy", Module: "test/tools", KubeVersion: true, Cold: "about a minute after the control plane"},
	{Name: "coredns", Package: ".", Module: "test/tools/coredns", Cold: "about 2 minutes"},
	{Name: "kube-router", Package: "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router", Module: "test/tools/kuberouter", Cold: "about 2 minutes"},
}

// EnsureBinaries returns the directory holding the node's commands,
// building whatever is missing (about 8 minutes cold on 2 cores).
func EnsureBinaries(ctx context.Context, out io.Writer) (string, error) {
	return controlplane.EnsureTools(ctx, "node", toolsVersion, tools, out)
}

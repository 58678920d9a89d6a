package node

import (
	"bytes"
	"fmt"
	"net/netip"
	"text/template"
)

// Network is the node's address plan. The defaults sit in ranges this
// machine doesn't route anywhere; pods, Services and the node's own
// address all live on one bridge the node creates.
type Network struct {
	// Bridge is the Linux bridge pods attach to.
	Bridge string
	// PodCIDR is the pods' range; its first address is the node's IP
	// and the pods' gateway.
	PodCIDR netip.Prefix
	// ServiceCIDR is the apiserver's --service-cluster-ip-range (envtest's
	// default).
	ServiceCIDR netip.Prefix
}

// DefaultNetwork is the plan Prepare uses by default.
var DefaultNetwork = Network{
	Bridge:      "decco0",
	PodCIDR:     netip.MustParsePrefix("10.244.0.0/24"),
	ServiceCIDR: netip.MustParsePrefix("10.0.0.0/24"),
}

// NodeIP is the node's address: the first of the pod range, on the bridge.
func (n Network) NodeIP() netip.Addr { return n.PodCIDR.Addr().Next() }

// DNSIP is the kube-dns Service's ClusterIP: the tenth of the Service
// range, as kubeadm picks it.
func (n Network) DNSIP() netip.Addr {
	a := n.ServiceCIDR.Addr()
	for range 10 {
		a = a.Next()
	}
	return a
}

// paths are the files and sockets of one node, all under its directory.
type paths struct {
	Dir, CNIBin string
	// DeccoCNIBin is the node's own CNI bin directory, where decco's
	// chart installs decco-cni (CNIBinDir).
	DeccoCNIBin string
	// PlainCNIConf holds the same network for the runtime handler
	// RuntimeWithoutDeccoCNI: no installer ever chains decco there.
	PlainCNIConf                 string
	ContainerdRoot, State        string
	Socket, CNIConf, RegistryDir string
	KubeletRoot, PodLogs         string
	Kubeconfig                   string
	ResolvConf                   string
	PauseImage                   string
	Runc                         string
	NodeIP                       string
	Network                      Network
	KubeletPort                  int
	ProxyHealthPort              int
	ProxyMetricsPort             int
}

var containerdTemplate = template.Must(template.New("containerd").Parse(`version = 3
root = "{{.ContainerdRoot}}"
state = "{{.State}}"

[grpc]
  address = "{{.Socket}}"

[ttrpc]
  address = "{{.Socket}}.ttrpc"

[plugins.'io.containerd.internal.v1.opt']
  path = "{{.Dir}}/opt"

[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  # Every registry is answered by an address that refuses (see hosts.toml):
  # nothing is ever pulled, images come only from the node's import.
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "{{.RegistryDir}}"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{{.PauseImage}}"

[plugins.'io.containerd.cri.v1.runtime']
  # root here lacks CAP_SYS_RESOURCE: runc can't lower a score it didn't set.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{{.CNIBin}}", "{{.DeccoCNIBin}}"]
    conf_dir = "{{.CNIConf}}"
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "{{.Runc}}"
        Root = "{{.Dir}}/runc"
        SystemdCgroup = false
    # The same runtime on a network without decco-cni: what a node that
    # lacks the plugin gives a pod (fail-closed tests).
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.{{.RuntimeWithoutDeccoCNI}}]
      runtime_type = "io.containerd.runc.v2"
      cni_conf_dir = "{{.PlainCNIConf}}"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.{{.RuntimeWithoutDeccoCNI}}.options]
        BinaryName = "{{.Runc}}"
        Root = "{{.Dir}}/runc"
        SystemdCgroup = false

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`))

// refusingRegistry answers every registry host: a loopback port nothing
// listens on, so a pull fails at once and never leaves the machine.
const refusingRegistry = `server = "http://127.0.0.1:1"

[host."http://127.0.0.1:1"]
  capabilities = ["pull", "resolve"]
`

var cniTemplate = template.Must(template.New("cni").Parse(`{
  "cniVersion": "1.0.0",
  "name": "decco-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "{{.Network.Bridge}}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "{{.Dir}}/cni/ipam",
        "ranges": [[{"subnet": "{{.Network.PodCIDR}}", "gateway": "{{.NodeIP}}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
`))

var kubeletTemplate = template.Must(template.New("kubelet").Parse(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {{.NodeIP}}
port: {{.KubeletPort}}
readOnlyPort: 0
healthzPort: 0
containerRuntimeEndpoint: unix://{{.Socket}}
imageServiceEndpoint: unix://{{.Socket}}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: {{.PodLogs}}
clusterDomain: cluster.local
clusterDNS: [{{.Network.DNSIP}}]
resolvConf: {{.ResolvConf}}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
registerNode: true
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
syncFrequency: 5s
fileCheckFrequency: 5s
`))

// RuntimeWithoutDeccoCNI is a runtime handler whose pods get the node's
// network without decco-cni; a RuntimeClass naming it puts a pod there.
const RuntimeWithoutDeccoCNI = "no-decco-cni"

// RuntimeWithoutDeccoCNI lets templates name the handler.
func (paths) RuntimeWithoutDeccoCNI() string { return RuntimeWithoutDeccoCNI }

func render(t *template.Template, p paths) []byte {
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		panic(fmt.Sprintf("rendering %s: %v", t.Name(), err))
	}
	return buf.Bytes()
}

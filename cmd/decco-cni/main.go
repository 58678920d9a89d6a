// Command decco-cni is decco's chained CNI plugin for cni interception
// (package intercept). Listed after the interface plugins (bridge,
// portmap, ...) in the node's conflist, it reads the interception plan the
// webhook recorded in the pod's decco.io/interception annotation, which
// containerd passes as the io.kubernetes.cri.pod-annotations capability,
// enters the pod's network namespace and installs the plan's nat rules
// with iptables-restore and ip6tables-restore. The pod itself never gets
// NET_ADMIN, so it stays within Pod Security "restricted".
//
// A pod without a plan (not a space's, or decco in ports mode) passes
// through untouched. A plan that can't be read or applied fails the
// sandbox, so the pod does not start; and should the plugin not run at
// all, the sidecar never becomes ready (it checks the rules itself).
package main

import (
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"
)

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{Add: cmdAdd, Check: cmdCheck, Del: cmdDel},
		version.PluginSupports("0.4.0", "1.0.0", "1.1.0"),
		"decco-cni: decco's transparent TLS interception, installed in the pod's network namespace")
}

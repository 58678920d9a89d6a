// Command decco-cni is decco's chained CNI plugin for cni interception
// (package intercept). Listed after the interface plugins (bridge,
// portmap, ...) in the node's conflist, it reads the interception plan the
// webhook recorded in the pod's decco.io/interception annotation, which
// containerd passes as the io.kubernetes.cri.pod-annotations capability,
// enters the pod's network namespace and installs the plan's nat rules
// with iptables-restore and ip6tables-restore. The pod itself never gets
// NET_ADMIN, so it stays within Pod Security "restricted".
//
// Runtimes that don't pass annotations (CRI-O, older containerd) leave
// the capability out; the plugin then reads the pod from the apiserver
// with the kubeconfig its installer wrote, named in its conflist entry.
//
// A pod without a plan (not a space's, or decco in ports mode) passes
// through untouched. A plan that can't be read or applied fails the
// sandbox, so the pod does not start; and should the plugin not run at
// all, the sidecar never becomes ready (it checks the rules itself).
//
// The same binary installs itself on a node: `decco-cni install`, run by
// the chart's DaemonSet, copies it into the host's CNI bin directory and
// chains it into the primary network configuration (package cniinstall);
// `decco-cni check` is that installer's readiness.
package main

import (
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "install":
			os.Exit(runInstall(os.Args[2:]))
		case "check":
			os.Exit(runCheck(os.Args[2:]))
		}
	}
	skel.PluginMainFuncs(skel.CNIFuncs{Add: cmdAdd, Check: cmdCheck, Del: cmdDel},
		version.PluginSupports("0.4.0", "1.0.0", "1.1.0"),
		"decco-cni: decco's transparent TLS interception, installed in the pod's network namespace")
}

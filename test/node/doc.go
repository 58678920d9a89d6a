// Package node runs a real Kubernetes node on this machine, beside the test
// control plane (test/controlplane): containerd and runc, kubelet, a CNI
// bridge, kube-proxy in iptables mode, CoreDNS pods behind the kube-dns
// Service for the cluster's names, and kube-router's firewall as the
// NetworkPolicy engine. Every binary is built
// from the Go module proxy or comes from a Debian package, and every image
// is built here (see build/oci); nothing is pulled.
//
// The node keeps its traffic on the machine: pods live on a bridge of their
// own in a private range, a guard in the raw table lets them reach only that
// range, the Service range and the apiserver, registries resolve to an
// address that refuses, and cluster DNS answers only for cluster.local.
// Stop (or the next Prepare, after a killed run) removes what the node made:
// processes, mounts, cgroups, iptables rules, ipsets, the bridge and the
// forwarding switch.
package node

// Package node runs a real Kubernetes node on this machine, beside the test
// control plane (test/controlplane): containerd and runc, kubelet, a CNI
// bridge, kube-proxy in iptables mode, CoreDNS pods behind the kube-dns
// Service for the cluster's names, and kube-router's firewall as the
// NetworkPolicy engine. Every binary is built
// from the Go module proxy or comes from a Debian package, and every image
// is built here (see build/oci); nothing is pulled.
//
// The node is IPv4-only by default; with DualStackNetwork it is dual-stack
// (IPv4 primary): pods get an address in each family, Services may ask for
// both, and kube-proxy serves both; kube-router's firewall enforces
// NetworkPolicies for IPv4 only (see policyEngineArgs).
//
// The node keeps its traffic on the machine: pods live on a bridge of their
// own in private ranges, a guard in the raw table (iptables and ip6tables)
// lets them reach only those ranges, the Service ranges and the apiserver,
// registries resolve to an address that refuses, and cluster DNS answers
// only for cluster.local.
// Stop (or the next Prepare, after a killed run) removes what the node made:
// processes, mounts, cgroups, iptables and ip6tables rules, ipsets, the
// bridge (with the node's addresses and routes) and both families'
// forwarding switches.
package node

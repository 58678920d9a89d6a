package netpol

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DNSPeer is where a space with a declared egress may send DNS queries
// (port 53, UDP and TCP): the cluster DNS pods (a namespace and a label
// selector), or addresses outside any pod (CIDRs), as NodeLocal DNSCache
// on its link-local address or a node's own resolver. The zero value is
// DefaultDNSPeer.
type DNSPeer struct {
	Namespace string
	Pods      map[string]string
	CIDRs     []string
}

// DefaultDNSPeer is cluster DNS as kubeadm and most distributions run it:
// the pods labeled k8s-app=kube-dns in kube-system (CoreDNS keeps that
// label).
var DefaultDNSPeer = DNSPeer{Namespace: ClusterDNSNamespace, Pods: map[string]string{ClusterDNSLabel: ClusterDNSValue}}

// ParseDNSPeer reads a DNS peer as written in --egress-dns:
// <namespace>/<label>=<value>[,<label>=<value>...] for DNS pods, or
// comma-separated CIDRs (169.254.20.10/32) for addresses. Empty is
// DefaultDNSPeer.
func ParseDNSPeer(v string) (DNSPeer, error) {
	const want = "want <namespace>/<label>=<value> (e.g. kube-system/k8s-app=kube-dns) or CIDRs (e.g. 169.254.20.10/32)"
	if v == "" {
		return DefaultDNSPeer, nil
	}
	if ns, sel, ok := strings.Cut(v, "/"); ok && !strings.Contains(ns, ".") && !strings.Contains(ns, ":") {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return DNSPeer{}, fmt.Errorf("%q: namespace %q: %s; %s", v, ns, strings.Join(errs, ", "), want)
		}
		set, err := labels.ConvertSelectorToLabelsMap(sel)
		if err != nil || len(set) == 0 {
			return DNSPeer{}, fmt.Errorf("%q: pod labels %q: %v; %s", v, sel, err, want)
		}
		return DNSPeer{Namespace: ns, Pods: set}, nil
	}
	var cidrs []string
	for _, c := range strings.Split(v, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return DNSPeer{}, fmt.Errorf("%q: %v; %s", v, err, want)
		}
		cidrs = append(cidrs, p.Masked().String())
	}
	slices.Sort(cidrs)
	return DNSPeer{CIDRs: slices.Compact(cidrs)}, nil
}

// peers are the NetworkPolicy peers of p.
func (p DNSPeer) peers() []networkingv1.NetworkPolicyPeer {
	if p.Namespace == "" && len(p.CIDRs) == 0 {
		p = DefaultDNSPeer
	}
	if len(p.CIDRs) > 0 {
		out := make([]networkingv1.NetworkPolicyPeer, 0, len(p.CIDRs))
		for _, c := range p.CIDRs {
			out = append(out, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: c}})
		}
		return out
	}
	return []networkingv1.NetworkPolicyPeer{{
		NamespaceSelector: byName(metav1.LabelSelectorOpIn, p.Namespace),
		PodSelector:       &metav1.LabelSelector{MatchLabels: p.Pods},
	}}
}

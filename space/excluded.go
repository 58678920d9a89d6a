package space

import "slices"

// kubeNamespaces are Kubernetes' own namespaces.
var kubeNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// ExcludedNamespaces are the namespaces decco leaves alone even when
// someone labels them a space: Kubernetes' own and decco's, system. The
// webhook configurations never match them and nothing renders them as a
// space.
func ExcludedNamespaces(system string) []string {
	return append(slices.Clone(kubeNamespaces), system)
}

// Excluded reports whether ns is one of ExcludedNamespaces(system).
func Excluded(ns, system string) bool {
	return ns == system || slices.Contains(kubeNamespaces, ns)
}

//go:build tools

// Package tools pins the Kubernetes control-plane commands that the test
// harness builds: kube-apiserver and kube-controller-manager from
// k8s.io/kubernetes, and etcd (see ./etcd). It is a separate module so the
// main module never depends on k8s.io/kubernetes.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)

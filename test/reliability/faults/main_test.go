// Package faults proves that decco survives the faults a cluster throws at
// it and refuses tenants' attacks, against the real control plane
// (etcd, kube-apiserver, kube-controller-manager, cert-manager) with the
// decco binary run as real processes that the tests kill and restart.
// RELIABILITY.md lists each property with its test and figures.
package faults

import (
	"os"
	"testing"

	"github.com/decco-dev/decco/test/controlplane"
)

var cluster *controlplane.Cluster

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(m, &cluster, controlplane.Options{WithCertManager: true}))
}

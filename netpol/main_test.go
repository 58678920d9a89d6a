package netpol_test

import (
	"os"
	"testing"

	"github.com/decco-dev/decco/test/controlplane"
)

// cluster is the real control plane the reachability test writes its
// policies to, so the apiserver validates and defaults them; nil with
// -short, where only the pure tests and the offline matrix run.
var cluster *controlplane.Cluster

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(m, &cluster, controlplane.Options{WithoutControllerManager: true}))
}

package chart

import (
	"os"
	"testing"

	"github.com/decco-dev/decco/test/controlplane"
)

// cluster is the local control plane; nil with -short, where only the
// render, schema, flag and lint tests run.
var cluster *controlplane.Cluster

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(m, &cluster, controlplane.Options{}))
}

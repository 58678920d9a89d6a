package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/decco-dev/decco/test/testkit"
)

// The sidecar runs in every pod of every space: it links the standard
// library, the contract (package sidecar) and the supervisor, nothing
// else. Importing the space model for its Egress type, say, would bring
// in k8s.io/api: 45 Kubernetes packages and 2 MB more in every pod.
func TestSidecarDeps(t *testing.T) {
	allowed := map[string]bool{
		"github.com/decco-dev/decco/cmd/decco-sidecar":  true,
		"github.com/decco-dev/decco/sidecar":            true,
		"github.com/decco-dev/decco/sidecar/supervisor": true,
	}
	deps := testkit.Deps(t, ".")
	for _, p := range deps {
		first, _, _ := strings.Cut(p, "/")
		stdlib := !strings.Contains(first, ".") // vendor/golang.org/... is the standard library's too
		assert.True(t, stdlib || allowed[p], "the sidecar links %s: keep packages sidecar and sidecar/supervisor on the standard library", p)
	}
	assert.Contains(t, deps, "github.com/decco-dev/decco/sidecar/supervisor", "the walk above saw the sidecar's imports")
}

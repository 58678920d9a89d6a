package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/decco-dev/decco/test/testkit"
)

// The manager renders the sidecar's arguments (package sidecar, the
// contract) but never runs a sidecar: the stunnel supervisor stays out of
// the webhook.
func TestManagerDeps(t *testing.T) {
	deps := testkit.Deps(t, ".")
	assert.NotContains(t, deps, "github.com/decco-dev/decco/sidecar/supervisor", "the manager links the sidecar program: import package sidecar, the contract, instead")
	assert.Contains(t, deps, "github.com/decco-dev/decco/sidecar", "the walk above saw the injector's imports")
}

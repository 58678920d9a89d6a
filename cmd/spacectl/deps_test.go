package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/decco-dev/decco/test/testkit"
)

// The CLI links what it uses: the space model, the injector and the
// kinds (package install), never the controllers. Importing the manager
// for a default once linked the reconciler, every DNS provider and
// miekg/dns into spacectl (944 packages).
func TestSpacectlDeps(t *testing.T) {
	deps := testkit.Deps(t, ".")
	for _, banned := range []string{
		"github.com/decco-dev/decco/manager",
		"github.com/decco-dev/decco/reconciler",
		"github.com/decco-dev/decco/dns/rfc2136",
		"github.com/miekg/dns",
		"github.com/decco-dev/decco/sidecar/supervisor",
	} {
		assert.NotContains(t, deps, banned, "spacectl links %s: move what it needs out of it (see package install, inject.Settings, package sidecar)", banned)
	}
	assert.Contains(t, deps, "github.com/decco-dev/decco/inject", "the walk above saw spacectl's imports")
}

// Package reltest holds what the reliability suites (test/reliability/...)
// share: the decco binary run as a real process that can be killed and
// restarted, serving certificates from a CA the test controls, steady pod
// churn through the apiserver with every outcome counted, and webhook
// registration against the test control plane. Each suite is its own
// package with its own control plane configuration.
package reltest

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/testkit"
)

// Binary builds cmd/decco once per test process and returns its path:
// under the control plane's cache directory, one file per test binary
// (suites run in parallel), replaced by each run rather than left behind.
func Binary(t testing.TB) string {
	t.Helper()
	cache, err := controlplane.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return testkit.GoBuild(t, controlplane.RepoRoot(), "./cmd/decco", filepath.Join(cache, "reliability"))
}

// Proc is a running decco manager process.
type Proc = testkit.Proc

// StartOptions tune Start.
type StartOptions struct {
	// Netns runs the process inside that network namespace (ip netns exec).
	Netns string
}

// Start runs the decco binary with args. The process is killed when the
// test ends if it is still running, and its log is printed if the test
// failed.
func Start(t testing.TB, name string, args []string, opts StartOptions) *Proc {
	t.Helper()
	argv := append([]string{Binary(t)}, args...)
	if opts.Netns != "" {
		// ip netns exec execs the binary itself, so signals reach decco.
		argv = append([]string{"ip", "netns", "exec", opts.Netns}, argv...)
	}
	return testkit.StartT(t, name, exec.Command(argv[0], argv[1:]...), 0)
}

// WaitFor polls check until it returns nil or fails the test after
// timeout (testkit.WaitFor).
var WaitFor = testkit.WaitFor

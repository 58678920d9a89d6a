package spacectl_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/decco-dev/decco/spacectl"
	"github.com/decco-dev/decco/test/controlplane"
)

// buildPlugin builds cmd/spacectl as kubectl-space, the name kubectl's
// plugin mechanism runs it by.
func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kubectl-space")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/spacectl")
	cmd.Dir = controlplane.RepoRoot()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "building spacectl: %s", out)
	return bin
}

// The built binary, run as the kubectl plugin, talks to the cluster, names
// itself "kubectl space", and exits with the documented codes.
func TestBinaryAsKubectlPlugin(t *testing.T) {
	cluster.Need(t)
	bin := buildPlugin(t)
	createSpace(t, "sc-binary")
	env := append(os.Environ(), "KUBECONFIG="+cluster.Kubeconfig)

	run := func(stdin string, args ...string) result {
		t.Helper()
		return runBinary(t, bin, env, stdin, args...)
	}

	r := run("", "get", "spaces", "sc-binary", "-o", "yaml")
	require.Equal(t, spacectl.ExitOK, r.code, "%s", r)
	assert.Contains(t, r.out, "kind: SpaceSummary")
	assert.Contains(t, r.out, "name: sc-binary")

	r = run("", "expose", "--help")
	assert.Equal(t, spacectl.ExitOK, r.code)
	assert.Contains(t, r.out, "kubectl space expose (deployment|service)/NAME")

	r = run("", "describe", "space", "sc-nope")
	assert.Equal(t, spacectl.ExitNotFound, r.code, "%s", r)
	assert.Contains(t, r.errOut, "kubectl space create space sc-nope --domain DOMAIN", "the fix uses the name the user typed")

	r = run("", "get", "spacez")
	assert.Equal(t, spacectl.ExitUsage, r.code, "%s", r)

	r = run(shop, "render", "-f", "-", sidecarImage())
	assert.Equal(t, spacectl.ExitOK, r.code, "%s", r)
	assert.Contains(t, r.out, "name: decco-tls")

	r = run("", "completion", "bash")
	assert.Equal(t, spacectl.ExitOK, r.code)
	assert.Contains(t, r.out, "bash completion")
}

// runBinary runs the built binary with env and returns its exit code and
// output.
func runBinary(t *testing.T, bin string, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	r := result{code: code, out: out.String(), errOut: errOut.String()}
	t.Logf("$ %s %s\n%s", filepath.Base(bin), strings.Join(args, " "), r)
	return r
}

package controlplane_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/decco-dev/decco/test/controlplane"
)

// The cluster installs cert-manager's CRDs from the version the main
// module requires and runs the controllers the tools module builds: they
// must be one release, or the controllers may read fields the CRDs lack.
func TestCertManagerVersionsAgree(t *testing.T) {
	for _, dir := range []string{".", filepath.Join("test", "tools", "certmanager")} {
		cmd := exec.Command("go", "list", "-m", "-json", "github.com/cert-manager/cert-manager")
		cmd.Dir = filepath.Join(controlplane.RepoRoot(), dir)
		out, err := cmd.Output()
		require.NoError(t, err, "go list in %s", dir)
		var mod struct{ Version string }
		require.NoError(t, json.Unmarshal(out, &mod))
		assert.Equal(t, controlplane.CertManagerVersion, mod.Version, "cert-manager version required in %s", dir)
	}
}

package controlplane

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A record whose owner died is handed to the cleanup and forgotten; a
// live owner's record is left alone.
func TestRecordsReapOnlyTheDead(t *testing.T) {
	t.Setenv("DECCO_CACHE_DIR", t.TempDir())
	const kind Records = "running-things"
	kind.Add("mine", []byte("alive"))

	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	cache, err := CacheDir()
	require.NoError(t, err)
	orphan := filepath.Join(cache, string(kind), fmt.Sprintf("%d-theirs", dead.Process.Pid))
	require.NoError(t, os.WriteFile(orphan, []byte("left behind"), 0o644))

	var cleaned []string
	kind.ReapStale(func(owner int, data []byte) {
		assert.Equal(t, dead.Process.Pid, owner)
		cleaned = append(cleaned, string(data))
	})
	assert.Equal(t, []string{"left behind"}, cleaned)
	assert.NoFileExists(t, orphan)
	assert.FileExists(t, kind.path("mine"))
	kind.Remove("mine")
	assert.NoFileExists(t, kind.path("mine"))
}

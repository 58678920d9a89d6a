package oci

import (
	"archive/tar"
	"io"
	"path/filepath"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWrittenImageReadsBack builds an image, writes it as an archive and
// reads it back as a loader would: the name, the config and the files with
// their modes all survive.
func TestWrittenImageReadsBack(t *testing.T) {
	layer, err := FilesLayer(File{Path: "/usr/local/bin/prog", Mode: 0o755, Data: []byte("#!prog")})
	require.NoError(t, err)
	img, err := Build(Spec{Layers: []v1.Layer{layer}, Entrypoint: []string{"/usr/local/bin/prog"}, Env: []string{"A=b"}, User: NonRootUser}, runtime.GOARCH)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "img.tar")
	require.NoError(t, Write(file, "localhost/decco-test/prog:v1", img))

	back, err := tarball.ImageFromPath(file, nil)
	require.NoError(t, err)
	cfg, err := back.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{"/usr/local/bin/prog"}, cfg.Config.Entrypoint)
	assert.Equal(t, []string{"A=b"}, cfg.Config.Env)
	assert.Equal(t, NonRootUser, cfg.Config.User)
	assert.Equal(t, "linux", cfg.OS)

	files := map[string]int64{}
	tr := tar.NewReader(mutate.Extract(back))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		files[hdr.Name] = hdr.Mode
	}
	assert.Equal(t, map[string]int64{"usr": 0o755, "usr/local": 0o755, "usr/local/bin": 0o755, "usr/local/bin/prog": 0o755}, files)
}

func TestWriteRefusesAnUnqualifiedName(t *testing.T) {
	img, err := Build(Spec{}, runtime.GOARCH)
	require.NoError(t, err)
	err = Write(filepath.Join(t.TempDir(), "img.tar"), "no spaces allowed:v1", img)
	require.ErrorContains(t, err, "must be fully qualified")
}

// Package oci builds decco's container images without a container engine:
// an image is a few layers (a Go binary, Debian packages unpacked as they
// are) and a config, assembled with go-containerregistry and written as an
// archive that `ctr images import` or `docker load` reads. The Dockerfiles in
// build/ describe the same images for users who have an engine; a test
// checks the two agree.
package oci

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// NonRootUser is the UID:GID every decco image runs as, as in the
// Dockerfiles (distroless' "nonroot").
const NonRootUser = "65532:65532"

// File is one regular file of a layer.
type File struct {
	// Path inside the image, absolute.
	Path string
	// Mode is the permission bits (0o755 for a program).
	Mode int64
	// Data is the content.
	Data []byte
}

// Spec describes an image: its layers bottom to top, and the config fields
// decco's images set.
type Spec struct {
	Layers     []v1.Layer
	Entrypoint []string
	Env        []string
	User       string
	WorkingDir string
}

// epoch is every file's modification time, so equal inputs give equal
// layer digests.
var epoch = time.Unix(0, 0).UTC()

// FilesLayer is a layer holding files, with the directories above them.
func FilesLayer(files ...File) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	dirs := map[string]bool{}
	for _, f := range files {
		if !path.IsAbs(f.Path) {
			return nil, fmt.Errorf("layer file %q: path must be absolute", f.Path)
		}
		for _, d := range parents(f.Path) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return nil, err
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.Path[1:], Mode: f.Mode, Size: int64(len(f.Data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// parents lists the directories above p, outermost first, without "/".
func parents(p string) []string {
	var out []string
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}

// BinaryFile reads a program from disk as a layer file at dst.
func BinaryFile(src, dst string) (File, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return File{}, fmt.Errorf("reading %s for the image: %w", src, err)
	}
	return File{Path: dst, Mode: 0o755, Data: data}, nil
}

// Build assembles the image a Spec describes, for linux/amd64 or whatever
// GOARCH the binaries were built for.
func Build(spec Spec, arch string) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, spec.Layers...)
	if err != nil {
		return nil, fmt.Errorf("adding layers: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint = spec.Entrypoint
	cfg.Config.Env = spec.Env
	cfg.Config.User = spec.User
	cfg.Config.WorkingDir = spec.WorkingDir
	return mutate.ConfigFile(img, cfg)
}

// Write saves img under ref as an image archive (the layout `docker save`
// writes, which `ctr images import` and `docker load` both read).
func Write(file string, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("image name %q: must be fully qualified (registry/repository:tag): %w", ref, err)
	}
	tmp := file + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing image %s: %w", ref, err)
	}
	return os.Rename(tmp, file)
}

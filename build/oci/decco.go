package oci

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Where decco's programs live in its images, as in build/*.Dockerfile.
const (
	ManagerPath = "/decco"
	SidecarPath = "/usr/local/bin/decco-sidecar"
)

// SidecarPackages are the Debian packages the sidecar image holds:
// stunnel4, the version the tests run against, and its libraries.
var SidecarPackages = []string{"stunnel4"}

// ManagerSpec is the manager's image: one static binary, run as non-root.
func ManagerSpec(bin string) (Spec, error) {
	f, err := BinaryFile(bin, ManagerPath)
	if err != nil {
		return Spec{}, err
	}
	layer, err := FilesLayer(f)
	if err != nil {
		return Spec{}, err
	}
	return Spec{Layers: []v1.Layer{layer}, Entrypoint: []string{ManagerPath}, User: NonRootUser}, nil
}

// SidecarSpec is the sidecar's image: Debian's stunnel4 with its libraries,
// supervised by decco-sidecar, run as non-root; stunnel.conf goes to the
// /tmp emptyDir the injector mounts.
func SidecarSpec(ctx context.Context, bin, debCache string) (Spec, error) {
	layers, err := DebianLayers(ctx, debCache, SidecarPackages...)
	if err != nil {
		return Spec{}, err
	}
	f, err := BinaryFile(bin, SidecarPath)
	if err != nil {
		return Spec{}, err
	}
	layer, err := FilesLayer(f)
	if err != nil {
		return Spec{}, err
	}
	return Spec{
		Layers:     append(layers, layer),
		Entrypoint: []string{SidecarPath},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "TMPDIR=/tmp"},
		User:       NonRootUser,
	}, nil
}

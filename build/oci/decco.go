package oci

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Image is what decco's image for one program holds besides its layers:
// what build/*.Dockerfile describes too (a test holds the two together).
type Image struct {
	// Program is where the program's binary lives in the image.
	Program string
	// Packages are the Debian packages installed beside it.
	Packages []string
	// Env is the environment the image sets.
	Env []string
}

// The images decco ships. All run as NonRootUser with the program as
// their entrypoint.
var (
	// ManagerImage is one static binary.
	ManagerImage = Image{Program: "/decco"}
	// CNIImage is decco-cni, the plugin that installs itself on a node
	// (`decco-cni install`, run by the chart's DaemonSet as root, which the
	// pod spec sets: the image keeps the non-root default).
	CNIImage = Image{Program: "/decco-cni"}
	// SidecarImage is Debian's stunnel4 (the version the tests run
	// against) supervised by decco-sidecar; stunnel.conf goes to the /tmp
	// emptyDir the injector mounts.
	SidecarImage = Image{
		Program:  "/usr/local/bin/decco-sidecar",
		Packages: []string{"stunnel4"},
		Env:      []string{"PATH=" + debianPath, "TMPDIR=/tmp"},
	}
)

// Spec is the image with bin as its program, adding the Debian packages
// (from debCache, see DebianLayers) below it.
func (img Image) Spec(ctx context.Context, bin, debCache string) (Spec, error) {
	var layers []v1.Layer
	if len(img.Packages) > 0 {
		debs, err := DebianLayers(ctx, debCache, img.Packages...)
		if err != nil {
			return Spec{}, err
		}
		layers = debs
	}
	f, err := BinaryFile(bin, img.Program)
	if err != nil {
		return Spec{}, err
	}
	layer, err := FilesLayer(f)
	if err != nil {
		return Spec{}, err
	}
	return Spec{
		Layers:     append(layers, layer),
		Entrypoint: []string{img.Program},
		Env:        img.Env,
		User:       NonRootUser,
	}, nil
}

// debianPath is the PATH Debian's base images set.
const debianPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

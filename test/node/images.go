package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/decco-dev/decco/build/oci"
	"github.com/decco-dev/decco/test/controlplane"
)

// Images the node builds and imports when it joins. Test images are named under
// localhost, decco's as the chart names them; none can be pulled.
const (
	// PauseImage is every pod sandbox's image.
	PauseImage = "localhost/decco-test/pause:v1"
	// AppImage runs testapp (test/node/testapp): servers, probes, Jobs.
	AppImage = "localhost/decco-test/app:v1"
	// CoreDNSImage is the cluster's DNS, the CoreDNS built for the node.
	CoreDNSImage = "localhost/decco-test/coredns:v1"
	// SidecarImage is decco's TLS sidecar, built like `make images` does.
	SidecarImage = "ghcr.io/decco-dev/decco-sidecar:node-test"
	// ManagerImage is decco's manager, as `make images` builds it.
	ManagerImage = "ghcr.io/decco-dev/decco:node-test"
	// CNIImage is decco-cni, which the chart's DaemonSet runs to install
	// itself on the node (cni interception).
	CNIImage = "ghcr.io/decco-dev/decco-cni:node-test"
)

// testUser runs the test images: not root, and not decco's UID, which
// the sidecar alone may use.
const testUser = "10001:10001"

// Images lists what Join imported.
type Images struct {
	Pause, App, Sidecar, Manager, CNI string
}

// importImages builds the node's images from this checkout and imports
// them into containerd.
func (n *Node) importImages(ctx context.Context) error {
	bins := filepath.Join(n.Dir, "bin")
	builds := map[string]string{
		"testapp":       "./test/node/testapp",
		"decco-sidecar": "./cmd/decco-sidecar",
		"decco":         "./cmd/decco",
		"decco-cni":     "./cmd/decco-cni",
	}
	for name, pkg := range builds {
		if err := goBuild(ctx, pkg, filepath.Join(bins, name)); err != nil {
			return err
		}
	}
	cache, err := controlplane.CacheDir()
	if err != nil {
		return err
	}
	app, err := oci.BinaryFile(filepath.Join(bins, "testapp"), "/testapp")
	if err != nil {
		return err
	}
	appLayer, err := oci.FilesLayer(app)
	if err != nil {
		return err
	}
	sidecar, err := oci.SidecarImage.Spec(ctx, filepath.Join(bins, "decco-sidecar"), filepath.Join(cache, "debs"))
	if err != nil {
		return err
	}
	manager, err := oci.ManagerImage.Spec(ctx, filepath.Join(bins, "decco"), "")
	if err != nil {
		return err
	}
	cni, err := oci.CNIImage.Spec(ctx, filepath.Join(bins, "decco-cni"), "")
	if err != nil {
		return err
	}
	coredns, err := oci.BinaryFile(filepath.Join(n.bin, "coredns"), "/coredns")
	if err != nil {
		return err
	}
	corednsLayer, err := oci.FilesLayer(coredns)
	if err != nil {
		return err
	}
	specs := map[string]oci.Spec{
		CoreDNSImage: {Layers: []v1.Layer{corednsLayer}, Entrypoint: []string{"/coredns"}},
		PauseImage:   {Layers: []v1.Layer{appLayer}, Entrypoint: []string{"/testapp", "pause"}, User: testUser},
		AppImage:     {Layers: []v1.Layer{appLayer}, Entrypoint: []string{"/testapp"}, User: testUser},
		SidecarImage: sidecar,
		ManagerImage: manager,
		CNIImage:     cni,
	}
	for ref, spec := range specs {
		img, err := oci.Build(spec, runtime.GOARCH)
		if err != nil {
			return err
		}
		if err := n.ImportImage(ctx, ref, img); err != nil {
			return err
		}
	}
	n.Images = Images{Pause: PauseImage, App: AppImage, Sidecar: SidecarImage, Manager: ManagerImage, CNI: CNIImage}
	return nil
}

// ImportImage puts img into the node's containerd as ref (fully
// qualified), for pods that name it with imagePullPolicy Never: how a
// suite adds an image of its own, such as the gateway's.
func (n *Node) ImportImage(ctx context.Context, ref string, img v1.Image) error {
	file := filepath.Join(n.Dir, "images", filepath.Base(ref)+".tar")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	if err := oci.Write(file, ref, img); err != nil {
		return err
	}
	if err := n.ctr(ctx, "images", "import", "--snapshotter", "overlayfs", file); err != nil {
		return fmt.Errorf("importing %s: %w", ref, err)
	}
	return os.Remove(file)
}

// goBuild builds a static binary of this repository.
func goBuild(ctx context.Context, pkg, dst string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", dst, pkg)
	cmd.Dir = controlplane.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %w\n%s", pkg, err, out)
	}
	return nil
}

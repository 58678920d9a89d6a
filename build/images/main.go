// Command images builds decco's manager, sidecar and CNI images as image
// archives, without a container engine (see build/oci):
//
//	go run ./build/images -out bin/images -tag dev
//
// Load them with `ctr -n k8s.io images import FILE` (containerd, as on a
// kind or k3s node) or `docker load -i FILE`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/decco-dev/decco/build/oci"
)

func main() {
	out := flag.String("out", "bin/images", "directory for the image archives")
	tag := flag.String("tag", "dev", "tag of every image")
	repo := flag.String("repository", "ghcr.io/decco-dev", "registry and owner the images are named under")
	debCache := flag.String("deb-cache", "", "where downloaded Debian packages are kept (default: the user cache directory)")
	flag.Parse()
	if err := run(context.Background(), *out, *repo, *tag, *debCache); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, repo, tag, debCache string) error {
	if debCache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("finding a cache directory (pass -deb-cache): %w", err)
		}
		debCache = filepath.Join(base, "decco", "debs")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	bins := filepath.Join(out, "bin")
	for _, cmd := range []string{"decco", "decco-sidecar", "decco-cni"} {
		if err := goBuild(ctx, "./cmd/"+cmd, filepath.Join(bins, cmd)); err != nil {
			return err
		}
	}
	manager, err := oci.ManagerImage.Spec(ctx, filepath.Join(bins, "decco"), debCache)
	if err != nil {
		return err
	}
	sidecar, err := oci.SidecarImage.Spec(ctx, filepath.Join(bins, "decco-sidecar"), debCache)
	if err != nil {
		return err
	}
	cni, err := oci.CNIImage.Spec(ctx, filepath.Join(bins, "decco-cni"), debCache)
	if err != nil {
		return err
	}
	for _, img := range []struct {
		name string
		spec oci.Spec
	}{{"decco", manager}, {"decco-sidecar", sidecar}, {"decco-cni", cni}} {
		built, err := oci.Build(img.spec, runtime.GOARCH)
		if err != nil {
			return err
		}
		ref := repo + "/" + img.name + ":" + tag
		file := filepath.Join(out, img.name+".tar")
		if err := oci.Write(file, ref, built); err != nil {
			return err
		}
		fmt.Printf("%s  %s\n", ref, file)
	}
	return os.RemoveAll(bins)
}

// goBuild builds a static binary, as the Dockerfiles do.
func goBuild(ctx context.Context, pkg, dst string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", dst, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s: %w", pkg, err)
	}
	return nil
}

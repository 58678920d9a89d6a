package oci

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// DebianLayers returns one layer per Debian package that pkgs need (their
// Depends and Pre-Depends, recursively), each the package's files exactly
// as dpkg would unpack them. That is what `apt-get install
// --no-install-recommends` puts in the Dockerfile's image, less the base
// system the packages don't use and the maintainer scripts (the images run
// as a fixed non-root UID and create no users). The packages come from the
// machine's apt sources through `apt-get download` into cacheDir, which is
// reused across builds.
func DebianLayers(ctx context.Context, cacheDir string, pkgs ...string) ([]v1.Layer, error) {
	names, err := debianClosure(ctx, pkgs)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	debs, err := download(ctx, cacheDir, names)
	if err != nil {
		return nil, err
	}
	layers := make([]v1.Layer, 0, len(debs))
	for _, deb := range debs {
		l, err := debLayer(ctx, deb)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return layers, nil
}

// debianClosure lists pkgs and the shared-library packages they need,
// sorted: Depends and Pre-Depends are followed into packages named lib*
// only. A program in an image needs its libraries, not the tools its
// maintainer scripts use (adduser, debconf, perl, an init system), which
// following every dependency would pull in by the dozen.
func debianClosure(ctx context.Context, pkgs []string) ([]string, error) {
	seen := map[string]bool{}
	queue := slices.Clone(pkgs)
	for len(queue) > 0 {
		batch := slices.DeleteFunc(queue, func(n string) bool { return seen[n] })
		queue = nil
		if len(batch) == 0 {
			break
		}
		for _, n := range batch {
			seen[n] = true
		}
		args := append([]string{"depends", "--no-recommends", "--no-suggests", "--no-conflicts",
			"--no-breaks", "--no-replaces", "--no-enhances"}, batch...)
		out, err := exec.CommandContext(ctx, "apt-cache", args...).Output()
		if err != nil {
			return nil, fmt.Errorf("apt-cache depends %s (run apt-get update first if the package lists are empty): %w%s", strings.Join(batch, " "), err, stderr(err))
		}
		queue = libraryDepends(out)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// libraryDepends reads `apt-cache depends` output and returns the library
// packages named on Depends and Pre-Depends lines (alternatives included).
func libraryDepends(out []byte) []string {
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		kind, dep, ok := strings.Cut(strings.TrimSpace(sc.Text()), ": ")
		kind = strings.TrimPrefix(kind, "|")
		if !ok || (kind != "Depends" && kind != "PreDepends") {
			continue
		}
		if dep = strings.Trim(dep, "<>"); strings.HasPrefix(dep, "lib") {
			libs = append(libs, dep)
		}
	}
	return libs
}

// download fetches the candidate version of each package into dir unless
// it is already there, and returns the .deb paths in the order of names.
func download(ctx context.Context, dir string, names []string) ([]string, error) {
	var missing []string
	paths := make([]string, len(names))
	for i, n := range names {
		matches, _ := filepath.Glob(filepath.Join(dir, n+"_*.deb"))
		if len(matches) == 0 {
			missing = append(missing, n)
			continue
		}
		sort.Strings(matches)
		paths[i] = matches[len(matches)-1]
	}
	if len(missing) == 0 {
		return paths, nil
	}
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"download", "-q"}, missing...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get download %s: %w\n%s", strings.Join(missing, " "), err, out)
	}
	return download(ctx, dir, names)
}

// debLayer turns a .deb's file tree into a layer, extracting it once next to
// the package (go-containerregistry reads a layer more than once).
func debLayer(ctx context.Context, deb string) (v1.Layer, error) {
	tarPath := strings.TrimSuffix(deb, ".deb") + ".tar"
	if _, err := os.Stat(tarPath); err != nil {
		out, err := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb).Output()
		if err != nil {
			return nil, fmt.Errorf("unpacking %s: %w%s", deb, err, stderr(err))
		}
		if err := os.WriteFile(tarPath+".tmp", out, 0o644); err != nil {
			return nil, err
		}
		if err := os.Rename(tarPath+".tmp", tarPath); err != nil {
			return nil, err
		}
	}
	return tarball.LayerFromFile(tarPath)
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// Package controlplane runs a real local Kubernetes control plane for tests
// and the demo: etcd, kube-apiserver and kube-controller-manager, built from
// the Kubernetes Go modules pinned in test/tools, started through
// controller-runtime's envtest, with the CRDs decco works with installed.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// KubeVersion is the Kubernetes version test/tools/go.mod pins. The binary
// cache is keyed by it, so bumping the pin rebuilds.
const KubeVersion = "v1.36.3"

// binary is one control-plane command and the package that builds it,
// relative to its tools module.
type binary struct {
	name string
	pkg  string
	// tools is the tools module's directory relative to the repository
	// root; empty means test/tools.
	tools string
	// ldflags for go build; empty means versionLDFlags().
	ldflags string
	// tags are Go build tags.
	tags []string
	// cold is how long a first build takes on an idle 2-core machine
	// (module downloads included), for the progress message.
	cold string
}

var binaries = []binary{
	{name: "etcd", pkg: "./etcd", cold: "under a minute"},
	{name: "kube-apiserver", pkg: "k8s.io/kubernetes/cmd/kube-apiserver", cold: "about 5 minutes"},
	{name: "kube-controller-manager", pkg: "k8s.io/kubernetes/cmd/kube-controller-manager", cold: "about 2 minutes"},
	{name: "kube-scheduler", pkg: "k8s.io/kubernetes/cmd/kube-scheduler", cold: "about a minute"},
}

// ColdBuildTime is how long the first run of the tests or the demo builds
// every binary above and cert-manager's on an idle 2-core machine: 10.5
// minutes measured from an empty cache.
const ColdBuildTime = "about 10 minutes"

// CacheDir is where built binaries live: $DECCO_CACHE_DIR, or decco/ under
// the user's cache directory. It is outside the repository on purpose.
func CacheDir() (string, error) {
	if dir := os.Getenv("DECCO_CACHE_DIR"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding a cache directory (set DECCO_CACHE_DIR): %w", err)
	}
	return filepath.Join(base, "decco"), nil
}

// RepoRoot is the root of the decco repository this package was compiled
// from. Tests and the demo use it to find test/tools and examples/.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// EnsureBinaries returns the directory holding etcd, kube-apiserver and
// kube-controller-manager at KubeVersion, building whatever is missing. A
// cold build takes minutes; progress goes to out. Concurrent callers (test
// packages run in parallel) serialise on a lock file so each binary is
// built once.
func EnsureBinaries(ctx context.Context, out io.Writer) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "controlplane", KubeVersion)
	return dir, ensure(ctx, dir, binaries, out)
}

// Tool is a command the test node runs, built from a tools module of this
// repository (see test/tools) like the control plane's own binaries.
type Tool struct {
	// Name is the binary's file name in the cache.
	Name string
	// Package is the Go package to build, relative to Module.
	Package string
	// Module is the tools module's directory relative to the repository root.
	Module string
	// Tags are Go build tags.
	Tags []string
	// KubeVersion stamps KubeVersion into the binary, as Kubernetes'
	// own commands need; others are built with plain -s -w.
	KubeVersion bool
	// LDFlags replaces the default -s -w, for a tool that stamps its own
	// version (Traefik's pkg/version); it overrides KubeVersion.
	LDFlags string
	// Cold is how long a first build takes on an idle 2-core machine, for
	// the progress message.
	Cold string
}

// EnsureTools returns a directory holding every tool, building whatever is
// missing under the same lock and cache as the control plane. component
// and version name the cache directory; bump version to rebuild.
func EnsureTools(ctx context.Context, component, version string, tools []Tool, out io.Writer) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	bins := make([]binary, 0, len(tools))
	for _, t := range tools {
		b := binary{name: t.Name, pkg: t.Package, tools: t.Module, tags: t.Tags, ldflags: "-s -w", cold: t.Cold}
		if t.KubeVersion {
			b.ldflags = ""
		}
		if t.LDFlags != "" {
			b.ldflags = t.LDFlags
		}
		bins = append(bins, b)
	}
	dir := filepath.Join(cache, component, version)
	return dir, ensure(ctx, dir, bins, out)
}

// ensure builds whichever of bins is missing from dir, holding dir's lock
// so concurrent callers build each binary once.
func ensure(ctx context.Context, dir string, bins []binary, out io.Writer) error {
	if missing(dir, bins) == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating binary cache: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	for _, b := range missing(dir, bins) {
		if err := build(ctx, dir, b, out); err != nil {
			return err
		}
	}
	return nil
}

func missing(dir string, bins []binary) []binary {
	var out []binary
	for _, b := range bins {
		if st, err := os.Stat(filepath.Join(dir, b.name)); err != nil || st.Mode()&0o111 == 0 {
			out = append(out, b)
		}
	}
	return out
}

func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening build lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("taking build lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// build compiles one binary into dir, through a temporary name so an
// interrupted build never leaves a truncated binary behind.
func build(ctx context.Context, dir string, b binary, out io.Writer) error {
	tools := filepath.Join(RepoRoot(), "test", "tools")
	if b.tools != "" {
		tools = filepath.Join(RepoRoot(), filepath.FromSlash(b.tools))
	}
	ldflags := b.ldflags
	if ldflags == "" {
		ldflags = versionLDFlags()
	}
	tmp := filepath.Join(dir, "."+b.name+".tmp")
	fmt.Fprintf(out, "building %s (%s) from the Go module proxy: first run only, %s on 2 cores\n", b.name, filepath.Base(dir), b.cold)
	start := time.Now()
	args := []string{"build", "-trimpath", "-ldflags", ldflags}
	if len(b.tags) > 0 {
		args = append(args, "-tags", strings.Join(b.tags, ","))
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", tmp, b.pkg)...)
	cmd.Dir = tools
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = out, out
	// A test binary killed by its -timeout releases the build lock; a
	// build left running would then race the next holder's on tmp.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stop := tick(out, b.name, start)
	err := cmd.Run()
	stop()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("building %s in %s: %w", b.name, tools, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, b.name)); err != nil {
		return fmt.Errorf("installing %s: %w", b.name, err)
	}
	fmt.Fprintf(out, "built %s in %s\n", b.name, time.Since(start).Round(time.Second))
	return nil
}

// tick reports that a long build is still alive every 30 seconds.
func tick(out io.Writer, name string, start time.Time) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(out, "  still building %s (%s)\n", name, time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(done) }
}

// versionLDFlags stamps KubeVersion into the binaries; without it they
// report v0.0.0-master and clients such as kubectl can't parse the version.
func versionLDFlags() string {
	major, minor, err := majorMinor(KubeVersion)
	if err != nil {
		panic(err)
	}
	var flags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", pkg+".gitVersion="+KubeVersion,
			"-X", pkg+".gitMajor="+major,
			"-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean",
		)
	}
	return "-s -w " + strings.Join(flags, " ")
}

func majorMinor(v string) (string, string, error) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return "", "", errors.New("KubeVersion must look like vMAJOR.MINOR.PATCH")
	}
	return parts[0], parts[1], nil
}

package controlplane

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// cert-manager's real controllers, built from its Go module by the
// separate tools module test/tools/certmanager (so the main module never
// requires cert-manager's controller code and its ACME, Vault and cloud
// dependencies), run as a process against the cluster: the CA and
// SelfSigned issuer paths, no webhook, no leader election.

// CertManagerVersion is the cert-manager release test/tools/certmanager
// pins; it must equal the version the main go.mod requires, whose CRDs the
// cluster installs (a test checks both).
const CertManagerVersion = "v1.21.2"

// CertManagerNamespace is cert-manager's cluster resource namespace: where
// a CA ClusterIssuer's Secret must live. Start creates it.
const CertManagerNamespace = "cert-manager"

// certManagerReady is the line test/tools/certmanager logs once its caches
// are synced (its ReadyMessage).
const certManagerReady = "cert-manager controllers ready"

const certManagerTools = "test/tools/certmanager"

var certManagerBinary = binary{
	name:    "cert-manager-controller",
	pkg:     ".",
	tools:   certManagerTools,
	ldflags: "-s -w",
	cold:    "about 3 minutes",
}

// EnsureCertManager returns the path of the cert-manager controller binary,
// building it if needed (certManagerBinary.cold). The cache is
// keyed by CertManagerVersion and by a hash of the tools module's sources,
// so changing which controllers run rebuilds it.
func EnsureCertManager(ctx context.Context, out io.Writer) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	key, err := sourceKey(filepath.Join(RepoRoot(), filepath.FromSlash(certManagerTools)))
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "certmanager", CertManagerVersion+"-"+key)
	if err := ensure(ctx, dir, []binary{certManagerBinary}, out); err != nil {
		return "", err
	}
	return filepath.Join(dir, certManagerBinary.name), nil
}

// sourceKey hashes the tools module's go.mod, go.sum and Go files.
func sourceKey(dir string) (string, error) {
	h := sha256.New()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	for _, f := range append([]string{filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum")}, files...) {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("hashing the cert-manager tools module: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// startCertManager runs the controllers against the cluster, logging to
// cert-manager.log in the cluster directory, and waits until their caches
// are synced, so a test's first Certificate is issued without delay.
func (c *Cluster) startCertManager(ctx context.Context, bin string) error {
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: CertManagerNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", CertManagerNamespace, err)
	}
	logPath := filepath.Join(c.Dir, "cert-manager.log")
	c.certManager = exec.Command(bin,
		"--kubeconfig="+c.Kubeconfig,
		"--cluster-resource-namespace="+CertManagerNamespace,
		"--v=2",
	)
	exited, err := StartGroup(c.certManager, logPath)
	if err != nil {
		return fmt.Errorf("cert-manager: %w", err)
	}
	start := time.Now()
	if err := waitForLine(ctx, logPath, certManagerReady, exited, time.Minute); err != nil {
		return fmt.Errorf("cert-manager: %w; its log:\n%s", err, tail(c.CertManagerLog(), 40))
	}
	fmt.Fprintf(c.out, "cert-manager controllers ready in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// waitForLine polls path until a line contains want, the process exits,
// or timeout passes.
func waitForLine(ctx context.Context, path, want string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if fileHasLine(path, want) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			if fileHasLine(path, want) {
				return nil
			}
			return fmt.Errorf("exited before logging %q", want)
		case <-deadline.C:
			return fmt.Errorf("not ready after %s", timeout)
		case <-tick.C:
		}
	}
}

func fileHasLine(path, want string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		if strings.Contains(s.Text(), want) {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stopCertManager ends the cert-manager process group, politely first.
func (c *Cluster) stopCertManager() {
	StopGroup(c.certManager)
	c.certManager = nil
}

// CertManagerLog returns what cert-manager has logged, for test failure
// messages; empty when the cluster runs without it.
func (c *Cluster) CertManagerLog() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "cert-manager.log"))
	return string(b)
}

package sidecartest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// CertDir is a directory laid out like a kubelet Secret volume: the
// user-visible files are symlinks into ..data, which is itself a symlink to
// a timestamped directory; an update writes a new directory and renames a
// new ..data symlink over the old one, so readers see all old or all new.
type CertDir struct {
	Dir string
	gen int
}

// NewCertDir makes a cert dir under t.TempDir() holding leaf and ca.
func NewCertDir(t testing.TB, leaf Leaf, ca *CA) *CertDir {
	t.Helper()
	d := &CertDir{Dir: t.TempDir()}
	d.Write(t, leaf, ca.PEM)
	for _, name := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(d.Dir, name)); err != nil {
			t.Fatalf("symlink %s: %v", name, err)
		}
	}
	return d
}

// Write swaps in a new leaf and CA bundle atomically, as kubelet does.
func (d *CertDir) Write(t testing.TB, leaf Leaf, caPEM []byte) {
	t.Helper()
	if err := d.write(leaf, caPEM); err != nil {
		t.Fatal(err)
	}
}

func (d *CertDir) write(leaf Leaf, caPEM []byte) error {
	d.gen++
	gen := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", d.gen%60, d.gen)
	genDir := filepath.Join(d.Dir, gen)
	if err := os.Mkdir(genDir, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", gen, err)
	}
	files := map[string][]byte{"tls.crt": leaf.CertPEM, "tls.key": leaf.KeyPEM, "ca.crt": caPEM}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(genDir, name), b, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	old, _ := os.Readlink(filepath.Join(d.Dir, "..data"))
	tmp := filepath.Join(d.Dir, "..data_tmp")
	if err := os.Symlink(gen, tmp); err != nil {
		return fmt.Errorf("symlink ..data_tmp: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(d.Dir, "..data")); err != nil {
		return fmt.Errorf("rename ..data: %w", err)
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(d.Dir, old))
	}
	return nil
}

// Package cniinstall puts decco-cni on a node and keeps it there: it
// copies the plugin into the host's CNI bin directory, chains it into the
// primary network configuration (package cniconf decides the content;
// this package reads and writes the files), writes the kubeconfig the
// plugin reads pods with when the runtime doesn't pass their annotations,
// re-chains when the primary CNI rewrites its configuration, and takes
// decco out of the chain when its DaemonSet goes. `decco-cni install` runs
// it in the chart's DaemonSet, with the host's directories mounted.
//
// Every write is a temporary file in the same directory renamed over the
// target, so a runtime reading the directory sees the old file or the new
// one, never half of one; the temporary names are not configurations a
// runtime reads (cniconf.IsConfig). Nothing is written when nothing
// differs, so the watch loop's own writes end in a quiet pass.
package cniinstall

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/decco-dev/decco/cniconf"
)

// KubeconfigName is the plugin's kubeconfig in the conf directory: a name
// no runtime reads as a network configuration.
const KubeconfigName = "decco-cni.kubeconfig"

// Config is where the installer finds and puts things.
type Config struct {
	// Plugin is the decco-cni binary to copy (the running executable).
	Plugin string
	// BinDir and ConfDir are the host's CNI bin and conf directories, as
	// mounted in the installer's container.
	BinDir, ConfDir string
	// HostConfDir is the conf directory as the host sees it: the plugin,
	// run by the runtime on the host, reads its kubeconfig there.
	HostConfDir string
	// Kubeconfig is the plugin's kubeconfig; nil writes none, and the
	// plugin then never reads the apiserver.
	Kubeconfig []byte
}

// entry is decco's entry in the primary configuration.
func (c Config) entry() cniconf.Entry {
	if c.Kubeconfig == nil {
		return cniconf.Entry{}
	}
	return cniconf.Entry{Kubeconfig: filepath.Join(c.HostConfDir, KubeconfigName)}
}

// Changes lists what one pass wrote, for the log.
type Changes []string

// ErrNoPrimary means the conf directory holds no network configuration
// yet: the primary CNI has not written it. The installer waits for it.
var ErrNoPrimary = errors.New("no CNI network configuration yet (.conf, .conflist or .json): waiting for the primary CNI to write one")

// Install makes the node run decco-cni: the binary in place, the
// kubeconfig written, decco chained into the primary configuration. It is
// idempotent; a malformed primary configuration is an error and stays as
// it is.
func Install(c Config) (Changes, error) {
	var changes Changes
	if wrote, err := ensureCopy(c.Plugin, c.BinDir, cniconf.PluginType, 0o755); err != nil {
		return changes, fmt.Errorf("installing %s into %s: %w", cniconf.PluginType, c.BinDir, err)
	} else if wrote {
		changes = append(changes, "copied "+cniconf.PluginType+" into "+c.BinDir)
	}
	if c.Kubeconfig != nil {
		if wrote, err := ensureFile(c.ConfDir, KubeconfigName, c.Kubeconfig, 0o600); err != nil {
			return changes, fmt.Errorf("writing the plugin's kubeconfig: %w", err)
		} else if wrote {
			changes = append(changes, "wrote "+KubeconfigName)
		}
	}
	name, data, mode, err := c.primary()
	if err != nil {
		return changes, err
	}
	r, err := cniconf.Chain(name, data, c.entry())
	if err != nil || !r.Changed {
		return changes, err
	}
	if err := writeAtomic(c.ConfDir, r.Name, bytes.NewReader(r.Data), mode); err != nil {
		return changes, fmt.Errorf("chaining decco into %s: %w", name, err)
	}
	if r.Name != name {
		// A single-plugin file became a .conflist; the old one sorts first
		// and would still be the network.
		if err := os.Remove(filepath.Join(c.ConfDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return changes, fmt.Errorf("removing %s, replaced by %s: %w", name, r.Name, err)
		}
		return append(changes, "chained decco into "+name+", now "+r.Name), nil
	}
	return append(changes, "chained decco into "+name), nil
}

// Uninstall takes decco out of every network configuration of the conf
// directory and removes the kubeconfig. The binary stays: without an
// entry naming it no runtime runs it, and a runtime still working from a
// configuration it read a moment ago finds it.
func Uninstall(c Config) (Changes, error) {
	entries, err := os.ReadDir(c.ConfDir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", c.ConfDir, err)
	}
	var changes Changes
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !cniconf.IsConfig(e.Name()) {
			continue
		}
		data, mode, err := readFile(c.ConfDir, e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r, err := cniconf.Unchain(e.Name(), data)
		if err != nil {
			// Not decco's to fix, and not chained by decco either.
			continue
		}
		if !r.Changed {
			continue
		}
		if err := writeAtomic(c.ConfDir, r.Name, bytes.NewReader(r.Data), mode); err != nil {
			errs = append(errs, fmt.Errorf("taking decco out of %s: %w", e.Name(), err))
			continue
		}
		changes = append(changes, "took decco out of "+e.Name())
	}
	if err := os.Remove(filepath.Join(c.ConfDir, KubeconfigName)); err == nil {
		changes = append(changes, "removed "+KubeconfigName)
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return changes, errors.Join(errs...)
}

// Check is the installer's readiness: nil once the binary is in place and
// the primary configuration runs decco's entry.
func Check(c Config) error {
	if _, err := os.Stat(filepath.Join(c.BinDir, cniconf.PluginType)); err != nil {
		return fmt.Errorf("%s is not installed: %w", cniconf.PluginType, err)
	}
	name, data, _, err := c.primary()
	if err != nil {
		return err
	}
	ok, err := cniconf.Chained(name, data, c.entry())
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the primary CNI configuration %s does not chain decco yet", filepath.Join(c.HostConfDir, name))
	}
	return nil
}

// primary reads the configuration the runtime uses.
func (c Config) primary() (name string, data []byte, mode fs.FileMode, err error) {
	entries, err := os.ReadDir(c.ConfDir)
	if err != nil {
		return "", nil, 0, fmt.Errorf("reading %s: %w", c.ConfDir, err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	name, ok := cniconf.Primary(names)
	if !ok {
		return "", nil, 0, ErrNoPrimary
	}
	data, mode, err = readFile(c.ConfDir, name)
	return name, data, mode, err
}

func readFile(dir, name string) ([]byte, fs.FileMode, error) {
	path := filepath.Join(dir, name)
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	data, err := os.ReadFile(path)
	return data, st.Mode().Perm(), err
}

// ensureFile writes data to dir/name unless it already holds it.
func ensureFile(dir, name string, data []byte, mode fs.FileMode) (bool, error) {
	old, err := os.ReadFile(filepath.Join(dir, name))
	if err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	return true, writeAtomic(dir, name, bytes.NewReader(data), mode)
}

// ensureCopy copies src to dir/name unless it already holds the same
// bytes. Both are streamed, never read whole: the plugin is tens of
// megabytes, the installer's memory limit a few times that, and a burst
// of file events runs a pass each.
func ensureCopy(src, dir, name string, mode fs.FileMode) (bool, error) {
	if same, err := sameContent(src, filepath.Join(dir, name)); err != nil || same {
		return false, err
	}
	f, err := os.Open(src)
	if err != nil {
		return false, fmt.Errorf("reading the plugin to install: %w", err)
	}
	defer f.Close()
	return true, writeAtomic(dir, name, f, mode)
}

// sameContent reports whether the files hold the same bytes; a missing b
// is not the same, a missing a is an error.
func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, fmt.Errorf("reading the plugin to install: %w", err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, nil // not there (or unreadable): write it
	}
	defer fb.Close()
	sa, err := fa.Stat()
	if err != nil {
		return false, err
	}
	sb, err := fb.Stat()
	if err != nil || sa.Size() != sb.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(fa, ba)
		nb, errB := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			return errB == io.EOF || errB == io.ErrUnexpectedEOF, nil
		}
		if errA != nil {
			return false, errA
		}
		if errB != nil {
			return false, nil
		}
	}
}

// writeAtomic replaces dir/name with what r holds: a temporary file in
// dir, synced, then renamed over the target.
func writeAtomic(dir, name string, r io.Reader, mode fs.FileMode) error {
	f, err := os.CreateTemp(dir, ".decco-cni-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, there is nothing to remove
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

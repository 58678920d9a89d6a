package controlplane

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// A test binary killed outright (go test's timeout, SIGKILL) can't stop its
// cluster, and envtest's etcd and kube-apiserver outlive it. So every
// running cluster is recorded under the cache directory, named after the
// process that owns it, and the next Start removes clusters whose owner is
// gone: it kills the processes that use their directories and deletes them.

// Records are the running things of one kind (clusters, test nodes) that
// test processes own, kept as files under the cache directory named
// "<owner pid>-<name>", so that the next run can clean up after an owner
// that died without stopping them.
type Records string

// clusters are the control planes Start made.
const clusters Records = "running"

// path is the record of name owned by this process, "" without a cache.
func (r Records) path(name string) string {
	cache, err := CacheDir()
	if err != nil || name == "" {
		return ""
	}
	return filepath.Join(cache, string(r), fmt.Sprintf("%d-%s", os.Getpid(), name))
}

// Add records name, owned by this process, with what cleaning it up
// takes.
func (r Records) Add(name string, data []byte) {
	if path := r.path(name); path != "" {
		_ = os.MkdirAll(filepath.Dir(path), 0o755)
		_ = os.WriteFile(path, data, 0o644)
	}
}

// Remove forgets name once it is stopped.
func (r Records) Remove(name string) {
	if path := r.path(name); path != "" {
		_ = os.Remove(path)
	}
}

// ReapStale calls clean with the record of every thing whose owner is gone,
// then forgets it.
func (r Records) ReapStale(clean func(owner int, data []byte)) {
	cache, err := CacheDir()
	if err != nil {
		return
	}
	records, _ := filepath.Glob(filepath.Join(cache, string(r), "*"))
	for _, path := range records {
		owner, err := strconv.Atoi(strings.SplitN(filepath.Base(path), "-", 2)[0])
		if err != nil || alive(owner) {
			continue
		}
		data, _ := os.ReadFile(path)
		clean(owner, data)
		_ = os.Remove(path)
	}
}

// record notes the directories that identify c's processes.
func record(c *Cluster) {
	if c.Dir == "" || c.env == nil {
		return
	}
	dirs := []string{c.Dir}
	if api := c.env.ControlPlane.APIServer; api != nil && api.CertDir != "" {
		dirs = append(dirs, api.CertDir)
	}
	if etcd := c.env.ControlPlane.Etcd; etcd != nil && etcd.DataDir != "" {
		dirs = append(dirs, etcd.DataDir)
	}
	clusters.Add(filepath.Base(c.Dir), []byte(strings.Join(dirs, "\n")))
}

func forget(c *Cluster) {
	if c.Dir != "" {
		clusters.Remove(filepath.Base(c.Dir))
	}
}

// reapStale cleans up after clusters whose owning process has died.
func reapStale(out io.Writer) {
	clusters.ReapStale(func(owner int, data []byte) {
		dirs := strings.Fields(string(data))
		if n := KillUsing(dirs); n > 0 {
			fmt.Fprintf(out, "stopped %d processes left by an interrupted run (owner pid %d)\n", n, owner)
		}
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
	})
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// KillUsing kills every process whose command line names one of dirs and
// returns how many it killed. test/node reaps its daemons with it too.
func KillUsing(dirs []string) int {
	if len(dirs) == 0 {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	killed := 0
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, d := range dirs {
			if d != "" && bytes.Contains(cmdline, []byte(d)) {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				if pid != os.Getpid() && syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
				break
			}
		}
	}
	return killed
}

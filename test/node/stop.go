package node

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/decco-dev/decco/test/controlplane"
)

// Stop ends the node and leaves the machine as Prepare found it: daemons and
// every container stopped, mounts under the node's directory unmounted,
// kubelet's cgroups, kube-proxy's and kube-router's rules and ipsets, the
// guard and the bridge removed, forwarding restored, the directory
// deleted. It is safe to call more than once.
func (n *Node) Stop() error {
	if n.Dir == "" {
		return nil
	}
	var errs []error
	// kubelet first, so nothing restarts what the rest stops.
	for i := len(n.procs) - 1; i >= 0; i-- {
		if n.procs[i].name == "kubelet" {
			controlplane.StopGroup(n.procs[i].cmd)
		}
	}
	// Containers: their shims left containerd's process group, so they
	// are found by the socket path on their command line; the containers'
	// own processes die with their pod cgroups.
	killCgroupProcs("kubepods")
	controlplane.KillUsing([]string{n.Dir})
	for i := len(n.procs) - 1; i >= 0; i-- {
		controlplane.StopGroup(n.procs[i].cmd)
	}
	n.procs = nil
	for i := len(n.undo) - 1; i >= 0; i-- {
		if err := n.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	n.undo = nil
	if err := unmountUnder(n.Dir); err != nil {
		errs = append(errs, err)
	}
	removeCgroups("kubepods")
	forget(n)
	if err := os.RemoveAll(n.Dir); err != nil {
		errs = append(errs, err)
	}
	n.Dir = ""
	if n.unlock != nil {
		n.unlock()
		n.unlock = nil
	}
	return errors.Join(errs...)
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// mountsUnder lists the mount points below dir, longest path first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountsUnder(f, dir), nil
}

func parseMountsUnder(r io.Reader, dir string) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

const cgroupRoot = "/sys/fs/cgroup"

// cgroupDirs lists name's directory in every cgroup hierarchy (v1: one per
// controller; v2: one).
func cgroupDirs(name string) []string {
	var out []string
	if _, err := os.Stat(filepath.Join(cgroupRoot, name)); err == nil {
		out = append(out, filepath.Join(cgroupRoot, name))
	}
	ctrls, _ := os.ReadDir(cgroupRoot)
	for _, c := range ctrls {
		d := filepath.Join(cgroupRoot, c.Name(), name)
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// killCgroupProcs kills every process in name's cgroup tree.
func killCgroupProcs(name string) {
	for _, d := range cgroupDirs(name) {
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
}

// removeCgroups removes name's cgroup tree, children first, waiting
// briefly for killed processes to leave it.
func removeCgroups(name string) {
	deadline := time.Now().Add(5 * time.Second)
	for _, d := range cgroupDirs(name) {
		var dirs []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, dir := range dirs {
			for os.Remove(dir) != nil && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

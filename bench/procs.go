package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// procCPU is the user and system CPU time process pid has used.
func procCPU(pid int) time.Duration {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	// Fields after the command name (which may hold spaces, in parens).
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// findProcess is the pid of a process named name whose command line
// contains arg (this cluster's port or directory), or 0.
func findProcess(name, arg string) int {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range cmdlines {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if filepath.Base(args[0]) == name && strings.Contains(string(b), arg) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			return pid
		}
	}
	return 0
}

// inProcessCounter sums a counter of this process's controller-runtime
// registry over the series whose label has value.
func inProcessCounter(name, label, value string) float64 {
	families, _ := crmetrics.Registry.Gather()
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if value == "" || labelOf(m, label) == value {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// Package testkit is the test support every suite shares and that needs
// nothing of decco's, so any test package can import it (test/deccotest
// adds what needs the manager): a program under test run as a real
// process (Proc: its output kept for the failure message, its exit
// observed, its end graceful first and forced after; GoBuild), and a test
// CA issuing certificates as cert-manager would (CA).
package testkit

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Log collects a process's output; it is safe to read while the process
// writes.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Proc is a running process.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	log  Log
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// Start starts cmd with its stdout and stderr going to the Proc's log.
// Unless cmd sets SysProcAttr, the process is killed if the test process
// dies, so a crashed test leaves nothing running.
func Start(name string, cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{Name: name, Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, filepath.Base(cmd.Path), err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// StartT is Start for a test: a failure to start fails t, and when the
// test ends the process gets SIGTERM and grace to exit (0: killed at
// once), and its log's last 8 KB are printed if the test failed.
func StartT(t testing.TB, name string, cmd *exec.Cmd, grace time.Duration) *Proc {
	t.Helper()
	p, err := Start(name, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Stop(syscall.SIGTERM, grace)
		if t.Failed() {
			t.Logf("%s log (last 8 KB):\n%s", name, Tail(p.Log(), 8<<10))
		}
	})
	return p
}

// Log is everything the process has written so far.
func (p *Proc) Log() string { return p.log.String() }

// LogContains reports whether the process has logged s.
func (p *Proc) LogContains(s string) bool { return strings.Contains(p.Log(), s) }

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for status 0) once it has exited.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Wait waits up to timeout for the process to exit and returns its exit
// error (nil for status 0), or an error saying it is still running.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running %s later", p.Name, timeout)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() { _ = p.Stop(syscall.SIGKILL, 0) }

// Stop sends sig and waits up to grace for the process to exit, then
// kills it; the error says when it had to. A process already gone is
// left alone.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
	if sig == syscall.SIGKILL {
		return nil
	}
	return fmt.Errorf("%s ignored %s for %s and was killed", p.Name, sig, grace)
}

// probeClient gives up on a request as the kubelet gives up on a probe.
var probeClient = &http.Client{Timeout: 5 * time.Second}

// WaitHTTP polls url until it answers 200, as a readiness probe would,
// and fails early if the process exits.
func (p *Proc) WaitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := probeClient.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before %s answered; log:\n%s", p.Name, p.err, url, Tail(p.Log(), 8<<10))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s (last: %v); log:\n%s", url, timeout, err, Tail(p.Log(), 8<<10))
		}
	}
}

// Tail is s's last n bytes.
func Tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var builds sync.Map // package path → *build

type build struct {
	once sync.Once
	path string
	err  error
}

// GoBuild builds the main package pkg (a path inside module root, e.g.
// ./cmd/decco) once per test process and returns the binary's path. The
// binary goes into dir under a name with this process's id, so suites
// running at once (in other checkouts too) never run each other's build;
// binaries left there by processes that have exited are removed first.
func GoBuild(t testing.TB, root, pkg, dir string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &build{})
	b := v.(*build)
	b.once.Do(func() {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.err = err
			return
		}
		name := filepath.Base(pkg)
		removeOrphans(dir, name)
		b.path = filepath.Join(dir, fmt.Sprintf("%s-%d", name, os.Getpid()))
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// removeOrphans deletes dir's name-<pid> binaries whose process is gone.
func removeOrphans(dir, name string) {
	matches, _ := filepath.Glob(filepath.Join(dir, name+"-*"))
	for _, m := range matches {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(m), name+"-"))
		if err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.Remove(m)
		}
	}
}

// Package reltest holds what the reliability suites (test/reliability/...)
// share: the decco binary run as a real process that can be killed and
// restarted, serving certificates from a CA the test controls, steady pod
// churn through the apiserver with every outcome counted, and webhook
// registration against the test control plane. Each suite is its own
// package with its own control plane configuration.
package reltest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
)

var (
	buildOnce sync.Once
	deccoBin  string
	buildErr  error
)

// Binary builds cmd/decco once per test process and returns its path:
// under the control plane's cache directory, one file per test binary
// (suites run in parallel), replaced by each run rather than left behind.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		cache, err := controlplane.CacheDir()
		if err != nil {
			buildErr = err
			return
		}
		dir := filepath.Join(cache, "reliability")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		deccoBin = filepath.Join(dir, "decco-for-"+filepath.Base(os.Args[0]))
		cmd := exec.Command("go", "build", "-o", deccoBin, "./cmd/decco")
		cmd.Dir = controlplane.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/decco: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return deccoBin
}

// Proc is a running decco manager process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// StartOptions tune Start.
type StartOptions struct {
	// Netns runs the process inside that network namespace (ip netns exec).
	Netns string
}

// Start runs the decco binary with args. The process is killed when the
// test ends if it is still running, and its log is printed if the test
// failed.
func Start(t testing.TB, name string, args []string, opts StartOptions) *Proc {
	t.Helper()
	bin := Binary(t)
	argv := append([]string{bin}, args...)
	if opts.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", opts.Netns}, argv...)
	}
	p := &Proc{Name: name, log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// ip netns exec execs the binary itself, so signals reach decco.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s log (last 6000 bytes):\n%s", name, tail(p.Log(), 6000))
		}
	})
	return p
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.done }

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

// Log is everything the process has written so far.
func (p *Proc) Log() string { return p.log.String() }

// LogContains reports whether the process has logged s.
func (p *Proc) LogContains(s string) bool { return strings.Contains(p.Log(), s) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// WaitFor polls check until it returns nil or fails the test after
// timeout (deccotest.WaitFor).
var WaitFor = deccotest.WaitFor

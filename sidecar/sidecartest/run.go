package sidecartest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/test/prereq"
	"github.com/decco-dev/decco/test/testkit"
)

// RequireStunnel returns the stunnel binary. Without one the test fails or
// skips by prereq's rule.
func RequireStunnel(t testing.TB) string {
	t.Helper()
	return prereq.Command(t, "apt-get install stunnel4", "stunnel4", "stunnel")
}

// Build compiles cmd/decco-sidecar into dir and returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "decco-sidecar")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/decco-dev/decco/cmd/decco-sidecar")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build decco-sidecar: %w\n%s", err, out)
	}
	return bin, nil
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick free port: %v", err)
	}
	defer ln.Close()
	return int32(ln.Addr().(*net.TCPAddr).Port)
}

// Addr is 127.0.0.1:port.
func Addr(port int32) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))) }

// Proc is a running decco-sidecar.
type Proc struct {
	Config sidecar.Config
	proc   *testkit.Proc
}

// Start runs the binary with cfg.Args(); the process is killed at cleanup.
func Start(t testing.TB, bin string, cfg sidecar.Config) *Proc {
	t.Helper()
	return &Proc{Config: cfg, proc: testkit.StartT(t, "sidecar", exec.Command(bin, cfg.Args()...), 0)}
}

// Pid is the sidecar's process id.
func (p *Proc) Pid() int { return p.proc.Pid() }

// Output is everything the sidecar logged so far.
func (p *Proc) Output() string { return p.proc.Log() }

// Ready GETs the readiness endpoint and returns the status and body.
func (p *Proc) Ready() (int, string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + Addr(p.Config.HealthPort) + sidecar.ReadyPath)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// WaitReady polls readiness until 200 or the timeout.
func (p *Proc) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	var last string
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		code, body, err := p.Ready()
		if err == nil && code == http.StatusOK {
			return
		}
		last = fmt.Sprintf("%d %q %v", code, body, err)
		select {
		case <-p.proc.Exited():
			t.Fatalf("sidecar exited before ready: %v", p.proc.Err())
		default:
		}
	}
	t.Fatalf("sidecar not ready after %s: %s", timeout, last)
}

// Stop sends sig and returns the exit code (-1 if killed by a signal).
func (p *Proc) Stop(t testing.TB, sig syscall.Signal, timeout time.Duration) int {
	t.Helper()
	if err := p.proc.Signal(sig); err != nil {
		t.Fatalf("signal sidecar: %v", err)
	}
	select {
	case <-p.proc.Exited():
	case <-time.After(timeout):
		t.Fatalf("sidecar did not exit within %s after %s", timeout, sig)
	}
	return p.proc.Cmd.ProcessState.ExitCode()
}

// EchoServer echoes every byte back on 127.0.0.1:port until ctx ends.
func EchoServer(ctx context.Context, t testing.TB, port int32) {
	t.Helper()
	ln := listen(t, port)
	go func() { <-ctx.Done(); ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
}

func listen(t testing.TB, port int32) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", Addr(port))
	if err != nil {
		t.Fatalf("listen on %d: %v", port, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Listen listens on 127.0.0.1:port, closed at cleanup.
func Listen(t testing.TB, port int32) net.Listener { return listen(t, port) }

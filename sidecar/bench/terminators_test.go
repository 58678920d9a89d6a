package bench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/sidecar/sidecartest"
)

// terminator is one program terminating mutual TLS in front of the echo
// and bulk servers.
type terminator struct {
	name       string
	echo, bulk int32 // its TLS ports
	// pids are the processes whose memory it uses (the sidecar and its
	// stunnel child).
	pids func() []int
}

// upstreams are the plaintext servers every terminator forwards to.
type upstreams struct{ echo, bulk int32 }

// sidecarTerminator runs decco-sidecar, which runs stunnel, at level.
func sidecarTerminator(t *testing.T, bin, certDir string, up upstreams, level string) terminator {
	cfg := sidecar.Config{CertDir: certDir, HealthPort: sidecartest.FreePort(t), LogLevel: level,
		Listeners: []sidecar.Listener{
			{Name: "echo", Port: sidecartest.FreePort(t), AppPort: up.echo, VerifyClient: true},
			{Name: "bulk", Port: sidecartest.FreePort(t), AppPort: up.bulk, VerifyClient: true}}}
	p := sidecartest.Start(t, bin, cfg)
	p.WaitReady(t, 15*time.Second)
	name := "decco-sidecar (stunnel)"
	if level != "" {
		name = fmt.Sprintf("decco-sidecar (stunnel), --log-level=%s", level)
	}
	pid := p.Pid()
	return terminator{name: name, echo: cfg.Listeners[0].Port, bulk: cfg.Listeners[1].Port,
		pids: func() []int { return append([]int{pid}, children(pid)...) }}
}

// goTerminator runs goterm, the floor: Go's crypto/tls and io.Copy.
func goTerminator(t *testing.T, certDir string, up upstreams) terminator {
	bin := filepath.Join(t.TempDir(), "goterm")
	build := exec.Command("go", "build", "-o", bin, "./goterm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build goterm: %v\n%s", err, out)
	}
	echo, bulk := sidecartest.FreePort(t), sidecartest.FreePort(t)
	cmd := exec.Command(bin, "-cert", filepath.Join(certDir, sidecar.CertFile), "-key", filepath.Join(certDir, sidecar.KeyFile),
		"-ca", filepath.Join(certDir, sidecar.CAFile),
		"-route", sidecartest.Addr(echo)+"="+sidecartest.Addr(up.echo),
		"-route", sidecartest.Addr(bulk)+"="+sidecartest.Addr(up.bulk))
	return startProcess(t, cmd, terminator{name: "Go crypto/tls terminator (floor)", echo: echo, bulk: bulk})
}

// haproxyTerminator runs Debian's HAProxy in TCP mode with the same
// certificate, CA and TLS versions: the peer.
func haproxyTerminator(t *testing.T, certDir string, up upstreams) terminator {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy not installed (apt-get install haproxy; hack/packages lists it)")
	}
	dir := t.TempDir()
	// HAProxy wants the certificate and its key in one file.
	var pem []byte
	for _, f := range []string{sidecar.CertFile, sidecar.KeyFile} {
		b, err := os.ReadFile(filepath.Join(certDir, f))
		if err != nil {
			t.Fatal(err)
		}
		pem = append(pem, b...)
	}
	crt := filepath.Join(dir, "tls.pem")
	if err := os.WriteFile(crt, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	echo, bulk := sidecartest.FreePort(t), sidecartest.FreePort(t)
	var conf strings.Builder
	conf.WriteString("global\n  maxconn 4096\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n")
	for _, r := range []struct {
		name      string
		port, app int32
	}{{"echo", echo, up.echo}, {"bulk", bulk, up.bulk}} {
		fmt.Fprintf(&conf, "\nlisten %s\n  bind %s ssl crt %s ca-file %s verify required ssl-min-ver TLSv1.2\n  server app %s\n",
			r.name, sidecartest.Addr(r.port), crt, filepath.Join(certDir, sidecar.CAFile), sidecartest.Addr(r.app))
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return startProcess(t, exec.Command(bin, "-db", "-f", cfg), terminator{name: "HAProxy " + haproxyVersion(bin) + " (peer)", echo: echo, bulk: bulk})
}

func haproxyVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").Output()
	f := strings.Fields(string(out))
	if len(f) > 2 {
		return f[2]
	}
	return ""
}

// startProcess starts cmd, waits until term's echo port accepts TLS
// connections and stops cmd at cleanup.
func startProcess(t *testing.T, cmd *exec.Cmd, term terminator) terminator {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", term.name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", term.name, out.String())
		}
	})
	waitListening(t, term.echo)
	waitListening(t, term.bulk)
	pid := cmd.Process.Pid
	term.pids = func() []int { return append([]int{pid}, children(pid)...) }
	return term
}

// children are pid's child processes (stunnel under decco-sidecar), from
// the children list of each of its threads: Go forks from any thread.
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, field := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(field); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// rssMiB is the resident memory of pids together.
func rssMiB(pids []int) float64 {
	var kb float64
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
				kb += v
			}
		}
	}
	return kb / 1024
}

// waitListening waits until port accepts TCP connections.
func waitListening(t *testing.T, port int32) {
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", sidecartest.Addr(port)); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on port %d after 15s", port)
}

// cpuTime is the user and system CPU time pids have used.
func cpuTime(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		rest := string(b)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:] // after the command name, which may hold spaces
		}
		if f := strings.Fields(rest); len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

package supervisor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/decco-dev/decco/sidecar"
)

// Options are the knobs of Run that are not part of the injector contract.
type Options struct {
	// Stunnel is the stunnel binary; empty means FindStunnel().
	Stunnel string
	// WorkDir is where stunnel.conf is written; empty means os.TempDir(),
	// which is the writable /tmp emptyDir in the container.
	WorkDir string
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// CertPoll is how often the certificate files are checked (default 1s).
	CertPoll time.Duration
	// StopTimeout bounds the wait for stunnel after a forwarded signal
	// before it is killed (default 20s, inside Kubernetes' default 30s grace).
	StopTimeout time.Duration
	// Signals are forwarded to stunnel and end Run; main feeds SIGTERM and
	// SIGINT here. Cancelling Run's context acts like SIGTERM.
	Signals <-chan os.Signal
}

// FindStunnel returns Debian's stunnel4 or stunnel from PATH, falling back
// to /usr/bin/stunnel4 for images that run without PATH.
func FindStunnel() string {
	for _, name := range []string{"stunnel4", "stunnel"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return "/usr/bin/stunnel4"
}

func (o Options) withDefaults() Options {
	if o.Stunnel == "" {
		o.Stunnel = FindStunnel()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.CertPoll <= 0 {
		o.CertPoll = time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 20 * time.Second
	}
	return o
}

// Run renders stunnel's configuration, serves readiness, runs stunnel (and
// restarts it with backoff should it die), reloads it when the certificates
// change, and returns nil once a signal or ctx stopped it cleanly.
func Run(ctx context.Context, c sidecar.Config, o Options) error {
	o = o.withDefaults()
	if len(c.Inbound) > 0 || c.OutboundPort != 0 {
		c.IPv6 = ipv6Available()
	}
	conf, err := RenderStunnel(c)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(o.WorkDir, "decco-sidecar-")
	if err != nil {
		return fmt.Errorf("create work dir: %w", err)
	}
	defer os.RemoveAll(dir)
	confPath := filepath.Join(dir, "stunnel.conf")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return fmt.Errorf("write stunnel config: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := newSupervisor(c, o, confPath, cancel)
	stopHealth, err := s.serveHealth(c.HealthPort)
	if err != nil {
		return err
	}
	defer stopHealth()
	go s.forwardSignals(ctx, runCtx, o.Signals)
	return s.run(runCtx)
}

// supervisor owns the stunnel process.
type supervisor struct {
	cfg      sidecar.Config
	opts     Options
	log      *slog.Logger
	confPath string
	checks   []portCheck
	probes   *probeSet
	token    string             // answers CheckPort: proves the redirect reached us
	cancel   context.CancelFunc // ends the run: stop was asked for

	mu       sync.Mutex
	proc     *os.Process // nil while stunnel is not running
	lastExit error       // why the previous stunnel exited
	stopping bool
}

func newSupervisor(c sidecar.Config, o Options, confPath string, cancel context.CancelFunc) *supervisor {
	return &supervisor{cfg: c, opts: o, log: o.Logger, confPath: confPath,
		checks: readinessChecks(c), probes: &probeSet{}, cancel: cancel, token: rand.Text()}
}

func (s *supervisor) run(ctx context.Context) error {
	certs, err := waitCerts(ctx, s.cfg.CertDir, s.opts.CertPoll, s.log)
	if err != nil {
		if s.isStopping() {
			return nil
		}
		return fmt.Errorf("wait for certificates: %w", err)
	}
	go watchCerts(ctx, s.cfg.CertDir, s.opts.CertPoll, certs, s.reload, s.log)
	backoff := time.Second
	for {
		started := time.Now()
		err := s.runOnce()
		if s.isStopping() {
			s.log.Info("stunnel stopped", "error", errString(err))
			return nil
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second // it ran fine for a while: start over
		}
		s.log.Error("stunnel exited, restarting", "error", errString(err), "backoff", backoff.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// runOnce starts stunnel and waits for it to exit.
func (s *supervisor) runOnce() error {
	cmd := exec.Command(s.opts.Stunnel, s.confPath)
	lw := newLogWriter(s.log, s.probes)
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.SysProcAttr = sysProcAttr()
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	err := cmd.Start()
	if err == nil {
		s.proc = cmd.Process
	}
	s.mu.Unlock()
	if err != nil {
		s.setExit(fmt.Errorf("start %s: %w", s.opts.Stunnel, err))
		return fmt.Errorf("start %s: %w", s.opts.Stunnel, err)
	}
	s.log.Info("stunnel started", "pid", cmd.Process.Pid, "config", s.confPath)
	err = cmd.Wait()
	if err == nil {
		err = errors.New("exited with status 0")
	}
	s.setExit(err)
	return err
}

func (s *supervisor) setExit(err error) {
	s.mu.Lock()
	s.proc, s.lastExit = nil, err
	s.mu.Unlock()
}

// reload asks stunnel to re-read its configuration and with it the
// certificate files. stunnel 5.68 keeps its listening sockets and every
// established connection across SIGHUP (tests check both); only new
// handshakes use the new certificate.
func (s *supervisor) reload(certState) {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return // the next start reads the new files anyway
	}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		s.log.Warn("signal stunnel to reload", "error", err)
	}
}

// stop forwards sig to stunnel and ends the run; stunnel is killed if it
// hasn't exited after StopTimeout.
func (s *supervisor) stop(sig os.Signal) {
	s.mu.Lock()
	first := !s.stopping
	s.stopping = true
	p := s.proc
	s.mu.Unlock()
	s.log.Info("stopping", "signal", sig.String())
	if p != nil {
		if err := p.Signal(sig); err != nil {
			s.log.Warn("forward signal to stunnel", "signal", sig.String(), "error", err)
		}
	}
	if first {
		s.cancel()
		time.AfterFunc(s.opts.StopTimeout, s.kill)
	}
}

func (s *supervisor) kill() {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p != nil {
		s.log.Warn("stunnel did not exit in time, killing it", "timeout", s.opts.StopTimeout.String())
		_ = p.Kill()
	}
}

func (s *supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

func (s *supervisor) forwardSignals(parent, run context.Context, sigs <-chan os.Signal) {
	for {
		select {
		case sig := <-sigs: // a nil channel never delivers
			s.stop(sig)
		case <-parent.Done():
			s.stop(syscall.SIGTERM)
			return
		case <-run.Done():
			if !s.isStopping() {
				return
			}
			// Keep forwarding: a second SIGTERM should still reach stunnel.
		}
	}
}

// notReady lists process-level reasons not to take traffic.
func (s *supervisor) notReady() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopping:
		return []string{"shutting down"}
	case s.proc == nil && s.lastExit != nil:
		return []string{"stunnel not running: " + s.lastExit.Error()}
	case s.proc == nil:
		return []string{"stunnel not started (waiting for certificates)"}
	}
	return nil
}

// serveHealth listens on port (all interfaces: kubelet probes the pod IP)
// and returns a function that shuts the server down.
func (s *supervisor) serveHealth(port int32) (func(), error) {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(int(port)))
	if err != nil {
		return nil, fmt.Errorf("listen on health port: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(sidecar.ReadyPath, s.readyHandler)
	mux.HandleFunc(interceptedPath, s.interceptedHandler)
	mux.HandleFunc(sidecar.AppHealthPrefix, appHealthHandler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("health server", "error", err)
		}
	}()
	s.log.Info("serving readiness", "port", port, "path", sidecar.ReadyPath)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ipv6Available reports whether the pod has IPv6 (a loopback address to
// bind); where it is turned off, listeners take IPv4 only.
func ipv6Available() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

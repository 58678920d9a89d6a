package manager

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Graceful termination of a webhook replica. When Kubernetes deletes a
// pod it sends SIGTERM and, at the same time, marks the pod's endpoint
// terminating; the apiserver keeps sending admission requests to that
// address until the EndpointSlice change reaches its informer. Worse, it
// talks to a webhook Service over HTTP/1.1 keep-alive connections pooled
// by the Service's name: a marked endpoint gets no new connections, but
// the pooled ones to it are reused until the server closes them, and a
// server closing an idle connection races the client picking it for a
// request (an EOF the apiserver does not retry). With failurePolicy Fail,
// each failed call is a pod creation refused in some space.
//
// So on SIGTERM the manager first drains, for --shutdown-delay: /readyz
// fails, requests are still served, and every response says
// "Connection: close", so each pooled connection is retired by the
// apiserver itself after its next request and replaced by one to a ready
// replica. Only then does the manager stop; stopping finishes in-flight
// requests and closes what is left idle (controller-runtime's webhook
// server shuts its http.Server down gracefully).

// draining is process-wide, as signals are: set by Drain.Run, read by the
// webhook server's handlers and the readiness check.
var draining atomic.Bool

// ShutdownOptions are the graceful-termination flags.
type ShutdownOptions struct {
	// Delay is how long the manager keeps serving after SIGTERM. Zero
	// by default, as kube-apiserver's --shutdown-delay-duration; the Helm
	// chart sets one.
	Delay time.Duration
}

// BindFlags registers the shutdown flags on fs.
func (o *ShutdownOptions) BindFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.Delay, "shutdown-delay", o.Delay,
		"After SIGTERM, keep serving for this long while /readyz fails, so the apiserver stops routing admission requests here before the server closes; then finish in-flight requests and exit. Set it above the cluster's endpoint propagation time (e.g. 5s) and below terminationGracePeriodSeconds. A second signal stops at once.")
}

// Validate names the flag when its value can't work.
func (o ShutdownOptions) Validate() error {
	if o.Delay < 0 {
		return errors.New("--shutdown-delay must not be negative")
	}
	return nil
}

// Drain turns the first termination signal into a readiness failure and
// connection-closing responses, then, after the delay, into the
// cancellation of the manager's context.
type Drain struct {
	delay time.Duration
	log   logr.Logger
}

// NewDrain returns a Drain that keeps serving for delay after a signal.
func NewDrain(delay time.Duration, log logr.Logger) *Drain {
	return &Drain{delay: delay, log: log}
}

// Checker is a readiness check that fails once draining has begun.
func (d *Drain) Checker() healthz.Checker {
	return func(*http.Request) error {
		if draining.Load() {
			return errors.New("shutting down: draining admission traffic")
		}
		return nil
	}
}

// SignalContext returns a context that ends d's delay after the first
// SIGTERM or SIGINT, or at once on a second one. It replaces
// controller-runtime's SetupSignalHandler, which ends it at once.
func (d *Drain) SignalContext(parent context.Context) context.Context {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
	ctx, cancel := context.WithCancel(parent)
	go func() {
		d.Run(ctx, signals)
		cancel()
	}()
	return ctx
}

// Run waits for a signal on signals (or for ctx to end), marks d
// draining, and returns after the delay or a second signal.
func (d *Drain) Run(ctx context.Context, signals <-chan os.Signal) {
	var sig os.Signal
	select {
	case <-ctx.Done():
		return
	case sig = <-signals:
	}
	draining.Store(true)
	d.log.Info("draining before shutdown: readiness fails, requests are still served", "signal", sig.String(), "delay", d.delay)
	timer := time.NewTimer(d.delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		d.log.Info("drained; stopping: in-flight requests finish, idle connections close")
	case sig = <-signals:
		d.log.Info("second signal; stopping now", "signal", sig.String())
	case <-ctx.Done():
	}
}

// closeWhileDraining wraps the webhook server so that every handler
// registered on it answers with "Connection: close" once the process is
// draining.
func closeWhileDraining(s crwebhook.Server) crwebhook.Server { return &drainingServer{Server: s} }

type drainingServer struct{ crwebhook.Server }

func (s *drainingServer) Register(path string, hook http.Handler) {
	s.Server.Register(path, closeConnectionWhileDraining(hook))
}

// closeConnectionWhileDraining sets "Connection: close" on h's responses
// while draining: net/http then closes the connection after the response,
// and the client, told so, does not reuse it.
func closeConnectionWhileDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

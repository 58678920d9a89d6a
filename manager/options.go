// Package manager wires decco's webhook server and reconciler into one
// controller-runtime manager: flags, health checks, metrics, leader
// election. cmd/decco is a thin main around it.
package manager

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/decco-dev/decco/dns/rfc2136"
	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/install"
)

// Options are the manager's settings. Every field is a flag; the Helm chart
// passes them from its values.
type Options struct {
	// Components.
	EnableWebhook    bool
	EnableReconciler bool

	// Serving.
	WebhookHost      string
	WebhookPort      int
	WebhookCertDir   string
	HealthProbeAddr  string
	MetricsAddr      string
	PprofAddr        string
	MaxRequestBytes  int64
	SystemNamespace  string
	LeaderElect      bool
	LeaderElectionNS string
	LeaseDuration    time.Duration
	KubeAPIQPS       float32
	KubeAPIBurst     int

	// Sidecar holds the sidecar flags, shared with spacectl.
	Sidecar inject.Settings

	// Reconciler holds the space reconciler's flags (reconciler.go).
	Reconciler ReconcilerOptions
	// ManyPerProcess lets several managers run in one process (tests,
	// benchmarks); controller-runtime otherwise refuses a second
	// controller of the same name. Not a flag.
	ManyPerProcess bool
	// Shutdown configures graceful termination (shutdown.go).
	Shutdown ShutdownOptions
	// RFC2136 configures --dns-provider=rfc2136.
	RFC2136 rfc2136.Options
}

// DefaultOptions are the flag defaults.
func DefaultOptions() Options {
	return Options{
		EnableWebhook:    true,
		EnableReconciler: true,
		WebhookPort:      9443,
		WebhookCertDir:   "/var/run/decco/webhook-tls",
		HealthProbeAddr:  ":8081",
		MetricsAddr:      ":8080",
		MaxRequestBytes:  2 << 20,
		SystemNamespace:  install.SystemNamespace,
		LeaderElect:      true,
		LeaseDuration:    15 * time.Second,
		KubeAPIQPS:       50,
		KubeAPIBurst:     100,
		Sidecar:          inject.DefaultSettings(),
		Reconciler:       DefaultReconcilerOptions(),
	}
}

// BindFlags registers every option on fs, with o's values as defaults.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.EnableWebhook, "enable-webhook", o.EnableWebhook, "Serve the admission webhook (sidecar injection and validation).")
	fs.BoolVar(&o.EnableReconciler, "enable-reconciler", o.EnableReconciler, "Run the space reconciler (PKI, NetworkPolicies, routes, DNS). Leader-elected.")
	fs.StringVar(&o.WebhookHost, "webhook-host", o.WebhookHost, "Address the webhook server binds to; empty means all interfaces.")
	fs.IntVar(&o.WebhookPort, "webhook-port", o.WebhookPort, "Port of the HTTPS admission webhook server.")
	fs.StringVar(&o.WebhookCertDir, "webhook-cert-dir", o.WebhookCertDir, "Directory with the webhook's serving certificate (tls.crt, tls.key); reloaded when it changes.")
	fs.StringVar(&o.HealthProbeAddr, "health-probe-bind-address", o.HealthProbeAddr, "Address serving /healthz and /readyz.")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "Address serving Prometheus metrics on /metrics; \"0\" turns them off.")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", o.PprofAddr, "Address serving Go's /debug/pprof profiles, for diagnosing CPU or memory; empty (the default) turns it off.")
	fs.Int64Var(&o.MaxRequestBytes, "max-request-bytes", o.MaxRequestBytes, "Largest admission request body accepted; larger ones are refused.")
	fs.StringVar(&o.SystemNamespace, "system-namespace", o.SystemNamespace, "decco's own namespace: never injected, and reachable from every project.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Elect one reconciler among replicas (the webhook always serves on every replica).")
	fs.StringVar(&o.LeaderElectionNS, "leader-election-namespace", o.LeaderElectionNS, "Namespace of the leader-election Lease (default: --system-namespace).")
	fs.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", o.LeaseDuration, "How long a leader's lease lasts without renewal; a standby takes over after it.")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "Requests per second the manager may send the apiserver (sustained); raise it for thousands of spaces.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "Requests the manager may send the apiserver in a burst above --kube-api-qps.")
	o.Sidecar.BindFlags(fs)
	o.Reconciler.BindFlags(fs)
	o.RFC2136.BindFlags(fs)
	o.Shutdown.BindFlags(fs)
}

// Validate checks the options a user can get wrong, naming the flag.
func (o Options) Validate() error {
	var errs []error
	if !o.EnableWebhook && !o.EnableReconciler {
		errs = append(errs, errors.New("--enable-webhook and --enable-reconciler are both false: nothing to run"))
	}
	if o.WebhookPort < 1 || o.WebhookPort > 65535 {
		errs = append(errs, fmt.Errorf("--webhook-port=%d: want 1-65535", o.WebhookPort))
	}
	if o.SystemNamespace == "" {
		errs = append(errs, errors.New("--system-namespace must name decco's namespace"))
	}
	errs = append(errs, o.Sidecar.Validate())
	if o.EnableReconciler {
		errs = append(errs, o.Reconciler.Validate())
		if o.Reconciler.DNSProvider == DNSProviderRFC2136 {
			errs = append(errs, o.validateRFC2136())
		}
	}
	errs = append(errs, o.Shutdown.Validate())
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps=%g --kube-api-burst=%d: both must be positive", o.KubeAPIQPS, o.KubeAPIBurst))
	}
	if o.MaxRequestBytes < 64<<10 {
		errs = append(errs, fmt.Errorf("--max-request-bytes=%d: want at least 65536", o.MaxRequestBytes))
	}
	return errors.Join(errs...)
}

// validateRFC2136 names the flags --dns-provider=rfc2136 can't do without.
func (o Options) validateRFC2136() error {
	var errs []error
	for flag, v := range map[string]string{
		"--dns-rfc2136-server": o.RFC2136.Server, "--dns-rfc2136-tsig-secret": o.RFC2136.TSIGSecret, "--dns-owner-id": o.RFC2136.OwnerID,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("--dns-provider=rfc2136 needs %s", flag))
		}
	}
	if o.RFC2136.TSIGSecret != "" {
		if _, err := o.RFC2136.SecretKey(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Package manager wires decco's webhook server and reconciler into one
// controller-runtime manager: flags, health checks, metrics, leader
// election. cmd/decco is a thin main around it.
package manager

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/decco-dev/decco/dns/rfc2136"
	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
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

	// Sidecar.
	SidecarImage         string
	SidecarCPURequest    string
	SidecarMemoryRequest string
	SidecarMemoryLimit   string
	SidecarUID           int64
	// NativeSidecar is "auto" (decide from the apiserver's version),
	// "true" or "false".
	NativeSidecar string
	// Interception is "ports" or "cni" (inject.Interception); in cni mode
	// PodCIDRs and ServiceCIDRs are the ranges the app's connections are
	// intercepted to, minus InterceptionExcludeCIDRs.
	Interception             string
	PodCIDRs                 []string
	ServiceCIDRs             []string
	InterceptionExcludeCIDRs []string

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
		EnableWebhook:        true,
		EnableReconciler:     true,
		WebhookPort:          9443,
		WebhookCertDir:       "/var/run/decco/webhook-tls",
		HealthProbeAddr:      ":8081",
		MetricsAddr:          ":8080",
		MaxRequestBytes:      2 << 20,
		SystemNamespace:      "decco-system",
		LeaderElect:          true,
		LeaseDuration:        15 * time.Second,
		KubeAPIQPS:           50,
		KubeAPIBurst:         100,
		SidecarImage:         "ghcr.io/decco-dev/decco-sidecar:latest",
		SidecarCPURequest:    "10m",
		SidecarMemoryRequest: "16Mi",
		SidecarMemoryLimit:   "64Mi",
		SidecarUID:           65532,
		NativeSidecar:        "auto",
		Interception:         string(inject.InterceptPorts),
		Reconciler:           DefaultReconcilerOptions(),
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
	fs.StringVar(&o.SidecarImage, "sidecar-image", o.SidecarImage, "Image of the injected TLS sidecar.")
	fs.StringVar(&o.SidecarCPURequest, "sidecar-cpu-request", o.SidecarCPURequest, "CPU request of the injected sidecar.")
	fs.StringVar(&o.SidecarMemoryRequest, "sidecar-memory-request", o.SidecarMemoryRequest, "Memory request of the injected sidecar.")
	fs.StringVar(&o.SidecarMemoryLimit, "sidecar-memory-limit", o.SidecarMemoryLimit, "Memory limit of the injected sidecar.")
	fs.Int64Var(&o.SidecarUID, "sidecar-uid", o.SidecarUID, "UID and GID the sidecar runs as; app containers may not use it.")
	fs.StringVar(&o.NativeSidecar, "native-sidecar", o.NativeSidecar, "Inject a native sidecar (init container with restartPolicy Always): auto (from the apiserver version), true or false.")
	fs.StringVar(&o.Interception, "interception", o.Interception, "How sidecars get the pods' traffic: ports (a TLS listener on port+10000, ports renamed, Services rewritten; nothing on the nodes) or cni (every port TLS on its own number, outbound mutual TLS; needs decco-cni on every node).")
	fs.StringSliceVar(&o.PodCIDRs, "pod-cidrs", o.PodCIDRs, "The cluster's pod ranges (both families on dual-stack); with --interception=cni, pods' connections to them leave as mutual TLS.")
	fs.StringSliceVar(&o.ServiceCIDRs, "service-cidrs", o.ServiceCIDRs, "The cluster's Service ranges; with --interception=cni, pods' connections to them leave as mutual TLS.")
	fs.StringSliceVar(&o.InterceptionExcludeCIDRs, "interception-exclude-cidrs", o.InterceptionExcludeCIDRs, "Destinations inside the pod or Service ranges that don't speak decco's TLS and are reached directly: the kubernetes Service's address, and the apiserver's when it serves inside the pod range.")
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
	if o.SidecarImage == "" {
		errs = append(errs, errors.New("--sidecar-image must not be empty"))
	}
	if _, err := o.SidecarResources(); err != nil {
		errs = append(errs, err)
	}
	switch o.NativeSidecar {
	case "auto", "true", "false":
	default:
		errs = append(errs, fmt.Errorf("--native-sidecar=%q: want auto, true or false", o.NativeSidecar))
	}
	if _, err := o.InterceptionRanges(); err != nil {
		errs = append(errs, err)
	}
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

// SidecarResources parses the sidecar resource flags.
func (o Options) SidecarResources() (corev1.ResourceRequirements, error) {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		flag, value string
		into        corev1.ResourceList
		name        corev1.ResourceName
	}{
		{"--sidecar-cpu-request", o.SidecarCPURequest, r.Requests, corev1.ResourceCPU},
		{"--sidecar-memory-request", o.SidecarMemoryRequest, r.Requests, corev1.ResourceMemory},
		{"--sidecar-memory-limit", o.SidecarMemoryLimit, r.Limits, corev1.ResourceMemory},
	} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			return r, fmt.Errorf("%s=%q: %w (e.g. 10m, 64Mi)", q.flag, q.value, err)
		}
		q.into[q.name] = v
	}
	return r, nil
}

// InterceptionRanges parses the interception flags; the ranges are empty
// in ports mode.
func (o Options) InterceptionRanges() (intercept.Ranges, error) {
	mode, err := inject.ParseInterception(o.Interception)
	if err != nil {
		return intercept.Ranges{}, fmt.Errorf("--interception: %w", err)
	}
	if mode != inject.InterceptCNI {
		return intercept.Ranges{}, nil
	}
	var r intercept.Ranges
	var errs []error
	for _, f := range []struct {
		flag     string
		values   []string
		into     *[]netip.Prefix
		required bool
	}{
		{"--pod-cidrs", o.PodCIDRs, &r.Pods, true},
		{"--service-cidrs", o.ServiceCIDRs, &r.Services, true},
		{"--interception-exclude-cidrs", o.InterceptionExcludeCIDRs, &r.Exclude, false},
	} {
		if f.required && len(f.values) == 0 {
			errs = append(errs, fmt.Errorf("--interception=cni needs %s: the cluster's ranges, whose connections leave as mutual TLS (chart value dataPlane.%s)", f.flag, chartKey(f.flag)))
		}
		for _, v := range f.values {
			p, err := netip.ParsePrefix(v)
			if err != nil || p.Masked() != p {
				errs = append(errs, fmt.Errorf("%s: %q is not a network range such as 10.244.0.0/16 or fd00::/64", f.flag, v))
				continue
			}
			*f.into = append(*f.into, p)
		}
	}
	return r, errors.Join(errs...)
}

func chartKey(flag string) string {
	switch flag {
	case "--pod-cidrs":
		return "podCIDRs"
	case "--service-cidrs":
		return "serviceCIDRs"
	}
	return "excludeCIDRs"
}

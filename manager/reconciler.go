package manager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/dns/rfc2136"
	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

func init() {
	utilruntime.Must(endpoint.AddToScheme(Scheme))
}

// DNS providers --dns-provider accepts.
const (
	DNSProviderNone        = "none"
	DNSProviderDNSEndpoint = "dnsendpoint"
	DNSProviderRFC2136     = "rfc2136"
)

// Route modes --route-mode accepts.
const (
	RouteModeGateway = "gateway"
	RouteModeIngress = "ingress"
)

// ReconcilerOptions are the space reconciler's flags.
type ReconcilerOptions struct {
	// DefaultIssuer and HTTPIssuer are "Issuer/name", "ClusterIssuer/name"
	// or "name" (an Issuer), or empty.
	DefaultIssuer string
	HTTPIssuer    string
	// Gateway is "namespace/name".
	Gateway         string
	RouteMode       string
	IngressClass    string
	SNIIngressClass string
	DNSProvider     string
	DNSTargets      []string
	DNSTTL          int64
	ClusterDomain   string
	Workers         int
	// VerifyBYOSecrets: see reconciler.Options.VerifyBYOSecrets.
	VerifyBYOSecrets bool
	// PodSecurityLevel: see reconciler.Options.PodSecurityLevel.
	PodSecurityLevel string
	// MaxServices, MaxHostnames and MaxDNSRecords: see
	// reconciler.Options.Limits.
	MaxServices, MaxHostnames, MaxDNSRecords int
}

// DefaultReconcilerOptions are the reconciler flags' defaults.
func DefaultReconcilerOptions() ReconcilerOptions {
	return ReconcilerOptions{
		Gateway:       "decco-system/decco",
		RouteMode:     RouteModeGateway,
		DNSProvider:   DNSProviderDNSEndpoint,
		ClusterDomain: "cluster.local",
		Workers:       4,
		// decco's sidecar passes restricted.
		PodSecurityLevel: reconciler.PodSecurityRestricted,
		MaxServices:      500,
		MaxHostnames:     500,
		MaxDNSRecords:    1000,
	}
}

// BindFlags registers the reconciler's flags on fs.
func (o *ReconcilerOptions) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.DefaultIssuer, "default-issuer", o.DefaultIssuer, "cert-manager issuer of a space's CA when the space sets no decco.io/issuer: ClusterIssuer/<name>, Issuer/<name> or <name> (an Issuer). It must be a SelfSigned issuer; empty means a self-signed CA per space.")
	fs.StringVar(&o.HTTPIssuer, "http-issuer", o.HTTPIssuer, "cert-manager issuer of the certificate the gateway serves for <space>.<domain>, e.g. an ACME ClusterIssuer: ClusterIssuer/<name> or Issuer/<name>; empty means the space CA.")
	fs.StringVar(&o.Gateway, "gateway", o.Gateway, "The shared Gateway as <namespace>/<name>: spaces' ListenerSets attach to it, DNS points at its addresses, and its namespace may reach exposed services. In ingress mode only the namespace (of the ingress controllers) is used.")
	fs.StringVar(&o.RouteMode, "route-mode", o.RouteMode, "How services are exposed: gateway (Gateway API ListenerSets, HTTPRoutes, TLSRoutes) or ingress (networking.k8s.io/v1 Ingresses).")
	fs.StringVar(&o.IngressClass, "ingress-class", o.IngressClass, "Ingress mode: class of HTTP Ingresses; empty means the cluster's default class.")
	fs.StringVar(&o.SNIIngressClass, "sni-ingress-class", o.SNIIngressClass, "Ingress mode: class of the SNI router that passes TCP services' TLS through; without it TCP services are not exposed.")
	fs.StringVar(&o.DNSProvider, "dns-provider", o.DNSProvider, "Where DNS records go: none, dnsendpoint (external-dns DNSEndpoint objects) or rfc2136 (dynamic updates to a DNS server).")
	fs.StringSliceVar(&o.DNSTargets, "dns-target", o.DNSTargets, "Address every record points at (repeatable): IP addresses, or one hostname. Default: the Gateway's status addresses (in ingress mode, the space's Ingresses').")
	fs.Int64Var(&o.DNSTTL, "dns-ttl", o.DNSTTL, "TTL of DNS records in seconds; 0 means the provider's default.")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "The cluster's DNS domain, for in-cluster names in workload certificates.")
	fs.IntVar(&o.Workers, "reconciler-workers", o.Workers, "How many spaces are reconciled at once.")
	fs.StringVar(&o.PodSecurityLevel, "pod-security-level", o.PodSecurityLevel, "Pod Security Admission level every space enforces (labels pod-security.kubernetes.io/ set by decco, which tenants can't change): restricted or baseline.")
	fs.IntVar(&o.MaxServices, "space-max-services", o.MaxServices, "Most Services one space may expose; past it the space's routes and records are withdrawn and its status says why. 0: no limit. A space's decco.io/limits overrides it.")
	fs.IntVar(&o.MaxHostnames, "space-max-hostnames", o.MaxHostnames, "Most hostnames one space may hold (its own and one per TCP service). 0: no limit. A space's decco.io/limits overrides it.")
	fs.IntVar(&o.MaxDNSRecords, "space-max-dns-records", o.MaxDNSRecords, "Most DNS records one space may publish. 0: no limit. A space's decco.io/limits overrides it.")
	fs.BoolVar(&o.VerifyBYOSecrets, "verify-byo-secrets", o.VerifyBYOSecrets, "Read the Secrets spaces bring themselves (decco.io/tcp-cert-secret, decco.io/http-cert-secret) to report missing ones and publish their CA for encrypted HTTP. Needs get on every Secret in the cluster; off, decco reads only its own Secrets (decco-ca, decco-workload-tls, decco-http-tls) and leaves tenants' to the tenants.")
}

// Validate checks the flags alone (no provider is built), naming the flag.
func (o ReconcilerOptions) Validate() error {
	_, err := o.reconcilerOptions("decco-system", nil)
	return err
}

// reconcilerOptions turns the flags into reconciler.Options with provider
// as the DNS provider.
func (o ReconcilerOptions) reconcilerOptions(systemNamespace string, provider dns.Provider) (reconciler.Options, error) {
	var errs []error
	def, err := parseIssuerFlag("--default-issuer", o.DefaultIssuer)
	errs = append(errs, err)
	httpIss, err := parseIssuerFlag("--http-issuer", o.HTTPIssuer)
	errs = append(errs, err)
	gwNS, gwName, _ := strings.Cut(o.Gateway, "/")
	if gwNS == "" || (o.RouteMode == RouteModeGateway && gwName == "") || strings.Contains(gwName, "/") {
		errs = append(errs, fmt.Errorf("--gateway=%q: want <namespace>/<name> of the shared Gateway", o.Gateway))
	}
	mode := route.ModeGatewayAPI
	switch o.RouteMode {
	case RouteModeGateway:
	case RouteModeIngress:
		mode = route.ModeIngress
	default:
		errs = append(errs, fmt.Errorf("--route-mode=%q: want %s or %s", o.RouteMode, RouteModeGateway, RouteModeIngress))
	}
	if !slices.Contains([]string{DNSProviderNone, DNSProviderDNSEndpoint, DNSProviderRFC2136}, o.DNSProvider) {
		errs = append(errs, fmt.Errorf("--dns-provider=%q: want %s, %s or %s", o.DNSProvider, DNSProviderNone, DNSProviderDNSEndpoint, DNSProviderRFC2136))
	}
	if err := errors.Join(errs...); err != nil {
		return reconciler.Options{}, err
	}
	ro := reconciler.Options{
		SystemNamespace:  systemNamespace,
		DefaultIssuer:    def,
		HTTPIssuer:       httpIss,
		Gateway:          route.GatewayRef{Namespace: gwNS, Name: gwName},
		RouteMode:        mode,
		IngressClass:     o.IngressClass,
		SNIIngressClass:  o.SNIIngressClass,
		DNS:              provider,
		DNSTargets:       o.DNSTargets,
		DNSTTL:           o.DNSTTL,
		ClusterDomain:    o.ClusterDomain,
		Workers:          o.Workers,
		VerifyBYOSecrets: o.VerifyBYOSecrets,
		PodSecurityLevel: o.PodSecurityLevel,
		Limits:           space.Limits{Services: o.MaxServices, Hostnames: o.MaxHostnames, DNSRecords: o.MaxDNSRecords},
	}
	if o.PodSecurityLevel == "" {
		return reconciler.Options{}, fmt.Errorf("--pod-security-level is empty: want %s or %s", reconciler.PodSecurityRestricted, reconciler.PodSecurityBaseline)
	}
	if err := ro.Validate(); err != nil {
		return ro, fmt.Errorf("reconciler flags (--dns-target, --dns-ttl, --cluster-domain, --reconciler-workers, --pod-security-level, --space-max-*): %w", err)
	}
	return ro, nil
}

// parseIssuerFlag reads Kind/name, or a bare name for an Issuer (as in
// decco.io/issuer); empty is no issuer.
func parseIssuerFlag(flag, v string) (space.IssuerRef, error) {
	if v == "" {
		return space.IssuerRef{}, nil
	}
	ref, err := space.ParseIssuerRef(v)
	if err != nil {
		return ref, fmt.Errorf("%s=%q: want ClusterIssuer/<name>, Issuer/<name> or <name>: %w", flag, v, err)
	}
	return ref, nil
}

// DNSProviderFactory builds a DNS provider for a manager.
type DNSProviderFactory func(ctx context.Context, mgr ctrl.Manager, opts Options) (dns.Provider, error)

// DNSProviders maps --dns-provider values to factories.
var DNSProviders = map[string]DNSProviderFactory{
	DNSProviderNone: func(context.Context, ctrl.Manager, Options) (dns.Provider, error) { return nil, nil },
	DNSProviderDNSEndpoint: func(_ context.Context, mgr ctrl.Manager, opts Options) (dns.Provider, error) {
		return endpoint.NewProvider(mgr.GetClient()).WithLiveReader(mgr.GetAPIReader()).WithSetIdentifier(opts.RFC2136.OwnerID), nil
	},
	DNSProviderRFC2136: func(ctx context.Context, mgr ctrl.Manager, opts Options) (dns.Provider, error) {
		o := opts.RFC2136
		o.TTL = opts.Reconciler.DNSTTL
		// The API reader: the TSIG Secret is read once, at start-up, and
		// never cached (the manager caches no Secret contents).
		return rfc2136.Load(ctx, mgr.GetAPIReader(), o, ctrl.Log.WithName("dns-rfc2136"))
	},
}

// reconcilerCache narrows the manager's caches for the reconciler (nil
// when it is off): see reconciler.CacheByObject.
func reconcilerCache(opts Options) map[client.Object]cache.ByObject {
	if !opts.EnableReconciler {
		return nil
	}
	ro, err := opts.Reconciler.reconcilerOptions(opts.SystemNamespace, nil)
	if err != nil {
		return nil // New validated the options already
	}
	if opts.Reconciler.DNSProvider != DNSProviderNone {
		// What matters to the cache is only whether DNS is on.
		ro.DNS = noDNS{}
	}
	out := reconciler.CacheByObject(ro)
	if opts.Reconciler.DNSProvider == DNSProviderDNSEndpoint {
		out[&endpoint.DNSEndpoint{}] = cache.ByObject{Label: reconciler.ManagedSelector()}
	}
	return out
}

// setupReconciler builds the DNS provider and registers the reconciler.
func setupReconciler(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	factory, ok := DNSProviders[opts.Reconciler.DNSProvider]
	if !ok {
		return fmt.Errorf("--dns-provider=%s is not built into this binary", opts.Reconciler.DNSProvider)
	}
	provider, err := factory(ctx, mgr, opts)
	if err != nil {
		return fmt.Errorf("--dns-provider=%s: %w", opts.Reconciler.DNSProvider, err)
	}
	ro, err := opts.Reconciler.reconcilerOptions(opts.SystemNamespace, provider)
	if err != nil {
		return err
	}
	ro.Interception = inject.Interception(opts.Interception)
	return reconciler.Setup(mgr, ro)
}

// noDNS stands in for "some DNS provider" where only its presence counts.
type noDNS struct{}

func (noDNS) Ensure(context.Context, string, []dns.Record) error { return nil }
func (noDNS) Remove(context.Context, string) error               { return nil }

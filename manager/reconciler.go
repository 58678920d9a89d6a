package manager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/dns/rfc2136"
	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// DNS providers --dns-provider accepts.
const (
	DNSProviderNone        = "none"
	DNSProviderDNSEndpoint = "dnsendpoint"
	DNSProviderRFC2136     = "rfc2136"
)

// Route modes --route-mode accepts.
const (
	RouteModeGateway         = "gateway"
	RouteModeGatewayPerSpace = "gateway-per-space"
	RouteModeIngress         = "ingress"
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
	GatewayClass    string
	GatewayPort     int32
	GatewayPodPort  int32
	IngressClass    string
	SNIIngressClass string
	DNSProvider     string
	DNSTargets      []string
	DNSTTL          int64
	ClusterDomain   string
	Workers         int
	// EgressDNS: see netpol.ParseDNSPeer.
	EgressDNS string
	// WorkloadCertDuration: see reconciler.Options.WorkloadCertDuration.
	WorkloadCertDuration time.Duration
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
		// cert-manager renews it with a third left: 30 days before expiry.
		WorkloadCertDuration: 90 * 24 * time.Hour,
		EgressDNS:            "kube-system/k8s-app=kube-dns",
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
	fs.StringVar(&o.Gateway, "gateway", o.Gateway, "The shared Gateway as <namespace>/<name>: spaces' ListenerSets attach to it, DNS points at its addresses, and its namespace may reach exposed services. In ingress and gateway-per-space modes only the namespace (of the ingress controllers, or of the proxies serving the spaces' Gateways) is used.")
	fs.StringVar(&o.RouteMode, "route-mode", o.RouteMode, "How services are exposed: gateway (Gateway API ListenerSets on the shared Gateway, HTTPRoutes, TLSRoutes), gateway-per-space (a Gateway of class --gateway-class in each space, for implementations without ListenerSet) or ingress (networking.k8s.io/v1 Ingresses).")
	fs.StringVar(&o.GatewayClass, "gateway-class", o.GatewayClass, "gateway-per-space mode: the GatewayClass of every space's Gateway.")
	fs.Int32Var(&o.GatewayPort, "gateway-port", o.GatewayPort, "Port of the spaces' HTTPS and TLS listeners: one the gateway implementation listens on (Traefik: an entry point's port).")
	fs.Int32Var(&o.GatewayPodPort, "gateway-pod-port", o.GatewayPodPort, "Port the gateway's pods (the proxies, or the ingress controllers, in the --gateway namespace) listen on for the spaces' listeners, when it differs from the port clients dial: Traefik 8443, Envoy Gateway 10443 for a 443 listener. Spaces with decco.io/egress-policy: declared may reach the gateway's namespace on it for their public names. 0 means each egress entry's own port.")
	fs.StringVar(&o.IngressClass, "ingress-class", o.IngressClass, "Ingress mode: class of HTTP Ingresses; empty means the cluster's default class.")
	fs.StringVar(&o.SNIIngressClass, "sni-ingress-class", o.SNIIngressClass, "Ingress mode: class of the SNI router that passes TCP services' TLS through; without it TCP services are not exposed.")
	fs.StringVar(&o.DNSProvider, "dns-provider", o.DNSProvider, "Where DNS records go: none, dnsendpoint (external-dns DNSEndpoint objects) or rfc2136 (dynamic updates to a DNS server).")
	fs.StringSliceVar(&o.DNSTargets, "dns-target", o.DNSTargets, "Address every record points at (repeatable): IP addresses, or one hostname. Default: the Gateway's status addresses (in ingress mode, the space's Ingresses').")
	fs.Int64Var(&o.DNSTTL, "dns-ttl", o.DNSTTL, "TTL of DNS records in seconds; 0 means the provider's default.")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "The cluster's DNS domain, for in-cluster names in workload certificates.")
	fs.StringVar(&o.EgressDNS, "egress-dns", o.EgressDNS, "Where the pods of a space with decco.io/egress-policy: declared may send DNS queries (port 53): <namespace>/<label>=<value> of the cluster DNS pods, or CIDRs for NodeLocal DNSCache (e.g. 169.254.20.10/32) or a node's resolver.")
	fs.DurationVar(&o.WorkloadCertDuration, "workload-cert-duration", o.WorkloadCertDuration, "Lifetime of each space's workload certificate (the one its sidecars serve), 1h to 2160h (90 days); cert-manager renews it with a third left. Shorter rotates the sidecars' keys more often.")
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
	case RouteModeGatewayPerSpace:
		mode = route.ModeGatewayPerSpace
		if o.GatewayClass == "" {
			errs = append(errs, errors.New("--gateway-class is empty: --route-mode=gateway-per-space gives every space a Gateway of this class; name your implementation's GatewayClass (kubectl get gatewayclass)"))
		}
	case RouteModeIngress:
		mode = route.ModeIngress
	default:
		errs = append(errs, fmt.Errorf("--route-mode=%q: want %s, %s or %s", o.RouteMode, RouteModeGateway, RouteModeGatewayPerSpace, RouteModeIngress))
	}
	if o.GatewayPort < 0 || o.GatewayPort > 65535 {
		errs = append(errs, fmt.Errorf("--gateway-port=%d: want a port number, or 0 for %d", o.GatewayPort, route.DefaultPort))
	}
	if o.GatewayPodPort < 0 || o.GatewayPodPort > 65535 {
		errs = append(errs, fmt.Errorf("--gateway-pod-port=%d: want the port the gateway's pods listen on, or 0 for each egress entry's own port", o.GatewayPodPort))
	}
	if !slices.Contains([]string{DNSProviderNone, DNSProviderDNSEndpoint, DNSProviderRFC2136}, o.DNSProvider) {
		errs = append(errs, fmt.Errorf("--dns-provider=%q: want %s, %s or %s", o.DNSProvider, DNSProviderNone, DNSProviderDNSEndpoint, DNSProviderRFC2136))
	}
	if err := errors.Join(errs...); err != nil {
		return reconciler.Options{}, err
	}
	ro := reconciler.Options{
		SystemNamespace:      systemNamespace,
		DefaultIssuer:        def,
		HTTPIssuer:           httpIss,
		Gateway:              route.GatewayRef{Namespace: gwNS, Name: gwName},
		RouteMode:            mode,
		GatewayClass:         o.GatewayClass,
		GatewayPort:          o.GatewayPort,
		GatewayPodPort:       o.GatewayPodPort,
		IngressClass:         o.IngressClass,
		SNIIngressClass:      o.SNIIngressClass,
		DNS:                  provider,
		DNSEndpoints:         o.DNSProvider == DNSProviderDNSEndpoint,
		DNSTargets:           o.DNSTargets,
		DNSTTL:               o.DNSTTL,
		ClusterDomain:        o.ClusterDomain,
		Workers:              o.Workers,
		WorkloadCertDuration: o.WorkloadCertDuration,
		VerifyBYOSecrets:     o.VerifyBYOSecrets,
		PodSecurityLevel:     o.PodSecurityLevel,
		Limits:               space.Limits{Services: o.MaxServices, Hostnames: o.MaxHostnames, DNSRecords: o.MaxDNSRecords},
	}
	if err := pki.ValidateWorkloadCertDuration(o.WorkloadCertDuration); err != nil {
		return reconciler.Options{}, fmt.Errorf("--workload-cert-duration=%s: %w", o.WorkloadCertDuration, err)
	}
	egressDNS, err := netpol.ParseDNSPeer(o.EgressDNS)
	if err != nil {
		return reconciler.Options{}, fmt.Errorf("--egress-dns=%w", err)
	}
	ro.EgressDNS = egressDNS
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
	// DNSEndpoints are applied by the reconciler with the space's other
	// objects (reconciler.Options.DNSEndpoints): no provider.
	DNSProviderDNSEndpoint: func(context.Context, ctrl.Manager, Options) (dns.Provider, error) { return nil, nil },
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
	if opts.Reconciler.DNSProvider == DNSProviderRFC2136 {
		// What matters to the cache is only whether DNS is on.
		ro.DNS = noDNS{}
	}
	return reconciler.CacheByObject(ro)
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
	// --dns-owner-id names this cluster to external-dns too, on the
	// endpoints of names several clusters publish (global names).
	ro.DNSSetIdentifier = opts.RFC2136.OwnerID
	ro.Interception = inject.Interception(opts.Sidecar.Interception)
	return reconciler.Setup(mgr, ro)
}

// noDNS stands in for "some DNS provider" where only its presence counts.
type noDNS struct{}

func (noDNS) Ensure(context.Context, string, []dns.Record) error { return nil }
func (noDNS) Remove(context.Context, string) error               { return nil }

package reconciler

import (
	"errors"
	"fmt"
	"net"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// FieldOwner is the server-side apply field manager of every write the
// reconciler makes, so `kubectl get -o yaml --show-managed-fields` tells
// decco's fields from a user's.
const FieldOwner = "decco"

// ControllerName names the controller in logs and controller-runtime's
// metrics (controller_runtime_reconcile_total{controller="space"}).
const ControllerName = "space"

// Options configure the reconciler. The manager fills them from its flags.
type Options struct {
	// Interception is the cluster's interception mode (inject.Interception):
	// in cni mode the NetworkPolicies open the Services' target ports
	// themselves, which the sidecar serves over TLS.
	Interception inject.Interception
	// SystemNamespace is decco's own namespace: admitted into every
	// space by the NetworkPolicies, never a space itself.
	SystemNamespace string
	// DefaultIssuer issues a space's CA when the space names no issuer;
	// empty means a self-signed CA per space (see package pki).
	DefaultIssuer space.IssuerRef
	// HTTPIssuer issues the certificate the gateway serves for
	// <space>.<domain> (a publicly trusted issuer, in production); empty
	// means the space CA.
	HTTPIssuer space.IssuerRef
	// Gateway is the shared Gateway that spaces' ListenerSets attach to
	// (Gateway API mode) and whose status.addresses DNS points at. In
	// Ingress and Gateway-per-space modes only its Namespace is used: the
	// namespace of the ingress controllers or of the proxies serving the
	// spaces' Gateways, admitted into every space.
	Gateway route.GatewayRef
	// RouteMode chooses Gateway API objects (on a shared Gateway or on a
	// Gateway per space) or Ingresses.
	RouteMode route.Mode
	// GatewayClass is the class of each space's Gateway
	// (route.ModeGatewayPerSpace).
	GatewayClass string
	// GatewayPort is the port of the spaces' listeners, one the gateway
	// implementation listens on; 0 means route.DefaultPort.
	GatewayPort int32
	// GatewayPodPort is the port the gateway's pods (the proxies, or the
	// ingress controllers, in Gateway.Namespace) listen on for the spaces'
	// listeners, which egress-policy: declared opens toward them for
	// public names (netpol.Gateway); 0 means the entry's own port.
	GatewayPodPort int32
	// IngressClass and SNIIngressClass are the Ingress classes of the HTTP
	// reverse proxy and of the SNI router (Ingress mode).
	IngressClass    string
	SNIIngressClass string
	// DNS publishes the spaces' records through an outside provider
	// (RFC 2136); nil leaves it to DNSEndpoints, or turns DNS off.
	DNS dns.Provider
	// DNSEndpoints publishes each space's records as an external-dns
	// DNSEndpoint in its namespace, applied with its other objects.
	DNSEndpoints bool
	// DNSSetIdentifier names this cluster on the DNSEndpoint endpoints of
	// names other clusters publish too (a customer's global name), as
	// external-dns's setIdentifier (--dns-owner-id). A space with a global
	// name publishes nothing there without it.
	DNSSetIdentifier string
	// DNSTargets, when set, is where every record points (IP addresses,
	// or one hostname) instead of the Gateway's (or, in Ingress mode, the
	// space's Ingresses') status addresses.
	DNSTargets []string
	// DNSTTL is the records' TTL in seconds; 0 means the provider's.
	DNSTTL int64
	// ClusterDomain is the cluster's DNS suffix, for the in-cluster names
	// in workload certificates.
	ClusterDomain string
	// EgressDNS is where the pods of a space with a declared egress may
	// send DNS queries; the zero value is netpol.DefaultDNSPeer.
	EgressDNS netpol.DNSPeer
	// WorkloadCertDuration is the lifetime of the spaces' workload
	// certificates (pki.Options.WorkloadCertDuration); 0 means 90 days.
	WorkloadCertDuration time.Duration
	// Workers is how many spaces are reconciled at once.
	Workers int
	// VerifyBYOSecrets lets the reconciler read the Secrets spaces bring
	// themselves (decco.io/tcp-cert-secret, decco.io/http-cert-secret):
	// it then reports a missing one in the status and publishes the CA
	// bundle from its ca.crt. Their names are the tenants' choice, so RBAC
	// can only grant this as get on every Secret in the cluster; without
	// it, decco reads only its own Secrets (OwnSecretNames) and the status
	// says that the tenant's are the tenant's responsibility.
	VerifyBYOSecrets bool
	// PodSecurityLevel is the Pod Security Admission level set on every
	// space (PodSecurityRestricted or PodSecurityBaseline); empty leaves
	// the labels alone.
	PodSecurityLevel string
	// Limits bound what one space may publish (Services exposed,
	// hostnames, DNS records); a space's decco.io/limits overrides them.
	// Zero fields mean no limit.
	Limits space.Limits
}

// Validate checks what a user can get wrong, naming the field.
func (o Options) Validate() error {
	var errs []error
	if o.SystemNamespace == "" {
		errs = append(errs, errors.New("reconciler: SystemNamespace is empty; set it to decco's namespace"))
	}
	switch o.RouteMode {
	case route.ModeGatewayAPI:
		if o.Gateway.Namespace == "" || o.Gateway.Name == "" {
			errs = append(errs, fmt.Errorf("reconciler: Gateway %q/%q: Gateway API mode needs the shared Gateway's namespace and name", o.Gateway.Namespace, o.Gateway.Name))
		}
	case route.ModeGatewayPerSpace:
		if o.Gateway.Namespace == "" || o.GatewayClass == "" {
			errs = append(errs, fmt.Errorf("reconciler: Gateway namespace %q, GatewayClass %q: a Gateway per space needs the namespace of the gateway's proxies and the class of the spaces' Gateways", o.Gateway.Namespace, o.GatewayClass))
		}
	case route.ModeIngress:
	default:
		errs = append(errs, fmt.Errorf("reconciler: RouteMode %q: want %q, %q or %q", o.RouteMode, route.ModeGatewayAPI, route.ModeGatewayPerSpace, route.ModeIngress))
	}
	if o.GatewayPort < 0 || o.GatewayPort > 65535 {
		errs = append(errs, fmt.Errorf("reconciler: GatewayPort %d: want a port number, or 0 for %d", o.GatewayPort, route.DefaultPort))
	}
	if o.GatewayPodPort < 0 || o.GatewayPodPort > 65535 {
		errs = append(errs, fmt.Errorf("reconciler: GatewayPodPort %d: want a port number, or 0 for each egress entry's own port", o.GatewayPodPort))
	}
	for _, iss := range []struct {
		field string
		ref   space.IssuerRef
	}{{"DefaultIssuer", o.DefaultIssuer}, {"HTTPIssuer", o.HTTPIssuer}} {
		if iss.ref != (space.IssuerRef{}) && (iss.ref.Name == "" || iss.ref.Kind != space.KindIssuer && iss.ref.Kind != space.KindClusterIssuer) {
			errs = append(errs, fmt.Errorf("reconciler: %s %s/%s: want Issuer/<name> or ClusterIssuer/<name>, or nothing", iss.field, iss.ref.Kind, iss.ref.Name))
		}
	}
	if o.DNS != nil && o.DNSEndpoints {
		errs = append(errs, errors.New("reconciler: DNS and DNSEndpoints are both set: choose one DNS provider"))
	}
	if err := checkTargets(o.DNSTargets); err != nil {
		errs = append(errs, err)
	}
	switch o.PodSecurityLevel {
	case "", PodSecurityRestricted, PodSecurityBaseline:
	default:
		errs = append(errs, fmt.Errorf("reconciler: PodSecurityLevel %q: want %q or %q", o.PodSecurityLevel, PodSecurityRestricted, PodSecurityBaseline))
	}
	if o.Limits.Services < 0 || o.Limits.Hostnames < 0 || o.Limits.DNSRecords < 0 {
		errs = append(errs, fmt.Errorf("reconciler: Limits %+v: want 0 (no limit) or more", o.Limits))
	}
	if o.DNSTTL < 0 {
		errs = append(errs, fmt.Errorf("reconciler: DNSTTL %d: want 0 (provider default) or more seconds", o.DNSTTL))
	}
	if len(validation.IsDNS1123Subdomain(o.ClusterDomain)) > 0 {
		errs = append(errs, fmt.Errorf("reconciler: ClusterDomain %q: want a DNS name such as cluster.local", o.ClusterDomain))
	}
	if err := pki.ValidateWorkloadCertDuration(o.WorkloadCertDuration); err != nil {
		errs = append(errs, fmt.Errorf("reconciler: WorkloadCertDuration: %w", err))
	}
	if o.Workers < 1 {
		errs = append(errs, fmt.Errorf("reconciler: Workers %d: want at least 1", o.Workers))
	}
	return errors.Join(errs...)
}

// publishesDNS reports whether the installation publishes records at all.
func (o Options) publishesDNS() bool { return o.DNS != nil || o.DNSEndpoints }

// checkTargets accepts IP addresses, or exactly one hostname: a name can
// only be a CNAME, and a CNAME can't share its name with other records.
func checkTargets(targets []string) error {
	var hosts int
	for _, t := range targets {
		if net.ParseIP(t) != nil {
			continue
		}
		if len(validation.IsDNS1123Subdomain(t)) > 0 {
			return fmt.Errorf("reconciler: DNS target %q is neither an IP address nor a DNS name", t)
		}
		hosts++
	}
	if hosts > 0 && len(targets) > 1 {
		return fmt.Errorf("reconciler: DNS targets %q: give IP addresses, or exactly one hostname (a CNAME)", targets)
	}
	return nil
}

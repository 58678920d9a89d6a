package reconciler

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// A space with decco.io/global-name is one region of a customer-wide
// name. Within a cluster the global name is a hostname like any other
// (first come, first served, so one space per cluster holds it); across
// clusters each region's decco publishes the gateway's address under it
// as a shared DNS name, proving the customer by the trust domain: the
// fingerprint of the CA the regions share.

// DNS part reasons of a region of a global name.
const (
	// ReasonRegionWithdrawn: the region is not ready, so its address left
	// the global name; other regions serve it.
	ReasonRegionWithdrawn = "RegionWithdrawn"
	// ReasonLastRegion: the region is not ready, but its address stays at
	// the global name: no other region publishes one, and a dead name is
	// worse than a sick one.
	ReasonLastRegion = "KeptAsLastRegion"
	// ReasonNoTrust: the region's CA is not issued yet, so nothing proves
	// which customer the global name is shared with.
	ReasonNoTrust = "WaitingForCA"
)

// LastRegionRecheck is how often an unready region whose address stays
// at its global name, as the last one, looks again whether another
// region publishes one: no event in its own cluster says so.
const LastRegionRecheck = 10 * time.Second

// hostnames are the hostnames the space asks for: route's, and its
// global name.
func hostnames(sp space.Space, services []corev1.Service) []string {
	hosts := route.Hostnames(sp, services)
	if sp.GlobalName != "" && !slices.Contains(hosts, sp.GlobalName) {
		hosts = append(hosts, sp.GlobalName)
	}
	return hosts
}

// globalIndex indexes space namespaces by their global name.
const globalIndex = "decco.global-name"

// globalNameOf is the globalIndex function: a valid space's global name.
func globalNameOf(obj client.Object) []string {
	if _, labeled := obj.GetLabels()[space.LabelSpace]; !labeled {
		return nil
	}
	sp, err := space.FromNamespace(obj)
	if err != nil || sp.GlobalName == "" {
		return nil
	}
	return []string{sp.GlobalName}
}

// globalHolders names the spaces whose global name is h, from the index.
func (r *Reconciler) globalHolders(ctx context.Context, h string) ([]string, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := r.client.List(ctx, list, client.MatchingFields{globalIndex: h}); err != nil {
		return nil, fmt.Errorf("listing the spaces with global name %s: %w", h, err)
	}
	out := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		out = append(out, ns.Name)
	}
	return out, nil
}

// rivalsOf are the spaces that can ask for hostname h: those named by
// its first two labels, and those whose global name it is.
func (r *Reconciler) rivalsOf(ctx context.Context, h string) ([]string, error) {
	holders, err := r.globalHolders(ctx, h)
	return append(claimants(h), holders...), err
}

// trustOf fingerprints the CA a space's certificates chain to (PEM, the
// workload Secret's ca.crt): the SHA-256 of the first certificate's
// public key, which survives the CA's renewal (its key is kept). "" when
// there is no CA yet.
func trustOf(caPEM []byte) string {
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return ""
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:16])
}

// trust reads the fingerprint of a global space's CA from the workload
// certificate's Secret (decco's own, memoized by its Certificate's
// resourceVersion): "" before it is issued, or for a space without a
// global name.
func (r *Reconciler) trust(ctx context.Context, sp space.Space, have owned) (string, error) {
	if sp.GlobalName == "" || sp.TCPCertSecret != "" {
		return "", nil
	}
	cert := writerOf(have, sp.WorkloadCertSecret())
	if cert == nil {
		return "", nil
	}
	f, err := r.ownSecret(ctx, types.NamespacedName{Namespace: sp.Name, Name: sp.WorkloadCertSecret()}, cert.ResourceVersion)
	return trustOf(f.caCrt), err
}

// regionReady says whether a region of a global name should be served:
// its certificates issued, its routes in place, and every routed Service
// backed by at least one ready pod (EndpointSlices' ready endpoints).
// why says what is missing.
func regionReady(pki, routes space.Condition, routed []corev1.Service, slices []discoveryv1.EndpointSlice) (ok bool, why string) {
	switch {
	case !pki.Ready:
		return false, "pki " + pki.Reason
	case !routes.Ready:
		return false, "routes " + routes.Reason
	case len(routed) == 0:
		return false, "no Service of the space is routed"
	}
	var empty []string
	for _, svc := range routed {
		if !hasReadyEndpoint(svc.Name, slices) {
			empty = append(empty, svc.Name)
		}
	}
	if len(empty) > 0 {
		return false, fmt.Sprintf("no ready pod behind Service %s", strings.Join(empty, ", "))
	}
	return true, ""
}

// hasReadyEndpoint: some slice of Service svc lists a ready endpoint (an
// unset ready condition counts as ready, as the API says).
func hasReadyEndpoint(svc string, slices []discoveryv1.EndpointSlice) bool {
	for _, sl := range slices {
		if sl.Labels[discoveryv1.LabelServiceName] != svc {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				return true
			}
		}
	}
	return false
}

// globalRecord is the region's record at its global name: every IP
// address among targets (a shared name can't be a CNAME), on standby
// while the region is not ready. An empty trust (the CA's Secret is
// being reissued) lets the provider keep the trust on record. nil
// without a global name or addresses.
func globalRecord(sp space.Space, targets []string, trust string, ready bool, ttl int64) *dns.Record {
	if sp.GlobalName == "" {
		return nil
	}
	var ips []string
	for _, t := range targets {
		if net.ParseIP(t) != nil {
			ips = append(ips, t)
		}
	}
	if len(ips) == 0 {
		return nil
	}
	return &dns.Record{Name: sp.GlobalName, Targets: ips, TTL: ttl, Shared: &dns.Shared{Trust: trust, Standby: !ready}}
}

// globalDNSCondition amends the dns part of a region of a global name
// with what happened at the name: withdrawn or kept as the last address
// while the region is not ready (why), published beside the others while
// it is.
func globalDNSCondition(c space.Condition, sp space.Space, trust string, ready bool, why string, states []dns.SharedState) space.Condition {
	if sp.GlobalName == "" || !c.Ready {
		return c
	}
	var st dns.SharedState
	for _, s := range states {
		if s.Name == sp.GlobalName {
			st = s
		}
	}
	if trust == "" && !st.Published && ready {
		return space.Condition{Reason: ReasonNoTrust, Message: fmt.Sprintf(
			"%s: the space's CA is not issued yet; its fingerprint is what proves, to the other regions, that they share %s with the same customer", sp.GlobalName, sp.GlobalName)}
	}
	others := "no other region publishes it"
	if len(st.Others) > 0 {
		others = fmt.Sprintf("other regions publishing it: %s", strings.Join(st.Others, ", "))
	}
	if st.Unknown {
		others = "this cluster's DNS provider (external-dns DNSEndpoints) can't see other regions"
	}
	switch {
	case !ready && !st.Published:
		return space.Condition{Reason: ReasonRegionWithdrawn, Message: fmt.Sprintf(
			"this region's address is withdrawn from %s while the space is not ready (%s); %s", sp.GlobalName, why, others)}
	case !ready:
		return space.Condition{Reason: ReasonLastRegion, Message: fmt.Sprintf(
			"the space is not ready (%s), but this region's address stays at %s: %s, and a name with no address is worse than a sick one", why, sp.GlobalName, others)}
	}
	c.Message += fmt.Sprintf("; this region's address is at %s (%s)", sp.GlobalName, others)
	return c
}

// regionState is a space's standing as a region of its global name in
// one reconcile.
type regionState struct {
	sp      space.Space
	trust   string
	ready   bool
	why     string
	records []dns.Record
}

// region decides the records to publish, the global name's included
// (on standby while the region is not ready), for a space that holds
// one.
func (r *Reconciler) region(ctx context.Context, sp space.Space, have owned, in Input, want Desired, pkiC, routesC space.Condition) (regionState, error) {
	g := regionState{sp: sp, records: want.Records}
	if sp.GlobalName == "" || !want.GlobalHeld || r.opts.DNS == nil {
		g.sp.GlobalName = ""
		return g, nil
	}
	trust, err := r.trust(ctx, sp, have)
	if err != nil {
		return g, err
	}
	g.trust = trust
	g.ready, g.why = regionReady(pkiC, routesC, want.Routed, in.EndpointSlices)
	if rec := globalRecord(sp, in.DNSTargets, trust, g.ready, r.opts.DNSTTL); rec != nil {
		g.records = append(slices.Clone(want.Records), *rec)
	}
	return g, nil
}

// condition amends the dns part with the global name's state, as the
// provider reports it.
func (g regionState) condition(c space.Condition, provider dns.Provider) space.Condition {
	if g.sp.GlobalName == "" {
		return c
	}
	var states []dns.SharedState
	if rep, ok := provider.(dns.SharedReporter); ok {
		states = rep.SharedStates(g.sp.Name)
	}
	return globalDNSCondition(c, g.sp, g.trust, g.ready, g.why, states)
}

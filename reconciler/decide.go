package reconciler

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// Input is everything the decisions about one space need, gathered from
// the informer caches by gather. Nothing below reads the cluster.
type Input struct {
	// Space is the space being reconciled.
	Space space.Space
	// Services are the Services of the space's namespace labeled with it.
	Services []corev1.Service
	// EndpointSlices are kube-controller-manager's slices of the space's
	// namespace: they resolve named target ports to the listener numbers
	// the policy opens (see netpol.ListenerPorts).
	EndpointSlices []discoveryv1.EndpointSlice
	// Peers are every valid, live space (this one included), with their
	// projects and hostnames, for project membership and hostname claims.
	Peers []Peer
	// CABundle is the CA certificate (PEM) the pods' certificates chain
	// to, once issued, for the ConfigMap that BackendTLSPolicies verify
	// pods against; nil before.
	CABundle []byte
	// DNSTargets is where the space's records point; empty when no
	// address is known yet.
	DNSTargets []string
	// Published is the space's DNSEndpoint as decco last applied it
	// (Options.DNSEndpoints), kept as it is while no address is known:
	// a load balancer that briefly reports none must not unpublish a
	// space.
	Published *endpoint.DNSEndpoint
	// Now stamps the hostnames the space claims in this reconcile.
	Now time.Time
	// EgressDestinations are where the space's pods' decco.io/egress
	// entries lead, when the space declares its egress; EgressErr names
	// the entries that lead nowhere.
	EgressDestinations []netpol.Destination
	EgressErr          error
	// Pods are the space's pods, with their metadata and declared ports
	// only, for the Service targets no pod serves.
	Pods []corev1.Pod
}

// Peer is one space as seen by the others.
type Peer struct {
	Name    string
	Project string
	// Created orders claims to hostnames nobody holds yet, the oldest
	// namespace first, so that spaces converged before decco recorded
	// claims keep their names.
	Created time.Time
	// Host is the space's own hostname, <name>.<domain>; empty for a
	// project member that is no rival.
	Host string
	// Hosts are the hostnames the space asks for (hostnames: route's and
	// its global name).
	Hosts []string
	// Held are the hostnames the space holds, as its namespace records
	// them (space.AnnotationHostnames): a held name is never given to
	// anyone else while the space lives.
	Held space.Claims
}

// Desired is what a space should have: the objects to apply, the
// exposures refused, and the DNS records to publish.
type Desired struct {
	Objects   []client.Object
	Conflicts []route.Conflict
	Records   []dns.Record
	// PortsErr names Services whose ports stay closed because their decco
	// annotations don't parse, and decco.io/egress entries that lead
	// nowhere under a declared egress policy.
	PortsErr error
	// Claims are the hostnames the space holds after this reconcile, to
	// record on its namespace before any route or record for them is
	// written.
	Claims space.Claims
	// Mismatches are the Service ports whose target some selected pod
	// doesn't declare, for the status.
	Mismatches []space.PortMismatch
	// Routed are the Services that got a route: a region of a global
	// name is served only while each has a ready pod.
	Routed []corev1.Service
	// GlobalHeld: the space holds its global name in this cluster (it has
	// one, and no other space here claimed it first).
	GlobalHeld bool
}

// decide builds the space's desired state from in with the builders. It
// is pure: equal inputs give equal outputs, so an unchanged space
// compares equal to what the cluster holds and causes no write.
func decide(in Input, o Options) Desired {
	sp := in.Space
	owners := claims(in.Peers)
	nested := nesting(in, owners)
	exposable, over := withinLimits(in, o)
	globalHeld := sp.GlobalName != "" && (owners[sp.GlobalName] == "" || owners[sp.GlobalName] == sp.Name)
	routes, conflicts := route.Objects(route.Input{
		Space:           sp,
		Services:        exposable,
		Mode:            o.RouteMode,
		Gateway:         o.Gateway,
		GatewayClass:    o.GatewayClass,
		Port:            o.GatewayPort,
		IngressClass:    o.IngressClass,
		SNIIngressClass: o.SNIIngressClass,
		Claimed:         owners,
		GlobalName:      heldGlobalName(sp, globalHeld),
	})
	if owner := owners[sp.Host()]; owner != "" && owner != sp.Name && nested == nil {
		conflicts = append(conflicts, route.Conflict{Hostname: sp.Host(), Owner: owner, Reason: route.ReasonHostnameTaken,
			Message: fmt.Sprintf("the space's own hostname %q already belongs to space %q; move the space to another domain", sp.Host(), owner)})
	}
	if owner := owners[sp.GlobalName]; sp.GlobalName != "" && !globalHeld {
		conflicts = append(conflicts, route.Conflict{Hostname: sp.GlobalName, Owner: owner, Reason: route.ReasonHostnameTaken,
			Message: fmt.Sprintf("the global name %q already belongs to space %q in this cluster; one space per cluster is a region of a global name, so set %s on one of them only", sp.GlobalName, owner, space.AnnotationGlobalName)})
	}
	for _, c := range []*route.Conflict{nested, over} {
		if c != nil {
			conflicts = append([]route.Conflict{*c}, conflicts...)
		}
	}
	listenerPorts := netpol.ListenerPorts
	var peerPorts []intstr.IntOrString
	if o.Interception == inject.InterceptCNI {
		listenerPorts = netpol.TransparentPorts
		peerPorts = netpol.DeclaredPorts(sp, in.Pods)
	}
	ports, portsErr := listenerPorts(sp, in.Services, in.EndpointSlices)
	exposed, _ := listenerPorts(sp, routed(exposable, conflicts), in.EndpointSlices)
	objs := []client.Object{}
	for _, p := range netpol.Policies(netpol.Input{
		Space:              sp,
		Interception:       o.Interception,
		ProjectMembers:     projectMembers(in.Peers, sp.Project),
		SystemNamespace:    o.SystemNamespace,
		GatewayNamespace:   o.Gateway.Namespace,
		ListenerPorts:      ports,
		ExposedPorts:       exposed,
		PeerPorts:          peerPorts,
		EgressDestinations: in.EgressDestinations,
		DNS:                o.EgressDNS,
	}) {
		objs = append(objs, p)
	}
	objs = append(objs, pki.Objects(withHeldGlobalName(sp, globalHeld), pki.Options{
		DefaultIssuer:        o.DefaultIssuer,
		HTTPIssuer:           o.HTTPIssuer,
		ClusterDomain:        o.ClusterDomain,
		WorkloadCertDuration: o.WorkloadCertDuration,
	})...)
	if cm := caBundle(sp, in.CABundle, routes); cm != nil {
		objs = append(objs, cm)
	}
	objs = append(objs, routes...)
	var records []dns.Record
	if o.publishesDNS() && len(in.DNSTargets) > 0 {
		records = withoutTaken(dns.Desired(sp, routed(exposable, conflicts), in.DNSTargets, o.DNSTTL), conflicts)
		records = slices.DeleteFunc(records, func(r dns.Record) bool {
			owner := owners[r.Name]
			return owner != "" && owner != sp.Name
		})
	}
	if ep := dnsEndpoint(in, o, records, globalHeld); ep != nil {
		objs = append(objs, ep)
	}
	return Desired{Objects: objs, Conflicts: conflicts, Records: records, PortsErr: errors.Join(portsErr, in.EgressErr),
		Claims: held(in, owners, over != nil), Routed: routed(exposable, conflicts), GlobalHeld: globalHeld,
		Mismatches: mismatches(in, o)}
}

// mismatches are the ports of the space's Services whose target some pod
// they select doesn't declare. cni interception serves every TCP port over
// TLS, declared or not, so there are none to report.
func mismatches(in Input, o Options) []space.PortMismatch {
	if o.Interception == inject.InterceptCNI {
		return nil
	}
	var out []space.PortMismatch
	for i := range in.Services {
		out = append(out, space.PortMismatches(&in.Services[i], in.Pods)...)
	}
	space.SortMismatches(out)
	return out
}

// dnsEndpoint is the space's DNSEndpoint with Options.DNSEndpoints: its
// records, what was published while no address is known, and nil (so it
// is pruned) when there is nothing to publish.
func dnsEndpoint(in Input, o Options, records []dns.Record, globalHeld bool) *endpoint.DNSEndpoint {
	if !o.DNSEndpoints {
		return nil
	}
	if len(in.DNSTargets) == 0 {
		if in.Published == nil {
			return nil
		}
		kept := endpoint.Build(in.Space, nil, "")
		kept.Spec = in.Published.DeepCopy().Spec
		return kept
	}
	if g := globalEndpointRecord(in, o, globalHeld); g != nil {
		records = append(slices.Clone(records), *g)
	}
	ep := endpoint.Build(in.Space, records, o.DNSSetIdentifier)
	if len(ep.Spec.Endpoints) == 0 {
		return nil
	}
	return ep
}

// heldGlobalName is the space's global name if it holds it here, which
// its routes then answer too.
func heldGlobalName(sp space.Space, held bool) string {
	if !held {
		return ""
	}
	return sp.GlobalName
}

// withHeldGlobalName is sp as its certificates see it: a space that does
// not hold its global name in this cluster gets no certificate naming it,
// so it holds no key for a name whose routes lead to another space.
func withHeldGlobalName(sp space.Space, held bool) space.Space {
	sp.GlobalName = heldGlobalName(sp, held)
	return sp
}

// globalEndpointRecord is the space's address at its global name in its
// DNSEndpoint: published while the space holds the name in this cluster
// and the cluster has a set identifier. Health can't withdraw it: no
// cluster sees another's endpoints, so withdrawing could leave the name
// with no address (the dns part says so).
func globalEndpointRecord(in Input, o Options, globalHeld bool) *dns.Record {
	if !globalHeld || o.DNSSetIdentifier == "" {
		return nil
	}
	return globalRecord(in.Space, in.DNSTargets, "", true, o.DNSTTL)
}

// nesting refuses new hostnames to a space whose domain is another live
// space's hostname (space db with domain shop.example.com, under space
// shop's shop.example.com), unless the platform allowed it with
// decco.io/nested-in: every name under the parent's hostname looks like
// the parent's. The space keeps the names it already holds (decco never
// takes a live name away); the others are marked as the parent's in
// owners, so route.Objects refuses them and held records none.
func nesting(in Input, owners map[string]string) *route.Conflict {
	sp := in.Space
	parent := ""
	var mine space.Claims
	for _, p := range in.Peers {
		switch {
		case p.Name == sp.Name:
			mine = p.Held
		case p.Host != "" && p.Host == sp.Domain:
			parent = p.Name
		}
	}
	if parent == "" || sp.NestedIn == parent {
		return nil
	}
	for _, h := range route.Hostnames(sp, in.Services) {
		if _, held := mine[h]; !held && (owners[h] == "" || owners[h] == sp.Name) {
			owners[h] = parent
		}
	}
	return &route.Conflict{Owner: parent, Reason: route.ReasonNestedDomain,
		Message: fmt.Sprintf("the space's domain %q is the hostname of space %q, so its names nest under that space's: it keeps the names it holds and claims no new one; the platform allows the nesting with %s: %q on this namespace",
			sp.Domain, parent, space.AnnotationNestedIn, parent)}
}

// withinLimits returns the Services to route and publish: all of them, or,
// when the space is over one of its limits, none (nothing partial: which
// Services would make the cut is no one's decision), with the conflict
// that says so.
func withinLimits(in Input, o Options) ([]corev1.Service, *route.Conflict) {
	limits := in.Space.Limits.Or(o.Limits)
	records := 0
	if o.publishesDNS() && len(in.DNSTargets) > 0 {
		records = len(dns.Desired(in.Space, in.Services, in.DNSTargets, o.DNSTTL))
	}
	problem := limits.Over(len(in.Services), len(hostnames(in.Space, in.Services)), records)
	if problem == "" {
		return in.Services, nil
	}
	return nil, &route.Conflict{Reason: route.ReasonLimitExceeded,
		Message: fmt.Sprintf("no Service of the space is routed or published: %s; remove Services, or ask the platform to raise %s", problem, space.AnnotationLimits)}
}

// held is what the space holds once this reconcile is done: every
// hostname it asks for that nobody else holds, since its first claim (or
// now, for a new one). A name it no longer asks for is released. Over a
// limit, the space keeps what it held and claims nothing new.
func held(in Input, owners map[string]string, overLimit bool) space.Claims {
	var before space.Claims
	for _, p := range in.Peers {
		if p.Name == in.Space.Name {
			before = p.Held
		}
	}
	if overLimit {
		return before
	}
	out := space.Claims{}
	for _, h := range hostnames(in.Space, in.Services) {
		if owner := owners[h]; owner != "" && owner != in.Space.Name {
			continue
		}
		at, ok := before[h]
		if !ok {
			at = in.Now
		}
		out[h] = at
	}
	return out
}

// routed are the Services that got a route: every one but those refused.
// The gateway may reach their listener ports and no other.
func routed(svcs []corev1.Service, conflicts []route.Conflict) []corev1.Service {
	refused := map[string]bool{}
	for _, c := range conflicts {
		refused[c.Service] = true
	}
	return slices.DeleteFunc(slices.Clone(svcs), func(s corev1.Service) bool { return refused[s.Name] })
}

// projectMembers names the spaces of project, sorted; nil for no project.
func projectMembers(peers []Peer, project string) []string {
	if project == "" {
		return nil
	}
	var out []string
	for _, p := range peers {
		if p.Project == project {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out
}

// claims maps every hostname some space holds or asks for to the space
// it belongs to: the one that recorded holding it first; for a name nobody
// holds, the oldest namespace asking for it. Ties go by name, so the
// answer never depends on which space happened to reconcile first. A
// space asking for a name another holds never gets it, however old.
func claims(peers []Peer) map[string]string {
	type claim struct {
		space string
		held  bool
		at    time.Time
	}
	beats := func(a, b claim) bool {
		if a.held != b.held {
			return a.held
		}
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.space, b.space)) < 0
	}
	best := map[string]claim{}
	consider := func(h string, c claim) {
		if cur, ok := best[h]; !ok || beats(c, cur) {
			best[h] = c
		}
	}
	for _, p := range peers {
		for h, at := range p.Held {
			consider(h, claim{space: p.Name, held: true, at: at})
		}
		for _, h := range p.Hosts {
			consider(h, claim{space: p.Name, at: p.Created})
		}
	}
	out := make(map[string]string, len(best))
	for h, c := range best {
		out[h] = c.space
	}
	return out
}

// withoutTaken drops the records of hostnames refused to the space: a
// name another space holds must keep pointing where that space says.
func withoutTaken(records []dns.Record, conflicts []route.Conflict) []dns.Record {
	refused := map[string]bool{}
	for _, c := range conflicts {
		if c.Reason == route.ReasonHostnameTaken && c.Hostname != "" {
			refused[c.Hostname] = true
		}
	}
	return slices.DeleteFunc(records, func(r dns.Record) bool { return refused[r.Name] })
}

// caBundle publishes the space CA certificate (never its key) as the
// ConfigMap route's BackendTLSPolicies verify pods against, when some
// route refers to it and the CA is issued.
func caBundle(sp space.Space, ca []byte, routes []client.Object) *corev1.ConfigMap {
	if len(ca) == 0 || !slices.ContainsFunc(routes, refersToCABundle) {
		return nil
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: sp.ObjectMeta(route.CABundleConfigMap),
		Data:       map[string]string{route.CABundleKey: string(ca)},
	}
}

// refersToCABundle: a BackendTLSPolicy verifying pods with the CA bundle.
func refersToCABundle(obj client.Object) bool {
	p, ok := obj.(*gatewayv1.BackendTLSPolicy)
	if !ok {
		return false
	}
	return slices.ContainsFunc(p.Spec.Validation.CACertificateRefs, func(r gatewayv1.LocalObjectReference) bool {
		return r.Kind == "ConfigMap" && string(r.Name) == route.CABundleConfigMap
	})
}

// dnsTargets picks where records point from a load balancer's addresses:
// every IP address (A/AAAA records), else the first hostname (a CNAME,
// which can't have siblings), sorted so the order never causes a write.
func dnsTargets(addrs []string) []string {
	var ips []string
	for _, a := range addrs {
		if net.ParseIP(a) != nil {
			ips = append(ips, a)
		}
	}
	if len(ips) > 0 {
		slices.Sort(ips)
		return slices.Compact(ips)
	}
	for _, a := range addrs {
		if a != "" {
			return []string{a}
		}
	}
	return nil
}

package reconciler

import (
	"cmp"
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns"
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
}

// Peer is one space as seen by the others.
type Peer struct {
	Name    string
	Project string
	// Created orders hostname claims: first come, first served.
	Created time.Time
	// Hosts are the hostnames the space asks for (route.Hostnames).
	Hosts []string
}

// Desired is what a space should have: the objects to apply, the
// exposures refused, and the DNS records to publish.
type Desired struct {
	Objects   []client.Object
	Conflicts []route.Conflict
	Records   []dns.Record
	// PortsErr names Services whose ports stay closed because their decco
	// annotations don't parse.
	PortsErr error
}

// decide builds the space's desired state from in with the builders. It
// is pure: equal inputs give equal outputs, so an unchanged space
// compares equal to what the cluster holds and causes no write.
func decide(in Input, o Options) Desired {
	sp := in.Space
	ports, portsErr := netpol.ListenerPorts(sp, in.Services, in.EndpointSlices)
	objs := []client.Object{}
	for _, p := range netpol.Policies(netpol.Input{
		Space:            sp,
		ProjectMembers:   projectMembers(in.Peers, sp.Project),
		SystemNamespace:  o.SystemNamespace,
		GatewayNamespace: o.Gateway.Namespace,
		ListenerPorts:    ports,
	}) {
		objs = append(objs, p)
	}
	objs = append(objs, pki.Objects(sp, pki.Options{
		DefaultIssuer: o.DefaultIssuer,
		HTTPIssuer:    o.HTTPIssuer,
		ClusterDomain: o.ClusterDomain,
		Services:      serviceNames(in.Services),
	})...)
	routes, conflicts := route.Objects(route.Input{
		Space:           sp,
		Services:        in.Services,
		Mode:            o.RouteMode,
		Gateway:         o.Gateway,
		IngressClass:    o.IngressClass,
		SNIIngressClass: o.SNIIngressClass,
		Claimed:         claims(in.Peers),
	})
	if cm := caBundle(sp, in.CABundle, routes); cm != nil {
		objs = append(objs, cm)
	}
	objs = append(objs, routes...)
	var records []dns.Record
	if o.DNS != nil && len(in.DNSTargets) > 0 {
		records = withoutTaken(dns.Desired(sp, in.Services, in.DNSTargets, o.DNSTTL), conflicts)
	}
	return Desired{Objects: objs, Conflicts: conflicts, Records: records, PortsErr: portsErr}
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

// claims maps every hostname some space asks for to the space that holds
// it: the one whose namespace is oldest, ties broken by name, so the
// answer never depends on which space happened to reconcile first.
func claims(peers []Peer) map[string]string {
	ordered := slices.Clone(peers)
	slices.SortFunc(ordered, func(a, b Peer) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Name, b.Name))
	})
	out := map[string]string{}
	for _, p := range ordered {
		for _, h := range p.Hosts {
			if _, taken := out[h]; !taken {
				out[h] = p.Name
			}
		}
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

func serviceNames(svcs []corev1.Service) []string {
	out := make([]string, 0, len(svcs))
	for _, s := range svcs {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
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
		ObjectMeta: objectMeta(sp, route.CABundleConfigMap),
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

// objectMeta names an object decco makes in the space, with the labels
// that let cleanup find it.
func objectMeta(sp space.Space, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Namespace: sp.Name,
		Name:      name,
		Labels:    map[string]string{space.LabelManagedBy: space.ManagedByValue, space.LabelSpace: sp.Name},
	}
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

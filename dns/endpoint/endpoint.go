// Package endpoint is decco's default way to publish DNS: each space's
// records as one external-dns DNSEndpoint object, named ObjectName, in the
// space's namespace, which external-dns publishes (its CRD source,
// --source=crd). The reconciler applies it with the space's other objects
// (server-side apply, pruned when nothing is left to publish); this
// package builds it and mirrors external-dns's types.
//
// Because the object lives in the tenant's namespace, the installation
// must not let tenants write DNSEndpoints (no RBAC grant on
// dnsendpoints.externaldns.k8s.io), or a tenant could publish any name.
package endpoint

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/space"
)

// ObjectName is the name of the DNSEndpoint in every space namespace.
const ObjectName = "decco"

// Build is the DNSEndpoint that publishes records for a space: one
// endpoint per record, sorted by name then type, labeled as decco's.
// Records without targets are left out. The endpoints of shared names (a
// customer's global name, which one cluster per region publishes) carry
// setID, this cluster's external-dns setIdentifier, so each cluster's
// external-dns owns only its own endpoint of the name.
func Build(sp space.Space, records []dns.Record, setID string) *DNSEndpoint {
	var eps []Endpoint
	for _, r := range records {
		if len(r.Targets) == 0 {
			continue
		}
		ep := Endpoint{DNSName: r.Name, RecordType: r.Type(), Targets: slices.Clone(r.Targets), RecordTTL: r.TTL}
		if r.Shared != nil {
			ep.SetIdentifier = setID
		}
		eps = append(eps, ep)
	}
	slices.SortFunc(eps, func(a, b Endpoint) int {
		return cmp.Or(cmp.Compare(a.DNSName, b.DNSName), cmp.Compare(a.RecordType, b.RecordType))
	})
	return &DNSEndpoint{
		TypeMeta:   metav1.TypeMeta{APIVersion: GroupVersion.String(), Kind: Kind},
		ObjectMeta: sp.ObjectMeta(ObjectName),
		Spec:       DNSEndpointSpec{Endpoints: eps},
	}
}

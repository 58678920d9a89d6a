package dns

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/space"
)

// Desired computes the records a space should have, sorted by name then
// type: <space>.<domain> always, and <service>.<space>.<domain> for every
// TCP Service of the space (no decco.io/http-path) with decco.io/dns:
// "true". Every record points at targets, the gateway's external
// addresses: IPv4 ones give an A record, IPv6 ones an AAAA record; with no
// IP at all, the first hostname (sorted) gives a CNAME, since a CNAME
// admits exactly one target and no other record beside it. Invalid targets
// are dropped; with no valid target there is nothing to point at and
// Desired returns nil.
//
// Services that are not the space's, fail to parse, or whose name makes an
// invalid DNS name are skipped: route.Objects reports those. Hostnames the
// route builder refuses because another space holds them must be filtered
// out by the caller.
func Desired(sp space.Space, services []corev1.Service, targets []string, ttl int64) []Record {
	groups := groupTargets(targets)
	if len(groups) == 0 {
		return nil
	}
	var out []Record
	for _, name := range names(sp, services) {
		for _, g := range groups {
			out = append(out, Record{Name: name, Targets: g, TTL: ttl})
		}
	}
	sortRecords(out)
	return out
}

// names lists the DNS names of the space, deduplicated.
func names(sp space.Space, services []corev1.Service) []string {
	out := []string{sp.Host()}
	for i := range services {
		svc := &services[i]
		if svc.Labels[space.LabelSpace] != sp.Name || (svc.Namespace != "" && svc.Namespace != sp.Name) ||
			svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		exp, err := space.ExposureFromService(svc)
		if err != nil || exp.HTTPPath != "" || !exp.DNS {
			continue
		}
		if h := sp.ServiceHost(svc.Name); space.IsDNSName(h) {
			out = append(out, h)
		}
	}
	slices.Sort(out[1:])
	return slices.Compact(out)
}

// groupTargets splits targets into the target lists of the records they
// make: [IPv4s] and [IPv6s] (either may be absent), or [one hostname].
// Each list is canonical (sorted, deduplicated, lowercase, no trailing
// dot) so equal inputs give equal records.
func groupTargets(targets []string) [][]string {
	var v4, v6, hosts []string
	for _, t := range targets {
		t = canonicalTarget(t)
		if t == "" {
			continue
		}
		switch typeOf(t) {
		case "A":
			v4 = append(v4, t)
		case "AAAA":
			v6 = append(v6, t)
		default:
			hosts = append(hosts, t)
		}
	}
	var out [][]string
	for _, g := range [][]string{v4, v6} {
		if len(g) > 0 {
			slices.Sort(g)
			out = append(out, slices.Compact(g))
		}
	}
	if len(out) == 0 && len(hosts) > 0 {
		slices.Sort(hosts)
		out = append(out, hosts[:1])
	}
	return out
}

// canonicalTarget returns t as records store it, or "" if it is neither an
// IP address nor a DNS name. IPv4-mapped IPv6 addresses become IPv4.
func canonicalTarget(t string) string {
	t = strings.TrimSpace(t)
	if a, err := netip.ParseAddr(t); err == nil {
		if a.Zone() != "" {
			return ""
		}
		return a.Unmap().String()
	}
	t = strings.ToLower(strings.TrimSuffix(t, "."))
	if !space.IsDNSName(t) {
		return ""
	}
	return t
}

// typeOf is the record type a single canonical target calls for.
func typeOf(t string) string { return Record{Targets: []string{t}}.Type() }

func sortRecords(rs []Record) {
	slices.SortFunc(rs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type(), b.Type()))
	})
}

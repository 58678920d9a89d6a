package rfc2136

import (
	"context"
	"strings"

	"github.com/miekg/dns"
)

// soaVerdict is what one SOA answer says about where a name lives.
type soaVerdict int

const (
	// soaUnknown: no authoritative SOA here; ask about the parent.
	soaUnknown soaVerdict = iota
	// soaFound: the answer names the zone holding the name.
	soaFound
	// soaDelegated: the server refers the name to other servers; it is
	// in a zone this server doesn't serve.
	soaDelegated
)

// soaZone reads one answer to an SOA query about name or one of its
// parents. An authoritative server puts the zone's SOA in the answer
// (asked at the apex) or in the authority section (asked below it, as
// NODATA or NXDOMAIN), so usually the first query settles it.
func soaZone(r *dns.Msg, name string) (string, soaVerdict) {
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return "", soaUnknown // REFUSED, SERVFAIL: not a zone here
	}
	if !r.Authoritative {
		for _, rr := range r.Ns {
			if rr.Header().Rrtype == dns.TypeNS && dns.IsSubDomain(dns.CanonicalName(rr.Header().Name), name) {
				return "", soaDelegated
			}
		}
		return "", soaUnknown
	}
	for _, section := range [][]dns.RR{r.Answer, r.Ns} {
		for _, rr := range section {
			if soa, ok := rr.(*dns.SOA); ok {
				zone := dns.CanonicalName(soa.Hdr.Name)
				if dns.IsSubDomain(zone, name) {
					return zone, soaFound
				}
			}
		}
	}
	return "", soaUnknown
}

// findZone finds the zone holding name (canonical) on the server by SOA
// queries, walking up one label at a time.
func (c *client) findZone(ctx context.Context, name string) (string, error) {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		candidate := name[off:]
		if candidate == "." || candidate == "" {
			break
		}
		r, err := c.query(ctx, candidate, dns.TypeSOA)
		if err != nil {
			return "", err
		}
		switch zone, verdict := soaZone(r, name); verdict {
		case soaFound:
			return zone, nil
		case soaDelegated:
			return "", &NoZoneError{Name: strings.TrimSuffix(name, "."), Server: c.server}
		}
	}
	return "", &NoZoneError{Name: strings.TrimSuffix(name, "."), Server: c.server}
}

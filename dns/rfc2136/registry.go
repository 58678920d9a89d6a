package rfc2136

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/util/validation"

	deccodns "github.com/decco-dev/decco/dns"
)

// Prefixes of the registry's TXT names. Kubernetes names have no
// underscores, so no name decco publishes for a tenant starts this way.
const (
	ownerPrefix = "_decco-owner."
	indexPrefix = "_decco-index."
)

// marker is one registry TXT value:
// "heritage=decco,owner=<owner>,space=<space>[,name=<name>]".
type marker struct {
	Owner string
	Space string
	// Name is set in index entries only: the published name, canonical.
	Name string
}

func (m marker) String() string {
	s := "heritage=decco,owner=" + m.Owner + ",space=" + m.Space
	if m.Name != "" {
		s += ",name=" + strings.TrimSuffix(m.Name, ".")
	}
	return s
}

// parseMarker decodes a registry TXT value. ok is false for anything
// that isn't exactly decco's format, so a TXT of another tool is never
// taken for decco's.
func parseMarker(s string) (m marker, ok bool) {
	fields := strings.Split(s, ",")
	if len(fields) < 3 || fields[0] != "heritage=decco" {
		return marker{}, false
	}
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		k, v, found := strings.Cut(f, "=")
		if !found || v == "" || seen[k] {
			return marker{}, false
		}
		seen[k] = true
		switch k {
		case "owner":
			m.Owner = v
		case "space":
			m.Space = v
		case "name":
			if !isHostname(v) {
				return marker{}, false
			}
			m.Name = dns.CanonicalName(v)
		default:
			return marker{}, false
		}
	}
	return m, m.Owner != "" && m.Space != ""
}

// ownerName is where name's ownership marker lives.
func ownerName(name string) string { return ownerPrefix + name }

// indexName is where space's index entries in zone live.
func indexName(space, zone string) string { return indexPrefix + space + "." + zone }

// txt builds a TXT record holding one string.
func txt(name string, ttl uint32, value string) *dns.TXT {
	return &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl}, Txt: []string{value}}
}

// txtValue joins a TXT record's strings: a value longer than 255 bytes is
// split into several by the wire format.
func txtValue(rr *dns.TXT) string { return strings.Join(rr.Txt, "") }

// rrset is the address data decco publishes at one name: IPv4 and IPv6
// addresses, or one CNAME target.
type rrset struct {
	Name  string   // canonical, with the trailing dot
	A     []string // sorted
	AAAA  []string // sorted
	CNAME string   // canonical target
	TTL   uint32
	// shared, set only while grouping wanted names by zone, carries a
	// shared name's wish through to its zone's sync.
	shared *sharedWant
}

func (r rrset) empty() bool { return len(r.A) == 0 && len(r.AAAA) == 0 && r.CNAME == "" }

func (r rrset) equal(o rrset) bool {
	return r.Name == o.Name && r.TTL == o.TTL && r.CNAME == o.CNAME && slices.Equal(r.A, o.A) && slices.Equal(r.AAAA, o.AAAA)
}

// describe is "A 192.0.2.1,192.0.2.2" for logs and errors.
func (r rrset) describe() (typ string, targets []string) {
	switch {
	case r.CNAME != "":
		return "CNAME", []string{strings.TrimSuffix(r.CNAME, ".")}
	case len(r.AAAA) > 0 && len(r.A) == 0:
		return "AAAA", r.AAAA
	case len(r.AAAA) > 0:
		return "A+AAAA", append(slices.Clone(r.A), r.AAAA...)
	default:
		return "A", r.A
	}
}

// records renders the rrset as DNS records.
func (r rrset) records() []dns.RR {
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: r.Name, Rrtype: t, Class: dns.ClassINET, Ttl: r.TTL}
	}
	var out []dns.RR
	if r.CNAME != "" {
		return append(out, &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: r.CNAME})
	}
	for _, a := range r.A {
		out = append(out, &dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(a).To4()})
	}
	for _, a := range r.AAAA {
		out = append(out, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.ParseIP(a)})
	}
	return out
}

// isHostname accepts what decco publishes and points at: a DNS-1123
// subdomain, any case, an optional trailing dot. Underscores can't occur,
// so no published name collides with a registry name.
func isHostname(s string) bool {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	return s != "" && len(validation.IsDNS1123Subdomain(s)) == 0
}

// desiredRRset validates one desired record and converts it: IP targets
// become A and AAAA records, a hostname target one CNAME.
func desiredRRset(rec deccodns.Record, defaultTTL int64) (rrset, error) {
	if !isHostname(rec.Name) {
		return rrset{}, fmt.Errorf("record name %q is not a host name (lowercase letters, digits, '-' and '.'; no '_', which marks decco's ownership records)", rec.Name)
	}
	out := rrset{Name: dns.CanonicalName(rec.Name)}
	ttl := rec.TTL
	if ttl == 0 {
		ttl = defaultTTL
	}
	if ttl < 0 || ttl > 1<<31-1 {
		return rrset{}, fmt.Errorf("record %s: TTL %d out of range 0..2147483647", rec.Name, rec.TTL)
	}
	out.TTL = uint32(ttl)
	if len(rec.Targets) == 0 {
		return rrset{}, fmt.Errorf("record %s has no targets: the gateway has no external address yet", rec.Name)
	}
	for _, t := range rec.Targets {
		ip := net.ParseIP(t)
		switch {
		case ip != nil && ip.To4() != nil:
			out.A = append(out.A, ip.To4().String())
		case ip != nil:
			out.AAAA = append(out.AAAA, ip.String())
		default:
			if len(rec.Targets) > 1 {
				return rrset{}, fmt.Errorf("record %s: targets %v mix a hostname with other targets; a hostname target (CNAME) must be the only one", rec.Name, rec.Targets)
			}
			if !isHostname(t) {
				return rrset{}, fmt.Errorf("record %s: target %q is neither an IP address nor a host name", rec.Name, t)
			}
			out.CNAME = dns.CanonicalName(t)
		}
	}
	slices.Sort(out.A)
	out.A = slices.Compact(out.A)
	slices.Sort(out.AAAA)
	out.AAAA = slices.Compact(out.AAAA)
	return out, nil
}

// merge joins two desired rrsets of one name: addresses add up, the
// lower TTL wins; a CNAME admits nothing beside it.
func merge(a, b rrset) (rrset, error) {
	if a.CNAME != "" || b.CNAME != "" {
		return rrset{}, fmt.Errorf("record %s appears twice, with a hostname target: a CNAME must be the only record of its name", trimDot(a.Name))
	}
	out := rrset{Name: a.Name, TTL: min(a.TTL, b.TTL)}
	out.A = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.A), b.A...))))
	out.AAAA = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.AAAA), b.AAAA...))))
	return out, nil
}

// currentRRset collects the address records at name from query answers
// (an A query on a CNAME name answers with the CNAME). Records with
// differing TTLs yield TTL 0, which no desired rrset has, so they get
// rewritten.
func currentRRset(name string, answers []dns.RR) rrset {
	out := rrset{Name: name}
	seen := map[string]bool{}
	mixed := false
	for _, rr := range answers {
		h := rr.Header()
		if dns.CanonicalName(h.Name) != name {
			continue
		}
		if seen[rr.String()] {
			continue
		}
		seen[rr.String()] = true
		if out.empty() {
			out.TTL = h.Ttl
		} else if h.Ttl != out.TTL {
			mixed = true
		}
		switch v := rr.(type) {
		case *dns.A:
			out.A = append(out.A, v.A.String())
		case *dns.AAAA:
			out.AAAA = append(out.AAAA, v.AAAA.String())
		case *dns.CNAME:
			out.CNAME = dns.CanonicalName(v.Target)
		}
	}
	if mixed {
		out.TTL = 0
	}
	slices.Sort(out.A)
	slices.Sort(out.AAAA)
	return out
}

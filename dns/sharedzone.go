package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// SharedOwner is one installation's ownership record at a shared name (a
// customer's global name), as the RFC 2136 provider writes it at
// _decco-owner.<name> and anyone who may query the zone reads it:
//
//	heritage=decco,owner=<owner id>,space=<space>,trust=<fingerprint>,targets=<a>+<b>
type SharedOwner struct {
	Owner   string   `json:"owner"`
	Space   string   `json:"space"`
	Trust   string   `json:"trust"`
	Targets []string `json:"targets"` // canonical IP addresses, sorted
}

// SharedOwnerPrefix is the label in front of a shared name where the
// ownership records live.
const SharedOwnerPrefix = "_decco-owner."

// String is the record's TXT value.
func (o SharedOwner) String() string {
	return "heritage=decco,owner=" + o.Owner + ",space=" + o.Space + ",trust=" + o.Trust + ",targets=" + strings.Join(o.Targets, "+")
}

// ID names the installation's region: owner/space.
func (o SharedOwner) ID() string { return o.Owner + "/" + o.Space }

// ParseSharedOwner decodes an ownership record's TXT value; ok is false
// for anything else, a name's exclusive owner record included.
func ParseSharedOwner(s string) (o SharedOwner, ok bool) {
	fields := strings.Split(s, ",")
	if len(fields) != 5 || fields[0] != "heritage=decco" {
		return SharedOwner{}, false
	}
	want := []string{"owner", "space", "trust", "targets"}
	vals := make([]string, len(want))
	for i, f := range fields[1:] {
		k, v, found := strings.Cut(f, "=")
		if !found || k != want[i] || v == "" {
			return SharedOwner{}, false
		}
		vals[i] = v
	}
	o = SharedOwner{Owner: vals[0], Space: vals[1], Trust: vals[2]}
	for _, t := range strings.Split(vals[3], "+") {
		ip := net.ParseIP(t)
		if ip == nil {
			return SharedOwner{}, false
		}
		o.Targets = append(o.Targets, CanonicalIP(ip))
	}
	slices.Sort(o.Targets)
	return o, true
}

// CanonicalIP is ip's one spelling: dotted quad for IPv4 (also when
// given as an IPv4-mapped IPv6 address), RFC 5952 for IPv6.
func CanonicalIP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}

// SharedView is what the zone says about a shared name: who publishes
// there, and what it serves (other tools' records included).
type SharedView struct {
	Name   string        `json:"name"`
	Owners []SharedOwner `json:"owners"`
	Served []string      `json:"served"`
}

// ReadShared asks server (host:port) about shared name over TCP, with
// plain unsigned queries, as a resolver would: the ownership records at
// _decco-owner.<name> and the addresses at the name. It needs no key, so
// spacectl can show a global name's regions to anyone the server answers,
// and uses Go's own resolver so the CLI links no DNS library.
func ReadShared(ctx context.Context, server, name string) (SharedView, error) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	out := SharedView{Name: name}
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", server)
	}}
	txts, err := r.LookupTXT(ctx, SharedOwnerPrefix+name+".")
	if err != nil && !notFound(err) {
		return out, fmt.Errorf("asking %s for %s%s TXT: %w", server, SharedOwnerPrefix, name, err)
	}
	for _, t := range txts {
		if o, ok := ParseSharedOwner(t); ok {
			out.Owners = append(out.Owners, o)
		}
	}
	slices.SortFunc(out.Owners, func(a, b SharedOwner) int { return strings.Compare(a.ID(), b.ID()) })
	ips, err := r.LookupIPAddr(ctx, name+".")
	if err != nil && !notFound(err) {
		return out, fmt.Errorf("asking %s for the addresses of %s: %w", server, name, err)
	}
	for _, ip := range ips {
		out.Served = append(out.Served, CanonicalIP(ip.IP))
	}
	slices.Sort(out.Served)
	return out, nil
}

// notFound: the name or the record type doesn't exist, which for a
// shared name means nobody publishes there (yet).
func notFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

package rfc2136

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// SharedOwner is one installation's ownership record at a shared name,
// as anyone who may query the zone reads it.
type SharedOwner struct {
	Owner   string   `json:"owner"`
	Space   string   `json:"space"`
	Trust   string   `json:"trust"`
	Targets []string `json:"targets"`
}

// SharedView is what the zone says about a shared name: who publishes
// there, and what it serves (other tools' records included).
type SharedView struct {
	Name   string        `json:"name"`
	Owners []SharedOwner `json:"owners"`
	Served []string      `json:"served"`
}

// ReadShared asks server (host:port) about shared name, with plain
// unsigned queries, as a resolver would: the ownership records at
// _decco-owner.<name> and the A and AAAA records at the name. It needs
// no key, so spacectl can show a global name's regions to anyone the
// server answers.
func ReadShared(ctx context.Context, server, name string) (SharedView, error) {
	fqdn := dns.Fqdn(strings.ToLower(name))
	out := SharedView{Name: strings.TrimSuffix(fqdn, ".")}
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	ask := func(qname string, qtype uint16) ([]dns.RR, error) {
		m := new(dns.Msg)
		m.SetQuestion(qname, qtype)
		r, _, err := c.ExchangeContext(ctx, m, server)
		if err != nil {
			return nil, fmt.Errorf("asking %s for %s %s: %w", server, qname, dns.TypeToString[qtype], err)
		}
		if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			return nil, fmt.Errorf("asking %s for %s %s: %s", server, qname, dns.TypeToString[qtype], rcodeName(r.Rcode))
		}
		return r.Answer, nil
	}
	txts, err := ask(ownerName(fqdn), dns.TypeTXT)
	if err != nil {
		return out, err
	}
	for _, rr := range txts {
		if t, ok := rr.(*dns.TXT); ok {
			if m, ok := parseSharedMarker(txtValue(t)); ok {
				out.Owners = append(out.Owners, SharedOwner(m))
			}
		}
	}
	slices.SortFunc(out.Owners, func(a, b SharedOwner) int { return strings.Compare(a.Owner+"/"+a.Space, b.Owner+"/"+b.Space) })
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := ask(fqdn, t)
		if err != nil {
			return out, err
		}
		for _, rr := range rrs {
			switch v := rr.(type) {
			case *dns.A:
				out.Served = append(out.Served, canonicalIP(v.A))
			case *dns.AAAA:
				out.Served = append(out.Served, canonicalIP(v.AAAA))
			}
		}
	}
	slices.Sort(out.Served)
	return out, nil
}

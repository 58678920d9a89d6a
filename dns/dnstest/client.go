package dnstest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Query asks the server for name's records of type qtype, like dig would
// (unsigned, over TCP so large answers are never truncated), and returns
// the answer section. NXDOMAIN is an empty answer, not an error.
func (s *Server) Query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	r, _, err := c.ExchangeContext(ctx, m, s.Addr)
	if err != nil {
		return nil, fmt.Errorf("querying %s %s at %s: %w", name, dns.TypeToString[qtype], s.Addr, err)
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("querying %s %s at %s: %s", name, dns.TypeToString[qtype], s.Addr, dns.RcodeToString[r.Rcode])
	}
	return r.Answer, nil
}

// Values returns the sorted data of name's records of exactly type qtype
// (an A query answered with a CNAME yields nothing): "192.0.2.1" for A,
// "target.example." for CNAME, the strings joined by spaces for TXT.
func (s *Server) Values(t testing.TB, name string, qtype uint16) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rrs, err := s.Query(ctx, name, qtype)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype != qtype {
			continue
		}
		out = append(out, rdata(rr))
	}
	sort.Strings(out)
	return out
}

// TTL returns the TTL of name's records of type qtype, or 0 if none.
func (s *Server) TTL(t testing.TB, name string, qtype uint16) uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rrs, err := s.Query(ctx, name, qtype)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype {
			return rr.Header().Ttl
		}
	}
	return 0
}

func rdata(rr dns.RR) string {
	switch v := rr.(type) {
	case *dns.A:
		return v.A.String()
	case *dns.AAAA:
		return v.AAAA.String()
	case *dns.CNAME:
		return v.Target
	case *dns.TXT:
		return strings.Join(v.Txt, " ")
	default:
		return strings.TrimPrefix(rr.String(), rr.Header().String())
	}
}

// Update sends one RFC 2136 update for zone, signed with the server's
// key: remove deletes the given records (by exact data), then insert adds
// records. Tests use it to plant records decco did not make.
func (s *Server) Update(ctx context.Context, zone string, insert, remove []dns.RR) error {
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	if len(remove) > 0 {
		m.Remove(remove)
	}
	if len(insert) > 0 {
		m.Insert(insert)
	}
	key := dns.Fqdn(s.KeyName)
	m.SetTsig(key, dns.Fqdn(s.Algorithm), 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{key: s.Secret}}
	r, _, err := c.ExchangeContext(ctx, m, s.Addr)
	if err != nil {
		return fmt.Errorf("updating zone %s at %s: %w", zone, s.Addr, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("updating zone %s at %s: %s", zone, s.Addr, dns.RcodeToString[r.Rcode])
	}
	return nil
}

// Insert adds records written in zone-file syntax ("www.decco.test. 60 IN
// A 192.0.2.1") to the zone that contains them, failing t on error.
func (s *Server) Insert(t testing.TB, records ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, text := range records {
		rr, err := dns.NewRR(text)
		if err != nil {
			t.Fatalf("parsing %q: %v", text, err)
		}
		zone := s.zoneOf(rr.Header().Name)
		if zone == "" {
			t.Fatalf("%s is in none of the zones %v", rr.Header().Name, s.Zones)
		}
		if err := s.Update(ctx, zone, []dns.RR{rr}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// zoneOf is the longest served zone containing name.
func (s *Server) zoneOf(name string) string {
	best := ""
	for _, z := range s.Zones {
		if dns.IsSubDomain(dns.Fqdn(z), dns.Fqdn(name)) && len(z) > len(best) {
			best = z
		}
	}
	return best
}

package rfc2136

import (
	"testing"

	"github.com/miekg/dns"
)

func TestSOAZone(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	soa := func(zone string) dns.RR { return rr(zone + " 60 IN SOA ns." + zone + " h." + zone + " 1 2 3 4 5") }
	msg := func(rcode int, aa bool, answer, ns []dns.RR) *dns.Msg {
		m := new(dns.Msg)
		m.Rcode, m.Authoritative, m.Answer, m.Ns = rcode, aa, answer, ns
		return m
	}
	name := "db.shop.example.com."
	for _, tc := range []struct {
		name    string
		r       *dns.Msg
		zone    string
		verdict soaVerdict
	}{
		{"apex answer", msg(dns.RcodeSuccess, true, []dns.RR{soa("example.com.")}, nil), "example.com.", soaFound},
		{"NODATA with SOA in authority", msg(dns.RcodeSuccess, true, nil, []dns.RR{soa("shop.example.com.")}), "shop.example.com.", soaFound},
		{"NXDOMAIN with SOA in authority", msg(dns.RcodeNameError, true, nil, []dns.RR{soa("example.com.")}), "example.com.", soaFound},
		{"SOA of an unrelated zone", msg(dns.RcodeSuccess, true, nil, []dns.RR{soa("example.org.")}), "", soaUnknown},
		{"refused", msg(dns.RcodeRefused, false, nil, nil), "", soaUnknown},
		{"servfail", msg(dns.RcodeServerFailure, true, nil, []dns.RR{soa("example.com.")}), "", soaUnknown},
		{"not authoritative (a resolver's answer)", msg(dns.RcodeSuccess, false, []dns.RR{soa("example.com.")}, nil), "", soaUnknown},
		{"referral to a delegated zone", msg(dns.RcodeSuccess, false, nil, []dns.RR{rr("shop.example.com. 60 IN NS ns.other.net.")}), "", soaDelegated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zone, verdict := soaZone(tc.r, name)
			if zone != tc.zone || verdict != tc.verdict {
				t.Fatalf("soaZone = %q, %v; want %q, %v", zone, verdict, tc.zone, tc.verdict)
			}
		})
	}
}

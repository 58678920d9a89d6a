package rfc2136

import (
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"

	deccodns "github.com/decco-dev/decco/dns"
)

func TestMarkerRoundTrip(t *testing.T) {
	for _, m := range []marker{
		{Owner: "cluster-a", Space: "shop"},
		{Owner: "prod.eu_1", Space: "shop", Name: "db.shop.example.com."},
	} {
		got, ok := parseMarker(m.String())
		if !ok || got != m {
			t.Errorf("parseMarker(%q) = %+v, %v; want %+v", m.String(), got, ok, m)
		}
	}
	if got := (marker{Owner: "a", Space: "s", Name: "x.example."}).String(); got != "heritage=decco,owner=a,space=s,name=x.example" {
		t.Errorf("index entry renders as %q", got)
	}
}

// Only decco's exact format counts as decco's: another tool's TXT is
// never mistaken for an ownership record.
func TestParseMarkerRejectsOthers(t *testing.T) {
	for _, s := range []string{
		"",
		"heritage=external-dns,external-dns/owner=default",
		"heritage=decco",
		"heritage=decco,owner=a",
		"heritage=decco,space=s,owner=",
		"heritage=decco,owner=a,space=s,owner=b",
		"heritage=decco,owner=a,space=s,extra=1",
		"heritage=decco,owner=a,space=s,name=not a name",
		"owner=a,heritage=decco,space=s",
		"heritage=decco,owner=a,space",
	} {
		if m, ok := parseMarker(s); ok {
			t.Errorf("parseMarker(%q) accepted: %+v", s, m)
		}
	}
}

func TestDesiredRRset(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   deccodns.Record
		want rrset
		err  string
	}{
		{"IPv4 sorted and deduplicated, default TTL", deccodns.Record{Name: "Shop.Example.com.", Targets: []string{"192.0.2.2", "192.0.2.1", "192.0.2.2"}},
			rrset{Name: "shop.example.com.", A: []string{"192.0.2.1", "192.0.2.2"}, TTL: 300}, ""},
		{"IPv4 and IPv6", deccodns.Record{Name: "shop.example.com", Targets: []string{"2001:DB8::1", "192.0.2.1"}, TTL: 30},
			rrset{Name: "shop.example.com.", A: []string{"192.0.2.1"}, AAAA: []string{"2001:db8::1"}, TTL: 30}, ""},
		{"IPv4-mapped IPv6 is IPv4", deccodns.Record{Name: "shop.example.com", Targets: []string{"::ffff:192.0.2.9"}},
			rrset{Name: "shop.example.com.", A: []string{"192.0.2.9"}, TTL: 300}, ""},
		{"hostname", deccodns.Record{Name: "shop.example.com", Targets: []string{"LB.example.net"}},
			rrset{Name: "shop.example.com.", CNAME: "lb.example.net.", TTL: 300}, ""},
		{"hostname with others", deccodns.Record{Name: "shop.example.com", Targets: []string{"lb.example.net", "192.0.2.1"}}, rrset{}, "must be the only one"},
		{"no targets", deccodns.Record{Name: "shop.example.com"}, rrset{}, "no targets"},
		{"empty name", deccodns.Record{Name: "", Targets: []string{"192.0.2.1"}}, rrset{}, "not a host name"},
		{"root", deccodns.Record{Name: ".", Targets: []string{"192.0.2.1"}}, rrset{}, "not a host name"},
		{"space in name", deccodns.Record{Name: "a b.example.com", Targets: []string{"192.0.2.1"}}, rrset{}, "not a host name"},
		{"registry name", deccodns.Record{Name: "_decco-owner.shop.example.com", Targets: []string{"192.0.2.1"}}, rrset{}, "not a host name"},
		{"negative TTL", deccodns.Record{Name: "shop.example.com", Targets: []string{"192.0.2.1"}, TTL: -1}, rrset{}, "TTL"},
		{"bad target", deccodns.Record{Name: "shop.example.com", Targets: []string{"a..b"}}, rrset{}, "neither an IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := desiredRRset(tc.in, 300)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestCurrentRRset(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	name := "shop.example.com."
	for _, tc := range []struct {
		name    string
		answers []dns.RR
		want    rrset
	}{
		{"nothing", nil, rrset{Name: name}},
		{"addresses from A and AAAA answers", []dns.RR{
			rr(name + " 60 IN A 192.0.2.2"), rr(name + " 60 IN A 192.0.2.1"), rr(name + " 60 IN AAAA 2001:db8::1"),
		}, rrset{Name: name, A: []string{"192.0.2.1", "192.0.2.2"}, AAAA: []string{"2001:db8::1"}, TTL: 60}},
		{"CNAME answers both queries, chased target ignored", []dns.RR{
			rr(name + " 60 IN CNAME LB.example.com."), rr("lb.example.com. 60 IN A 192.0.2.1"), rr(name + " 60 IN CNAME lb.example.com."),
		}, rrset{Name: name, CNAME: "lb.example.com.", TTL: 60}},
		{"mixed TTLs force a rewrite", []dns.RR{
			rr(name + " 60 IN A 192.0.2.1"), rr(name + " 30 IN AAAA 2001:db8::1"),
		}, rrset{Name: name, A: []string{"192.0.2.1"}, AAAA: []string{"2001:db8::1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := currentRRset(name, tc.answers); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// What decco writes is what it reads back.
func TestRecordsRoundTrip(t *testing.T) {
	for _, want := range []rrset{
		{Name: "a.example.", A: []string{"192.0.2.1", "192.0.2.2"}, AAAA: []string{"2001:db8::1"}, TTL: 60},
		{Name: "a.example.", CNAME: "lb.example.net.", TTL: 60},
	} {
		if got := currentRRset(want.Name, want.records()); !got.equal(want) {
			t.Errorf("round trip of %+v gave %+v", want, got)
		}
	}
}

func TestMerge(t *testing.T) {
	v4 := rrset{Name: "a.", A: []string{"192.0.2.1"}, TTL: 60}
	v6 := rrset{Name: "a.", AAAA: []string{"2001:db8::1"}, TTL: 30}
	got, err := merge(v4, v6)
	want := rrset{Name: "a.", A: []string{"192.0.2.1"}, AAAA: []string{"2001:db8::1"}, TTL: 30}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("merge(A, AAAA) = %+v, %v; want %+v", got, err, want)
	}
	if got, _ := merge(v4, v4); !reflect.DeepEqual(got, v4) {
		t.Fatalf("merge(A, A) = %+v, want %+v", got, v4)
	}
	if _, err := merge(v4, rrset{Name: "a.", CNAME: "lb.example.", TTL: 60}); err == nil || !strings.Contains(err.Error(), "CNAME must be the only record") {
		t.Fatalf("merge(A, CNAME): %v", err)
	}
}

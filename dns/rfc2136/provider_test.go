package rfc2136_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deccodns "github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/dns/dnstest"
	"github.com/decco-dev/decco/dns/rfc2136"
	"github.com/decco-dev/decco/space"
)

// These tests run against a real BIND (dns/dnstest) and check every
// outcome with plain DNS queries, as a resolver would see it.

const zone = dnstest.DefaultZone // decco.test

func newProvider(t *testing.T, s *dnstest.Server, owner string, hints ...string) *rfc2136.Provider {
	t.Helper()
	p, err := rfc2136.New(rfc2136.Config{
		Server: s.Addr, KeyName: s.KeyName, Algorithm: s.Algorithm, Secret: s.Secret,
		OwnerID: owner, TTL: 60, Zones: hints,
	}, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func rec(name string, ttl int64, targets ...string) deccodns.Record {
	return deccodns.Record{Name: name, Targets: targets, TTL: ttl}
}

// serial is the zone's SOA serial: every applied update raises it, so an
// unchanged serial proves nothing was written.
func serial(t *testing.T, s *dnstest.Server, z string) string {
	t.Helper()
	v := s.Values(t, z, dns.TypeSOA)
	if len(v) != 1 {
		t.Fatalf("SOA of %s: %v", z, v)
	}
	return strings.Fields(v[0])[2]
}

func wantValues(t *testing.T, s *dnstest.Server, name string, qtype uint16, want ...string) {
	t.Helper()
	got := s.Values(t, name, qtype)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("%s %s = %q, want %q", name, dns.TypeToString[qtype], got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Records appear, change when the gateway's address moves, and disappear
// when the space stops wanting them or is removed.
func TestRecordsFollowTheSpace(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	p := newProvider(t, s, "cluster-a")
	space, db := "shop."+zone, "db.shop."+zone

	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec(space, 0, "192.0.2.10"), rec(db, 0, "192.0.2.10")}))
	wantValues(t, s, space, dns.TypeA, "192.0.2.10")
	wantValues(t, s, db, dns.TypeA, "192.0.2.10")
	if ttl := s.TTL(t, space, dns.TypeA); ttl != 60 {
		t.Fatalf("TTL %d, want the configured default 60", ttl)
	}
	wantValues(t, s, "_decco-owner."+space, dns.TypeTXT, "heritage=decco,owner=cluster-a,space=shop")
	wantValues(t, s, "_decco-index.shop."+zone, dns.TypeTXT,
		"heritage=decco,owner=cluster-a,space=shop,name="+db,
		"heritage=decco,owner=cluster-a,space=shop,name="+space)

	before := serial(t, s, zone)
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec(db, 0, "192.0.2.10"), rec(space, 0, "192.0.2.10")}))
	if after := serial(t, s, zone); after != before {
		t.Fatalf("an Ensure with nothing to change wrote to the zone (serial %s -> %s)", before, after)
	}

	// The gateway moves, and gains an IPv6 address.
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec(space, 0, "192.0.2.20", "2001:db8::20"), rec(db, 0, "192.0.2.20")}))
	wantValues(t, s, space, dns.TypeA, "192.0.2.20")
	wantValues(t, s, space, dns.TypeAAAA, "2001:db8::20")
	wantValues(t, s, db, dns.TypeA, "192.0.2.20")

	// The gateway now has a hostname: A and AAAA give way to a CNAME.
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec(space, 120, "lb.example.net"), rec(db, 0, "lb.example.net")}))
	wantValues(t, s, space, dns.TypeCNAME, "lb.example.net.")
	wantValues(t, s, space, dns.TypeA)
	wantValues(t, s, space, dns.TypeAAAA)
	if ttl := s.TTL(t, space, dns.TypeCNAME); ttl != 120 {
		t.Fatalf("CNAME TTL %d, want the record's 120", ttl)
	}
	// And back to an address.
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec(space, 0, "192.0.2.30"), rec(db, 0, "lb.example.net")}))
	wantValues(t, s, space, dns.TypeA, "192.0.2.30")
	wantValues(t, s, space, dns.TypeCNAME)

	// The service drops its DNS opt-in: exactly its records go.
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec(space, 0, "192.0.2.30")}))
	wantValues(t, s, db, dns.TypeCNAME)
	wantValues(t, s, "_decco-owner."+db, dns.TypeTXT)
	wantValues(t, s, space, dns.TypeA, "192.0.2.30")
	wantValues(t, s, "_decco-index.shop."+zone, dns.TypeTXT, "heritage=decco,owner=cluster-a,space=shop,name="+space)

	// The space goes.
	must(t, p.Remove(ctx(t), "shop"))
	wantValues(t, s, space, dns.TypeA)
	wantValues(t, s, "_decco-owner."+space, dns.TypeTXT)
	wantValues(t, s, "_decco-index.shop."+zone, dns.TypeTXT)
	before = serial(t, s, zone)
	must(t, p.Remove(ctx(t), "shop"))
	if after := serial(t, s, zone); after != before {
		t.Fatalf("removing a removed space wrote to the zone")
	}
}

// A record decco did not create is never changed or deleted, and is
// reported as a conflict while the space's other names are published.
func TestForeignRecordsAreLeftAloneAndReported(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	taken, cname, txtOnly, fake := "taken.shop."+zone, "alias.shop."+zone, "notes.shop."+zone, "fake.shop."+zone
	s.Insert(t,
		taken+". 300 IN A 198.51.100.1",
		cname+". 300 IN CNAME elsewhere.example.",
		txtOnly+". 300 IN TXT \"hand-made\"",
		"_decco-owner."+fake+". 300 IN TXT \"whoever was here\"",
	)
	p := newProvider(t, s, "cluster-a")
	space := "shop." + zone
	err := p.Ensure(ctx(t), "shop", []deccodns.Record{
		rec(space, 0, "192.0.2.10"), rec(taken, 0, "192.0.2.10"), rec(cname, 0, "192.0.2.10"),
		rec(txtOnly, 0, "192.0.2.10"), rec(fake, 0, "192.0.2.10"),
	})
	t.Log(err)
	var conflict *rfc2136.ConflictError
	if !errors.As(err, &conflict) || !errors.Is(err, rfc2136.ErrConflict) {
		t.Fatalf("Ensure over foreign records: %v, want a *ConflictError", err)
	}
	got := map[string]string{}
	for _, c := range conflict.Conflicts {
		got[c.Name] = c.Reason
	}
	for _, n := range []string{taken, cname, txtOnly} {
		if !strings.Contains(got[n], "did not create") {
			t.Errorf("conflict for %s: %q, want one saying decco did not create it (all: %v)", n, got[n], got)
		}
	}
	if !strings.Contains(got[fake], "did not write") {
		t.Errorf("conflict for %s: %q, want one about a foreign ownership record", fake, got[fake])
	}
	if len(got) != 4 {
		t.Errorf("conflicts %v, want exactly the four foreign names", got)
	}
	for _, want := range []string{"space shop", taken, "left untouched"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	wantValues(t, s, space, dns.TypeA, "192.0.2.10")
	wantValues(t, s, taken, dns.TypeA, "198.51.100.1")
	wantValues(t, s, cname, dns.TypeCNAME, "elsewhere.example.")
	wantValues(t, s, txtOnly, dns.TypeA)
	wantValues(t, s, txtOnly, dns.TypeTXT, "hand-made")
	wantValues(t, s, fake, dns.TypeA)
	wantValues(t, s, "_decco-owner."+taken, dns.TypeTXT)

	// Neither a later Ensure that no longer wants them, nor Remove,
	// touches them.
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec(space, 0, "192.0.2.10")}))
	must(t, p.Remove(ctx(t), "shop"))
	wantValues(t, s, space, dns.TypeA)
	wantValues(t, s, taken, dns.TypeA, "198.51.100.1")
	wantValues(t, s, cname, dns.TypeCNAME, "elsewhere.example.")
	wantValues(t, s, txtOnly, dns.TypeTXT, "hand-made")
	wantValues(t, s, "_decco-owner."+fake, dns.TypeTXT, "whoever was here")
}

// A record that was decco's and was taken over by hand (its ownership
// record deleted) is not deleted when the space lets it go.
func TestRecordTakenOverByHandIsNotDeleted(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	p := newProvider(t, s, "cluster-a")
	db := "db.shop." + zone
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec(db, 0, "192.0.2.10")}))
	marker, _ := dns.NewRR("_decco-owner." + db + ". 60 IN TXT \"heritage=decco,owner=cluster-a,space=shop\"")
	must(t, s.Update(ctx(t), zone, nil, []dns.RR{marker}))

	must(t, p.Ensure(ctx(t), "shop", nil))
	wantValues(t, s, db, dns.TypeA, "192.0.2.10")
	wantValues(t, s, "_decco-index.shop."+zone, dns.TypeTXT)
}

// Two installations sharing a zone each keep their own names: the first
// to publish a name holds it, the other is told, and neither removes the
// other's records.
func TestTwoInstallationsShareAZone(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	a, b := newProvider(t, s, "cluster-a"), newProvider(t, s, "cluster-b")
	space, api := "shop."+zone, "api.shop."+zone

	must(t, a.Ensure(ctx(t), "shop", []deccodns.Record{rec(space, 0, "192.0.2.1")}))
	err := b.Ensure(ctx(t), "shop", []deccodns.Record{rec(space, 0, "192.0.2.2"), rec(api, 0, "192.0.2.2")})
	if !errors.Is(err, rfc2136.ErrConflict) || !strings.Contains(err.Error(), `owned by decco installation "cluster-a"`) {
		t.Fatalf("second installation: %v, want a conflict naming cluster-a", err)
	}
	wantValues(t, s, space, dns.TypeA, "192.0.2.1")
	wantValues(t, s, api, dns.TypeA, "192.0.2.2")

	// Each keeps converging without touching the other's names.
	must(t, a.Ensure(ctx(t), "shop", []deccodns.Record{rec(space, 0, "192.0.2.1")}))
	wantValues(t, s, api, dns.TypeA, "192.0.2.2")
	must(t, a.Remove(ctx(t), "shop"))
	wantValues(t, s, space, dns.TypeA)
	wantValues(t, s, api, dns.TypeA, "192.0.2.2")

	// The name is free now; b takes it on its next reconcile.
	must(t, b.Ensure(ctx(t), "shop", []deccodns.Record{rec(space, 0, "192.0.2.2"), rec(api, 0, "192.0.2.2")}))
	wantValues(t, s, space, dns.TypeA, "192.0.2.2")
	wantValues(t, s, "_decco-owner."+space, dns.TypeTXT, "heritage=decco,owner=cluster-b,space=shop")
	must(t, b.Remove(ctx(t), "shop"))
	wantValues(t, s, space, dns.TypeA)
	wantValues(t, s, api, dns.TypeA)
}

// One installation never lets a space take another space's name.
func TestSpacesOfOneInstallationDontShareNames(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	p := newProvider(t, s, "cluster-a")
	name := "db.shop." + zone
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec(name, 0, "192.0.2.1")}))
	err := p.Ensure(ctx(t), "db", []deccodns.Record{rec(name, 0, "192.0.2.66")})
	if !errors.Is(err, rfc2136.ErrConflict) || !strings.Contains(err.Error(), "published by space shop") {
		t.Fatalf("space db over space shop's name: %v", err)
	}
	must(t, p.Remove(ctx(t), "db"))
	wantValues(t, s, name, dns.TypeA, "192.0.2.1")
}

// A wrong key fails with an error that says the server rejected it and
// what to check, and writes nothing.
func TestWrongKeyIsRejected(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	for _, tc := range []struct {
		name, keyName, secret, code string
	}{
		{"wrong secret", s.KeyName, "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=", "BADSIG"},
		{"unknown key", "nobody", s.Secret, "BADKEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := serial(t, s, zone)
			p, err := rfc2136.New(rfc2136.Config{
				Server: s.Addr, KeyName: tc.keyName, Secret: tc.secret, OwnerID: "cluster-a",
				Source: "Secret decco-system/dns-tsig",
			}, testr.New(t))
			must(t, err)
			err = p.Ensure(ctx(t), "shop", []deccodns.Record{rec("shop."+zone, 0, "192.0.2.1")})
			t.Log(err)
			if !errors.Is(err, rfc2136.ErrTSIG) {
				t.Fatalf("Ensure with %s: %v, want a TSIG error", tc.name, err)
			}
			for _, want := range []string{"rejected TSIG key", tc.code, "Secret decco-system/dns-tsig", s.Addr, "check the key name, algorithm and secret"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			wantValues(t, s, "shop."+zone, dns.TypeA)
			if after := serial(t, s, zone); after != before {
				t.Fatalf("zone changed despite the rejected key")
			}
		})
	}
}

// A name no zone on the server holds is an error naming it and the
// server; the space's other names are still published.
func TestNameWithoutZoneIsReported(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	p := newProvider(t, s, "cluster-a")
	err := p.Ensure(ctx(t), "shop", []deccodns.Record{rec("shop.nowhere.example", 0, "192.0.2.1"), rec("shop."+zone, 0, "192.0.2.1")})
	t.Log(err)
	var nz *rfc2136.NoZoneError
	if !errors.Is(err, rfc2136.ErrNoZone) || !errors.As(err, &nz) {
		t.Fatalf("Ensure for an unserved domain: %v, want ErrNoZone", err)
	}
	if nz.Name != "shop.nowhere.example" || nz.Server != s.Addr {
		t.Fatalf("NoZoneError %+v, want name shop.nowhere.example and server %s", nz, s.Addr)
	}
	if !strings.Contains(err.Error(), "shop.nowhere.example") || !strings.Contains(err.Error(), s.Addr) {
		t.Fatalf("message %q must name the domain and the server", err)
	}
	wantValues(t, s, "shop."+zone, dns.TypeA, "192.0.2.1")
}

// Names go to the deepest zone holding them, and a space that moves to
// another domain leaves nothing in the old zone.
func TestSpaceMovesBetweenZones(t *testing.T) {
	team := "team." + zone
	s := dnstest.New(t, dnstest.Options{Zones: []string{zone, team}})
	p := newProvider(t, s, "cluster-a")
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec("shop."+zone, 0, "192.0.2.1"), rec("db.shop."+zone, 0, "192.0.2.1")}))
	teamSerial := serial(t, s, team)

	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec("shop."+team, 0, "192.0.2.1")}))
	wantValues(t, s, "shop."+team, dns.TypeA, "192.0.2.1")
	wantValues(t, s, "_decco-index.shop."+team, dns.TypeTXT, "heritage=decco,owner=cluster-a,space=shop,name=shop."+team)
	if serial(t, s, team) == teamSerial {
		t.Fatal("shop.team.decco.test was not written to zone team.decco.test")
	}
	wantValues(t, s, "shop."+zone, dns.TypeA)
	wantValues(t, s, "db.shop."+zone, dns.TypeA)
	wantValues(t, s, "_decco-index.shop."+zone, dns.TypeTXT)
}

// A provider that restarted knows no zones; with the zone as a hint,
// Remove still finds a space's records.
func TestRemoveAfterRestartUsesZoneHints(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	must(t, newProvider(t, s, "cluster-a").Ensure(ctx(t), "shop", []deccodns.Record{rec("shop."+zone, 0, "192.0.2.1")}))

	must(t, newProvider(t, s, "cluster-a").Remove(ctx(t), "shop"))
	wantValues(t, s, "shop."+zone, dns.TypeA, "192.0.2.1") // no zone known: nothing to look in

	must(t, newProvider(t, s, "cluster-a", zone).Remove(ctx(t), "shop"))
	wantValues(t, s, "shop."+zone, dns.TypeA)
}

// Invalid input changes nothing: a record decco can't render must not
// be taken for one the space no longer wants.
func TestInvalidRecordsChangeNothing(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	p := newProvider(t, s, "cluster-a")
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec("shop."+zone, 0, "192.0.2.1"), rec("db.shop."+zone, 0, "192.0.2.1")}))
	before := serial(t, s, zone)
	err := p.Ensure(ctx(t), "shop", []deccodns.Record{rec("shop."+zone, 0, "192.0.2.1"), rec("db.shop."+zone, 0, "lb.example.net", "192.0.2.1")})
	if err == nil || !strings.Contains(err.Error(), "must be the only one") {
		t.Fatalf("Ensure with a mixed hostname/IP record: %v", err)
	}
	if serial(t, s, zone) != before {
		t.Fatal("an invalid desired set changed the zone")
	}
	if err := p.Ensure(ctx(t), "Not_A_Space", nil); err == nil {
		t.Fatal("invalid space name accepted")
	}
}

// A key the server knows but doesn't allow to update the zone gets an
// error saying to grant it.
func TestUpdateNotGrantedIsExplained(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{Zones: []string{zone}, ReadOnlyZones: []string{"locked.test"}})
	p := newProvider(t, s, "cluster-a")
	err := p.Ensure(ctx(t), "shop", []deccodns.Record{rec("shop.locked.test", 0, "192.0.2.1")})
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "refused the update of zone locked.test.") || !strings.Contains(err.Error(), `grant key "decco-test."`) {
		t.Fatalf("Ensure into a zone without allow-update: %v", err)
	}
	wantValues(t, s, "shop.locked.test", dns.TypeA)
}

// Connections kept between exchanges may have been closed by the server
// meanwhile; the provider dials again instead of failing.
func TestConnectionsClosedByTheServerAreRedialed(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{TCPIdleTimeout: 100 * time.Millisecond})
	p := newProvider(t, s, "cluster-a")
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec("shop."+zone, 0, "192.0.2.1")}))
	time.Sleep(600 * time.Millisecond) // named closes the idle connections
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec("shop."+zone, 0, "192.0.2.2")}))
	wantValues(t, s, "shop."+zone, dns.TypeA, "192.0.2.2")
	p.Close()
	must(t, p.Ensure(ctx(t), "shop", []deccodns.Record{rec("shop."+zone, 0, "192.0.2.3")}))
	wantValues(t, s, "shop."+zone, dns.TypeA, "192.0.2.3")
}

// dns.Desired gives a name with IPv4 and IPv6 targets as two records
// (A and AAAA); both are published, and published once.
func TestRecordsFromDesired(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	p := newProvider(t, s, "cluster-a")
	name := "shop." + zone
	recs := []deccodns.Record{rec(name, 0, "192.0.2.1"), rec(name, 0, "2001:db8::1")}
	must(t, p.Ensure(ctx(t), "shop", recs))
	wantValues(t, s, name, dns.TypeA, "192.0.2.1")
	wantValues(t, s, name, dns.TypeAAAA, "2001:db8::1")
	before := serial(t, s, zone)
	must(t, p.Ensure(ctx(t), "shop", recs))
	if serial(t, s, zone) != before {
		t.Fatal("a converged A+AAAA name was rewritten")
	}
}

// Driven by dns.Desired, as the reconciler drives it: records follow the
// space's Services as they opt in and out of DNS.
func TestRecordsFollowServices(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	p := newProvider(t, s, "cluster-a")
	shop := space.Space{Name: "shop", Domain: zone}
	svc := func(name string, dnsOptIn bool) corev1.Service {
		ann := map[string]string{}
		if dnsOptIn {
			ann[space.AnnotationDNS] = "true"
		}
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Annotations: ann,
			Labels: map[string]string{space.LabelSpace: "shop"}}}
	}
	targets := []string{"192.0.2.1", "2001:db8::1"}

	must(t, p.Ensure(ctx(t), "shop", deccodns.Desired(shop, []corev1.Service{svc("db", true), svc("mq", true), svc("cache", false)}, targets, 0)))
	for _, n := range []string{"shop.", "db.shop.", "mq.shop."} {
		wantValues(t, s, n+zone, dns.TypeA, "192.0.2.1")
		wantValues(t, s, n+zone, dns.TypeAAAA, "2001:db8::1")
	}
	wantValues(t, s, "cache.shop."+zone, dns.TypeA)

	// mq drops its opt-in; cache opts in.
	must(t, p.Ensure(ctx(t), "shop", deccodns.Desired(shop, []corev1.Service{svc("db", true), svc("mq", false), svc("cache", true)}, targets, 0)))
	wantValues(t, s, "mq.shop."+zone, dns.TypeA)
	wantValues(t, s, "mq.shop."+zone, dns.TypeAAAA)
	wantValues(t, s, "cache.shop."+zone, dns.TypeA, "192.0.2.1")
	wantValues(t, s, "db.shop."+zone, dns.TypeA, "192.0.2.1")
}

// One provider serves many spaces at once (the reconciler's workers).
func TestSpacesReconcileConcurrently(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	p := newProvider(t, s, "cluster-a")
	spaces := []string{"a", "b", "c", "d", "e", "f"}
	errs := make(chan error, len(spaces))
	for _, sp := range spaces {
		go func() {
			errs <- p.Ensure(ctx(t), sp, []deccodns.Record{rec(sp+"."+zone, 0, "192.0.2.1"), rec("db."+sp+"."+zone, 0, "192.0.2.1")})
		}()
	}
	for range spaces {
		must(t, <-errs)
	}
	for _, sp := range spaces {
		wantValues(t, s, "db."+sp+"."+zone, dns.TypeA, "192.0.2.1")
	}
	for _, sp := range spaces {
		go func() { errs <- p.Remove(ctx(t), sp) }()
	}
	for range spaces {
		must(t, <-errs)
	}
	for _, sp := range spaces {
		wantValues(t, s, sp+"."+zone, dns.TypeA)
	}
}

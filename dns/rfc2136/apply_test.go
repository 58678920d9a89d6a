package rfc2136

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/miekg/dns"

	"github.com/decco-dev/decco/dns/dnstest"
)

// The server re-checks ownership inside every update, so a name taken
// over between decco's read and its write is still left alone: these
// call apply with a plan made from a state that is no longer true.
func TestPrerequisitesGuardAgainstChangesSinceTheRead(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	p, err := New(Config{Server: s.Addr, KeyName: s.KeyName, Secret: s.Secret, OwnerID: "cluster-a", TTL: 60}, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	zone, name := "decco.test.", "db.shop.decco.test."
	// Someone else's record, plus a stale index entry of ours for it.
	s.Insert(t, name+" 300 IN A 198.51.100.1",
		`_decco-index.shop.decco.test. 60 IN TXT "heritage=decco,owner=cluster-a,space=shop,name=db.shop.decco.test"`)

	want := rrset{Name: name, A: []string{"192.0.2.1"}, TTL: 60}
	_, err = p.apply(ctx, "shop", zone, action{Kind: actUpdate, Name: name, Want: want})
	if !errors.Is(err, errPrerequisite) || !strings.Contains(err.Error(), "changed while updating") {
		t.Fatalf("update of a name that isn't ours: %v", err)
	}
	if _, err := p.apply(ctx, "shop", zone, action{Kind: actRemove, Name: name}); err != nil {
		t.Fatalf("remove of a name that isn't ours: %v", err)
	}
	if got := s.Values(t, name, dns.TypeA); len(got) != 1 || got[0] != "198.51.100.1" {
		t.Fatalf("foreign record changed: %v", got)
	}
	if got := s.Values(t, "_decco-index.shop.decco.test", dns.TypeTXT); len(got) != 0 {
		t.Fatalf("stale index entry kept: %v", got)
	}

	// A create that loses the race reports a conflict, not an error.
	c, err := p.apply(ctx, "shop", zone, action{Kind: actCreate, Name: name, Want: want})
	if err != nil || c == nil || !strings.Contains(c.Reason, "did not create") {
		t.Fatalf("create over a foreign record: conflict %v, error %v", c, err)
	}
}

func testLogger(t *testing.T) logr.Logger { return testr.New(t) }

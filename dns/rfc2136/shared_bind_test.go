package rfc2136_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	deccodns "github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/dns/dnstest"
	"github.com/decco-dev/decco/dns/rfc2136"
)

// region is one cluster's decco publishing its region of a global name.
type region struct {
	p       *rfc2136.Provider
	space   string
	addr    string
	trust   string
	standby bool
}

func (r *region) records() []deccodns.Record {
	return []deccodns.Record{
		rec(r.space+"."+zone, 60, r.addr),
		{Name: "foo." + zone, Targets: []string{r.addr}, TTL: 60, Shared: &deccodns.Shared{Trust: r.trust, Standby: r.standby}},
	}
}

func (r *region) ensure(t *testing.T) deccodns.SharedState {
	t.Helper()
	must(t, r.p.Ensure(ctx(t), r.space, r.records()))
	st := r.p.SharedStates(r.space)
	require.Len(t, st, 1)
	return st[0]
}

// addrs are the A records at the global name, sorted.
func addrs(t *testing.T, s *dnstest.Server) []string {
	t.Helper()
	v := s.Values(t, "foo."+zone, dns.TypeA)
	slices.Sort(v)
	return v
}

// Two installations (two clusters' deccos, each with its owner id) share
// one BIND zone: each publishes its region's address under the global
// name as its own record, a record a third party made there is left
// alone, and an unready region's address leaves the name and comes back,
// except the last one.
func TestGlobalNameSharedByTwoInstallations(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	s.Insert(t, "foo."+zone+" 60 IN A 192.0.2.99") // a third cluster's record, not decco's
	east := &region{p: newProvider(t, s, "cluster-east"), space: "foo-east", addr: "192.0.2.1", trust: "ca1"}
	west := &region{p: newProvider(t, s, "cluster-west"), space: "foo-west", addr: "192.0.2.2", trust: "ca1"}

	st := east.ensure(t)
	assert.Equal(t, deccodns.SharedState{Name: "foo." + zone, Published: true}, st)
	st = west.ensure(t)
	assert.Equal(t, []string{"cluster-east/foo-east"}, st.Others)
	assert.Equal(t, []string{"192.0.2.1", "192.0.2.2", "192.0.2.99"}, addrs(t, s))
	wantValues(t, s, "foo-east."+zone, dns.TypeA, "192.0.2.1")
	wantValues(t, s, "foo-west."+zone, dns.TypeA, "192.0.2.2")
	markers := s.Values(t, "_decco-owner.foo."+zone, dns.TypeTXT)
	slices.Sort(markers)
	assert.Equal(t, []string{
		"heritage=decco,owner=cluster-east,space=foo-east,trust=ca1,targets=192.0.2.1",
		"heritage=decco,owner=cluster-west,space=foo-west,trust=ca1,targets=192.0.2.2",
	}, markers, "each installation owns only its own address")

	before := serial(t, s, zone)
	west.ensure(t)
	east.ensure(t)
	assert.Equal(t, before, serial(t, s, zone), "an unchanged region writes nothing")

	west.standby = true
	st = west.ensure(t)
	assert.False(t, st.Published)
	assert.Equal(t, []string{"192.0.2.1", "192.0.2.99"}, addrs(t, s), "the unready region's address is withdrawn, nothing else")
	wantValues(t, s, "foo-west."+zone, dns.TypeA, "192.0.2.2") // its own name stays

	west.standby = false
	assert.True(t, west.ensure(t).Published)
	assert.Equal(t, []string{"192.0.2.1", "192.0.2.2", "192.0.2.99"}, addrs(t, s), "restored when ready")

	east.standby = true
	assert.False(t, east.ensure(t).Published)
	west.standby = true
	st = west.ensure(t)
	assert.True(t, st.Published && st.KeptAsLast, "%+v", st)
	assert.Equal(t, []string{"192.0.2.2", "192.0.2.99"}, addrs(t, s), "the last region's address is never withdrawn")
	east.standby = false
	east.ensure(t)
	assert.False(t, west.ensure(t).Published, "once another region is back, the unready one leaves")
	assert.Equal(t, []string{"192.0.2.1", "192.0.2.99"}, addrs(t, s))

	// Another customer's space claiming the same global name elsewhere is
	// refused by the trust domain, and the zone does not change.
	before = serial(t, s, zone)
	rival := &region{p: newProvider(t, s, "cluster-south"), space: "bar", addr: "192.0.2.7", trust: "ca2"}
	err := rival.p.Ensure(ctx(t), rival.space, rival.records()[1:])
	require.ErrorIs(t, err, deccodns.ErrConflict)
	assert.Contains(t, err.Error(), "another trust domain")
	assert.Equal(t, before, serial(t, s, zone))

	// Removing a region takes its address and marker and nothing else.
	west.standby = false
	west.ensure(t)
	must(t, east.p.Remove(ctx(t), east.space))
	assert.Equal(t, []string{"192.0.2.2", "192.0.2.99"}, addrs(t, s))
	wantValues(t, s, "_decco-owner.foo."+zone, dns.TypeTXT, "heritage=decco,owner=cluster-west,space=foo-west,trust=ca1,targets=192.0.2.2")
	wantValues(t, s, "foo-east."+zone, dns.TypeA)
}

// A space's own name is not shareable: an installation's exclusive name
// is a conflict for a region, and a global name for an exclusive create.
func TestGlobalNameAndExclusiveNamesDoNotMix(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	other := newProvider(t, s, "cluster-south")
	must(t, other.Ensure(ctx(t), "foo", []deccodns.Record{rec("foo."+zone, 60, "192.0.2.5")}))
	east := &region{p: newProvider(t, s, "cluster-east"), space: "foo-east", addr: "192.0.2.1", trust: "ca1"}
	err := east.p.Ensure(ctx(t), east.space, east.records())
	require.ErrorIs(t, err, deccodns.ErrConflict)
	assert.Contains(t, err.Error(), "as a name of its own")
	wantValues(t, s, "foo."+zone, dns.TypeA, "192.0.2.5")
	wantValues(t, s, "foo-east."+zone, dns.TypeA, "192.0.2.1") // its own name is still published

	must(t, other.Remove(ctx(t), "foo"))
	east.ensure(t)
	err = other.Ensure(ctx(t), "foo", []deccodns.Record{rec("foo."+zone, 60, "192.0.2.5")})
	require.ErrorIs(t, err, deccodns.ErrConflict)
	assert.Contains(t, err.Error(), "regions of space foo-east")
}

// Two installations changing the global name at once, and updates cut
// off mid-flight (a manager killed while reconciling: its context ends,
// its connection drops), leave the zone consistent: every address a
// marker lists is served, no decco address is served without a marker,
// and never does the name lose its last decco address.
func TestGlobalNameConcurrentAndInterrupted(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	regions := []*region{
		{p: newProvider(t, s, "cluster-east"), space: "foo-east", addr: "192.0.2.1", trust: "ca1"},
		{p: newProvider(t, s, "cluster-west"), space: "foo-west", addr: "192.0.2.2", trust: "ca1"},
	}
	for _, r := range regions {
		r.ensure(t)
	}
	const rounds = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	// Updates run concurrently (read lock); each check reads the markers
	// and the addresses between updates (write lock), so it sees one
	// state of the zone, not a mix of two.
	var zoneLock sync.RWMutex
	var cut, raced int
	for i, r := range regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range rounds {
				recs := r.records()
				recs[1].Shared.Standby = (n+i)%2 == 0 // each flips every round, out of phase
				// Every third round is cut off after a random part of
				// its work, as a killed manager's would be.
				timeout := 30 * time.Second
				if n%3 == 0 {
					timeout = time.Duration(1+n%7) * time.Millisecond
				}
				c, cancel := context.WithTimeout(context.Background(), timeout)
				zoneLock.RLock()
				err := r.p.Ensure(c, r.space, recs)
				zoneLock.RUnlock()
				cancel()
				mu.Lock()
				switch {
				case err == nil:
				case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "i/o timeout"):
					cut++
				case strings.Contains(err.Error(), "changed while updating"):
					raced++
				default:
					t.Errorf("round %d of %s: %v", n, r.space, err)
				}
				mu.Unlock()
				zoneLock.Lock()
				checkConsistent(t, s)
				zoneLock.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d rounds per region: %d cut off, %d lost a race and were read again", rounds, cut, raced)
	// Settled (both ready), both addresses are there.
	for _, r := range regions {
		r.standby = false
		r.ensure(t)
	}
	checkConsistent(t, s)
	assert.Equal(t, []string{"192.0.2.1", "192.0.2.2"}, addrs(t, s))
}

// checkConsistent: the global name's markers and addresses agree, and at
// least one region publishes.
func checkConsistent(t *testing.T, s *dnstest.Server) {
	t.Helper()
	listed := map[string]bool{}
	markers := s.Values(t, "_decco-owner.foo."+zone, dns.TypeTXT)
	for _, m := range markers {
		_, targets, ok := strings.Cut(m, ",targets=")
		if !ok {
			t.Errorf("marker %s is not a shared marker", m)
			continue
		}
		for _, a := range strings.Split(targets, "+") {
			listed[a] = true
		}
	}
	served := addrs(t, s)
	for a := range listed {
		if !slices.Contains(served, a) {
			t.Errorf("address %s is listed by a marker (%v) but not served (%v)", a, markers, served)
		}
	}
	for _, a := range served {
		if !listed[a] {
			t.Errorf("address %s is served without a marker (%v)", a, markers)
		}
	}
	if len(served) == 0 {
		t.Errorf("the global name lost its last address")
	}
}

// What anyone can read about a global name, without the key: its
// regions' records and what the name serves.
func TestReadShared(t *testing.T) {
	s := dnstest.New(t, dnstest.Options{})
	s.Insert(t, "foo."+zone+" 60 IN A 192.0.2.99")
	east := &region{p: newProvider(t, s, "cluster-east"), space: "foo-east", addr: "192.0.2.1", trust: "ca1"}
	east.ensure(t)
	v, err := rfc2136.ReadShared(ctx(t), s.Addr, "foo."+zone)
	require.NoError(t, err)
	assert.Equal(t, rfc2136.SharedView{Name: "foo." + zone,
		Owners: []rfc2136.SharedOwner{{Owner: "cluster-east", Space: "foo-east", Trust: "ca1", Targets: []string{"192.0.2.1"}}},
		Served: []string{"192.0.2.1", "192.0.2.99"}}, v)
}

package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	deccodns "github.com/decco-dev/decco/dns"
)

// Provider publishes spaces' records on an RFC 2136 server. It is safe
// for concurrent use by different spaces; calls for one space must not
// overlap (the reconciler never runs one key twice at once).
type Provider struct {
	cfg    Config
	client *client
	log    logr.Logger

	mu sync.Mutex
	// zones are the zones published to since start, plus cfg.Zones:
	// where Remove and Ensure look for a space's index.
	zones map[string]bool
	// shared holds what each space's last sync did at its shared names.
	shared map[string][]deccodns.SharedState
}

var _ deccodns.Provider = (*Provider)(nil)

// New checks cfg and returns a provider. It doesn't contact the server:
// the first Ensure does, and reports what is wrong there.
func New(cfg Config, log logr.Logger) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("DNS provider rfc2136: %w", err)
	}
	cfg = cfg.withDefaults()
	p := &Provider{cfg: cfg, client: newClient(cfg), log: log, zones: map[string]bool{}, shared: map[string][]deccodns.SharedState{}}
	for _, z := range cfg.Zones {
		p.zones[z] = true
	}
	return p, nil
}

// Load reads the TSIG Secret opts names through r (use the manager's
// APIReader, which works before the manager starts) and builds the
// provider. The key is read once: restart decco after rotating it.
func Load(ctx context.Context, r ctrlclient.Reader, opts Options, log logr.Logger) (*Provider, error) {
	cfg, err := LoadConfig(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	return New(cfg, log)
}

// Ensure publishes desired for spaceName and removes the space's records
// that are no longer desired. Names held by anyone else are left alone
// and reported in a *ConflictError; names no zone holds in a
// *NoZoneError; both come back joined with any other error, after every
// other name has been handled.
func (p *Provider) Ensure(ctx context.Context, spaceName string, desired []deccodns.Record) error {
	if err := checkSpace(spaceName); err != nil {
		return err
	}
	exclusive, shared, err := p.splitShared(desired)
	if err != nil {
		return fmt.Errorf("DNS records of space %s: %w", spaceName, err)
	}
	want, err := p.desired(exclusive)
	if err != nil {
		return fmt.Errorf("DNS records of space %s: %w", spaceName, err)
	}
	byZone, errs, err := p.zonesOf(ctx, want)
	if err == nil {
		sharedByZone, errs2, err2 := p.zonesOf(ctx, sharedNames(shared))
		errs, err = append(errs, errs2...), err2
		for zone, names := range sharedByZone {
			if byZone[zone] == nil {
				byZone[zone] = map[string]rrset{}
			}
			for n := range names {
				byZone[zone][n] = rrset{Name: n, shared: ptrTo(shared[n])}
			}
		}
	}
	if err != nil {
		// Without knowing where every wanted name lives, the space's
		// index could make a wanted name look unwanted: change nothing.
		return fmt.Errorf("DNS records of space %s: %w", spaceName, err)
	}
	conflicts, err := p.sync(ctx, spaceName, byZone)
	return finish(spaceName, conflicts, append(errs, err))
}

// Remove deletes every record this installation published for spaceName
// in the zones it knows (see the package documentation).
func (p *Provider) Remove(ctx context.Context, spaceName string) error {
	if err := checkSpace(spaceName); err != nil {
		return err
	}
	if p.knownZones() == 0 {
		p.log.Info("no zone known yet to look for the space's DNS records in; any it has stay (list zones with --dns-rfc2136-zone)", "space", spaceName)
		return nil
	}
	conflicts, err := p.sync(ctx, spaceName, map[string]map[string]rrset{})
	return finish(spaceName, conflicts, []error{err})
}

// Close closes idle connections to the server. The provider stays
// usable: later calls dial again.
func (p *Provider) Close() { p.client.Close() }

func (p *Provider) knownZones() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.zones)
}

func checkSpace(name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("space name %q: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// desired validates and converts the records, merging records of one
// name (dns.Desired gives an A and an AAAA record for a gateway with both
// kinds of address). One bad record fails the call, so it is never taken
// as "no longer wanted".
func (p *Provider) desired(records []deccodns.Record) (map[string]rrset, error) {
	out := make(map[string]rrset, len(records))
	var errs []error
	for _, rec := range records {
		rs, err := desiredRRset(rec, p.cfg.TTL)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := out[rs.Name]; dup {
			if rs, err = merge(prev, rs); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		out[rs.Name] = rs
	}
	return out, errors.Join(errs...)
}

// zonesOf groups the wanted names by zone. Names no zone holds come back
// as NoZoneErrors; any other failure aborts.
func (p *Provider) zonesOf(ctx context.Context, want map[string]rrset) (map[string]map[string]rrset, []error, error) {
	byZone := map[string]map[string]rrset{}
	var noZone []error
	for _, name := range slices.Sorted(maps.Keys(want)) {
		zone, err := p.client.findZone(ctx, name)
		if errors.Is(err, ErrNoZone) {
			noZone = append(noZone, err)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("finding the zone of %s: %w", strings.TrimSuffix(name, "."), err)
		}
		if byZone[zone] == nil {
			byZone[zone] = map[string]rrset{}
		}
		byZone[zone][name] = want[name]
	}
	return byZone, noZone, nil
}

// sync converges the space in every zone that holds a wanted name or
// may hold an earlier one.
func (p *Provider) sync(ctx context.Context, space string, byZone map[string]map[string]rrset) ([]Conflict, error) {
	p.mu.Lock()
	for z := range byZone {
		p.zones[z] = true
	}
	zones := slices.Sorted(maps.Keys(p.zones))
	p.mu.Unlock()

	var conflicts []Conflict
	var states []deccodns.SharedState
	var errs []error
	for _, zone := range zones {
		exclusive, shared := splitZone(byZone[zone])
		c, st, err := p.syncZone(ctx, space, zone, exclusive, shared)
		conflicts = append(conflicts, c...)
		states = append(states, st...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	p.setShared(space, states)
	return conflicts, errors.Join(errs...)
}

// syncZone gathers what the zone holds for the space, plans and applies.
func (p *Provider) syncZone(ctx context.Context, space, zone string, want map[string]rrset, shared map[string]sharedWant) ([]Conflict, []deccodns.SharedState, error) {
	state, err := p.gather(ctx, space, zone, want)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the DNS records of space %s in zone %s: %w", space, zone, err)
	}
	sharedIndexed := sharedNamesOf(state, p.cfg.OwnerID, space)
	for _, n := range sharedIndexed {
		delete(state, n)
	}
	for n := range shared {
		if st, ok := state[n]; ok && st.Indexed {
			sharedIndexed = append(sharedIndexed, n) // indexed, but holding no marker of ours yet
		}
		delete(state, n)
	}
	states, conflicts, err := p.syncSharedZone(ctx, space, zone, shared, sharedIndexed)
	if err != nil {
		return conflicts, states, fmt.Errorf("shared DNS names of space %s in zone %s: %w", space, zone, err)
	}
	var errs []error
	for _, a := range plan(want, state) {
		c, err := p.apply(ctx, space, zone, a)
		if c != nil {
			conflicts = append(conflicts, *c)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return conflicts, states, errors.Join(errs...)
}

// gather reads the space's index in zone and the marker (and, for names
// we own, the records) of every wanted or indexed name.
func (p *Provider) gather(ctx context.Context, space, zone string, want map[string]rrset) (map[string]nameState, error) {
	values, err := p.client.txtValues(ctx, indexName(space, zone))
	if err != nil {
		return nil, err
	}
	state := map[string]nameState{}
	for _, name := range indexedNames(values, p.cfg.OwnerID, space, zone) {
		state[name] = nameState{Indexed: true}
	}
	for name := range want {
		if _, ok := state[name]; !ok {
			state[name] = nameState{}
		}
	}
	for name, st := range state {
		if err := p.observe(ctx, space, name, &st); err != nil {
			return nil, err
		}
		state[name] = st
	}
	return state, nil
}

// observe fills st's ownership and, for names we own, current records.
func (p *Provider) observe(ctx context.Context, space, name string, st *nameState) error {
	markers, err := p.client.txtValues(ctx, ownerName(name))
	if err != nil {
		return err
	}
	st.Markers = markers
	st.Owner, st.Holder = classify(markers, p.cfg.OwnerID, space)
	if st.Owner != ours {
		return nil
	}
	var answers []dns.RR
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := p.client.read(ctx, name, t)
		if err != nil {
			return err
		}
		answers = append(answers, rrs...)
	}
	st.Current = currentRRset(name, answers)
	return nil
}

// finish joins conflicts and errors into Ensure's or Remove's result.
func finish(space string, conflicts []Conflict, errs []error) error {
	if len(conflicts) > 0 {
		errs = append([]error{&ConflictError{Space: space, Conflicts: conflicts}}, errs...)
	}
	return errors.Join(errs...)
}

package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"

	"github.com/miekg/dns"

	deccodns "github.com/decco-dev/decco/dns"
)

// SharedStates reports what the last Ensure (or Remove) of spaceName did
// at its shared names.
func (p *Provider) SharedStates(spaceName string) []deccodns.SharedState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.shared[spaceName])
}

var _ deccodns.SharedReporter = (*Provider)(nil)

func (p *Provider) setShared(space string, states []deccodns.SharedState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(states) == 0 {
		delete(p.shared, space)
		return
	}
	p.shared[space] = states
}

// splitShared separates shared records from the others, validated.
func (p *Provider) splitShared(records []deccodns.Record) ([]deccodns.Record, map[string]sharedWant, error) {
	var exclusive []deccodns.Record
	shared := map[string]sharedWant{}
	var errs []error
	for _, rec := range records {
		if rec.Shared == nil {
			exclusive = append(exclusive, rec)
			continue
		}
		name, w, err := desiredShared(rec, p.cfg.TTL)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := shared[name]; dup {
			errs = append(errs, fmt.Errorf("shared name %s appears twice", trimDot(name)))
			continue
		}
		shared[name] = w
	}
	for _, rec := range exclusive {
		if _, both := shared[dns.CanonicalName(rec.Name)]; both {
			errs = append(errs, fmt.Errorf("name %s is wanted both as the space's own and as a shared name", rec.Name))
		}
	}
	return exclusive, shared, errors.Join(errs...)
}

// sharedNamesOf picks, out of the names a zone's index lists for the
// space, those it holds as shared names, so they leave through the
// shared path (removing only this installation's addresses).
func sharedNamesOf(state map[string]nameState, owner, space string) []string {
	var out []string
	for name, st := range state {
		if !st.Indexed {
			continue
		}
		for _, v := range st.Markers {
			if m, ok := parseSharedMarker(v); ok && m.Owner == owner && m.Space == space {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

// syncShared converges one shared name: reads its markers and addresses,
// plans, and applies the step as one update conditioned on the markers
// as read.
func (p *Provider) syncShared(ctx context.Context, space, zone, name string, want *sharedWant, indexed bool) (deccodns.SharedState, *Conflict, error) {
	values, err := p.client.txtValues(ctx, ownerName(name))
	if err != nil {
		return deccodns.SharedState{}, nil, err
	}
	step := planShared(name, p.cfg.OwnerID, space, want, values)
	log := p.log.WithValues("space", space, "zone", trimDot(zone), "name", trimDot(name))
	if step.Conflict != "" {
		if indexed {
			if err := p.client.update(ctx, p.unindex(space, zone, name)); err != nil {
				return step.State, nil, err
			}
		}
		log.Info("shared DNS name is held by others; leaving it alone", "reason", step.Conflict)
		return step.State, &Conflict{Name: trimDot(name), Reason: step.Conflict}, nil
	}
	missing, err := p.missingAddresses(ctx, name, step.Add)
	if err != nil {
		return step.State, nil, err
	}
	if step.noop() && !missing && indexed == step.Index {
		return step.State, nil, nil
	}
	m := p.msg(zone)
	if len(values) == 0 {
		m.RRsetNotUsed([]dns.RR{anyRR(ownerName(name), dns.TypeTXT)})
	} else {
		var found []dns.RR
		for _, v := range values {
			found = append(found, txt(ownerName(name), 0, v))
		}
		m.Used(found)
	}
	ttl := uint32(p.cfg.TTL)
	if want != nil {
		ttl = want.TTL
	}
	if step.Old != nil {
		m.Remove([]dns.RR{txt(ownerName(name), ttl, step.Old.String())})
	}
	if rrs := addressRRs(name, ttl, step.Remove); len(rrs) > 0 {
		m.Remove(rrs)
	}
	var insert []dns.RR
	if step.New != nil {
		insert = append(addressRRs(name, ttl, step.Add), txt(ownerName(name), ttl, step.New.String()))
	}
	switch {
	case step.Index && !indexed:
		insert = append(insert, p.indexRR(space, zone, name))
	case !step.Index && indexed:
		m.Remove([]dns.RR{p.indexRR(space, zone, name)})
	}
	if len(insert) > 0 {
		m.Insert(insert)
	}
	if err := p.client.update(ctx, m); err != nil {
		if errors.Is(err, errPrerequisite) {
			return step.State, nil, fmt.Errorf("the owners of shared name %s changed while updating it; it is read again on the next reconcile: %w", trimDot(name), err)
		}
		return step.State, nil, err
	}
	switch {
	case step.New != nil && step.State.KeptAsLast:
		log.Info("region not ready, but its address stays at the shared name: no other region publishes one", "targets", step.New.Targets)
	case step.New != nil:
		log.Info("published the region's address at the shared name", "targets", step.New.Targets, "others", step.State.Others)
	case step.Old != nil:
		log.Info("withdrew the region's address from the shared name", "removed", step.Remove, "others", step.State.Others)
	}
	return step.State, nil, nil
}

// missingAddresses reports whether any of targets is absent at name (a
// record deleted behind decco's back is put back).
func (p *Provider) missingAddresses(ctx context.Context, name string, targets []string) (bool, error) {
	if len(targets) == 0 {
		return false, nil
	}
	have := map[string]bool{}
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := p.client.read(ctx, name, t)
		if err != nil {
			return false, err
		}
		for _, rr := range rrs {
			switch v := rr.(type) {
			case *dns.A:
				have[canonicalIP(v.A)] = true
			case *dns.AAAA:
				have[canonicalIP(v.AAAA)] = true
			}
		}
	}
	return slices.ContainsFunc(targets, func(t string) bool { return !have[t] }), nil
}

// addressRRs are A/AAAA records at name, one per target.
func addressRRs(name string, ttl uint32, targets []string) []dns.RR {
	var out []dns.RR
	for _, t := range targets {
		ip := net.ParseIP(t)
		hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: ttl}
		if v4 := ip.To4(); v4 != nil {
			hdr.Rrtype = dns.TypeA
			out = append(out, &dns.A{Hdr: hdr, A: v4})
		} else {
			hdr.Rrtype = dns.TypeAAAA
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: ip})
		}
	}
	return out
}

// syncSharedZone converges the space's shared names in one zone: those it
// wants, and those the zone's index lists for it as shared.
func (p *Provider) syncSharedZone(ctx context.Context, space, zone string, want map[string]sharedWant, indexed []string) ([]deccodns.SharedState, []Conflict, error) {
	isIndexed := map[string]bool{}
	for _, n := range indexed {
		isIndexed[n] = true
	}
	names := map[string]bool{}
	for n := range want {
		names[n] = true
	}
	for n := range isIndexed {
		names[n] = true
	}
	var states []deccodns.SharedState
	var conflicts []Conflict
	var errs []error
	for _, n := range slices.Sorted(maps.Keys(names)) {
		var w *sharedWant
		if v, ok := want[n]; ok {
			w = &v
		}
		st, c, err := p.syncShared(ctx, space, zone, n, w, isIndexed[n])
		if w != nil {
			states = append(states, st)
		}
		if c != nil {
			conflicts = append(conflicts, *c)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return states, conflicts, errors.Join(errs...)
}

// sharedNames are the shared names wanted, keyed like desired rrsets for
// zonesOf, which needs only the names.
func sharedNames(shared map[string]sharedWant) map[string]rrset {
	out := make(map[string]rrset, len(shared))
	for n := range shared {
		out[n] = rrset{Name: n}
	}
	return out
}

// splitZone separates a zone's wanted names into the space's own and its
// shared ones (marked by rrset.shared).
func splitZone(names map[string]rrset) (map[string]rrset, map[string]sharedWant) {
	exclusive := map[string]rrset{}
	shared := map[string]sharedWant{}
	for n, rs := range names {
		if rs.shared != nil {
			shared[n] = *rs.shared
			continue
		}
		exclusive[n] = rs
	}
	return exclusive, shared
}

func ptrTo[T any](v T) *T { return &v }

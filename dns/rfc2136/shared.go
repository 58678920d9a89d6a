package rfc2136

import (
	"fmt"
	"net"
	"slices"
	"strings"

	deccodns "github.com/decco-dev/decco/dns"
)

// Shared names (a customer's global name, published by one decco
// installation per region) keep one ownership record per installation at
// _decco-owner.<name>:
//
//	heritage=decco,owner=<owner id>,space=<space>,trust=<fingerprint>,targets=<a>+<b>
//
// Each installation adds and removes only the addresses its record lists;
// an address record nobody's marker lists (another tool's, a third
// cluster's) is left alone. Every change is one update whose prerequisite
// is the marker RRset exactly as read, so two installations changing the
// name at once can't both succeed on a stale view: the loser's update
// fails and it reads again. That is also what makes "the last address is
// never withdrawn" hold when two regions fall ill together.

// sharedMarker is one installation's record at a shared name.
type sharedMarker struct {
	Owner, Space, Trust string
	// Targets are canonical IP addresses, sorted.
	Targets []string
}

func (m sharedMarker) String() string {
	return "heritage=decco,owner=" + m.Owner + ",space=" + m.Space + ",trust=" + m.Trust + ",targets=" + strings.Join(m.Targets, "+")
}

func (m sharedMarker) id() string { return m.Owner + "/" + m.Space }

// parseSharedMarker decodes a shared name's marker; ok is false for
// anything else, exclusive markers included.
func parseSharedMarker(s string) (m sharedMarker, ok bool) {
	fields := strings.Split(s, ",")
	if len(fields) != 5 || fields[0] != "heritage=decco" {
		return sharedMarker{}, false
	}
	want := []string{"owner", "space", "trust", "targets"}
	vals := make([]string, len(want))
	for i, f := range fields[1:] {
		k, v, found := strings.Cut(f, "=")
		if !found || k != want[i] || v == "" {
			return sharedMarker{}, false
		}
		vals[i] = v
	}
	m = sharedMarker{Owner: vals[0], Space: vals[1], Trust: vals[2]}
	for _, t := range strings.Split(vals[3], "+") {
		ip := net.ParseIP(t)
		if ip == nil {
			return sharedMarker{}, false
		}
		m.Targets = append(m.Targets, canonicalIP(ip))
	}
	slices.Sort(m.Targets)
	return m, true
}

func canonicalIP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}

// sharedWant is what a space wants at a shared name.
type sharedWant struct {
	Targets []string // canonical IPs, sorted
	Trust   string
	Standby bool
	TTL     uint32
}

// desiredShared validates a shared record: IP targets only (a CNAME can't
// share its name with anything) and a trust fingerprint.
func desiredShared(rec deccodns.Record, defaultTTL int64) (string, sharedWant, error) {
	rs, err := desiredRRset(deccodns.Record{Name: rec.Name, Targets: rec.Targets, TTL: rec.TTL}, defaultTTL)
	if err != nil {
		return "", sharedWant{}, err
	}
	if rs.CNAME != "" {
		return "", sharedWant{}, fmt.Errorf("shared name %s: target %s is a hostname; a name several clusters share needs IP addresses (a CNAME admits nothing beside it)", trimDot(rs.Name), trimDot(rs.CNAME))
	}
	trust := rec.Shared.Trust
	if strings.ContainsAny(trust, ",=+ \"") {
		return "", sharedWant{}, fmt.Errorf("shared name %s: trust %q is not a fingerprint", trimDot(rs.Name), trust)
	}
	targets := slices.Sorted(slices.Values(append(slices.Clone(rs.A), rs.AAAA...)))
	return rs.Name, sharedWant{Targets: targets, Trust: trust, Standby: rec.Shared.Standby, TTL: rs.TTL}, nil
}

// sharedStep is what one installation does at a shared name, planned
// from the markers found there.
type sharedStep struct {
	// Conflict, when set, says why the name is left alone.
	Conflict string
	// Remove are this installation's addresses to delete: listed in its
	// old marker, not wanted any more, and listed by no other marker.
	Remove []string
	// Add are the addresses to publish.
	Add []string
	// Old is this installation's marker as found, New the one to leave;
	// nil for none.
	Old, New *sharedMarker
	// Index: the space's index should list the name afterwards.
	Index bool
	State deccodns.SharedState
}

// noop: the markers already say what the step would write.
func (s sharedStep) noop() bool {
	switch {
	case s.Conflict != "":
		return true
	case s.Old == nil || s.New == nil:
		return s.Old == nil && s.New == nil
	}
	return s.Old.String() == s.New.String()
}

// planShared decides what owner, reconciling space, does at shared name
// given the marker values found there and what the space wants (nil:
// nothing, so its addresses leave). It is pure.
func planShared(name, owner, space string, want *sharedWant, values []string) sharedStep {
	step := sharedStep{State: deccodns.SharedState{Name: trimDot(name)}}
	var others []sharedMarker
	for _, v := range values {
		m, ok := parseSharedMarker(v)
		switch {
		case !ok:
			if em, ok := parseMarker(v); ok && em.Name == "" {
				step.Conflict = fmt.Sprintf("is published by decco installation %q (space %s) as a name of its own, not a shared one", em.Owner, em.Space)
			} else if want != nil {
				step.Conflict = fmt.Sprintf("has an ownership record %q that decco did not write", v)
			}
		case m.Owner == owner && m.Space == space:
			step.Old = &m
		case m.Owner == owner:
			step.Conflict = fmt.Sprintf("is published by space %s of this installation", m.Space)
		default:
			others = append(others, m)
		}
	}
	if want != nil && want.Trust == "" {
		// The trust is unknown for now: keep the one on record, on
		// standby; without a record there is nothing to prove the
		// customer with, so join nothing.
		if step.Old == nil {
			want = nil
		} else {
			w := *want
			w.Trust, w.Standby = step.Old.Trust, true
			want = &w
		}
	}
	slices.SortFunc(others, func(a, b sharedMarker) int { return strings.Compare(a.id(), b.id()) })
	for _, o := range others {
		step.State.Others = append(step.State.Others, o.id())
	}
	if want != nil && step.Conflict == "" {
		for _, o := range others {
			if o.Trust != want.Trust {
				step.Conflict = fmt.Sprintf("is the global name of another trust domain (installation %q, space %s, CA fingerprint %s, not %s): only regions that share one CA share a name", o.Owner, o.Space, o.Trust, want.Trust)
				break
			}
		}
	}
	if step.Conflict != "" {
		if want == nil && step.Old != nil {
			step.Conflict = "" // our own record goes whatever else is there
		} else {
			step.Old, step.State.Published = nil, false
			return step
		}
	}
	publish := want != nil && (!want.Standby || len(others) == 0)
	if publish {
		step.New = &sharedMarker{Owner: owner, Space: space, Trust: want.Trust, Targets: want.Targets}
		step.Add = want.Targets
		step.Index = true
		step.State.Published = true
		step.State.KeptAsLast = want.Standby
	}
	if step.Old != nil {
		keep := map[string]bool{}
		for _, o := range others {
			for _, t := range o.Targets {
				keep[t] = true
			}
		}
		if step.New != nil {
			for _, t := range step.New.Targets {
				keep[t] = true
			}
		}
		for _, t := range step.Old.Targets {
			if !keep[t] {
				step.Remove = append(step.Remove, t)
			}
		}
	}
	return step
}

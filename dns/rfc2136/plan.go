package rfc2136

import (
	"fmt"
	"sort"
	"strings"
)

// ownership is what a name's _decco-owner marker says about it, seen from
// one installation reconciling one space.
type ownership int

const (
	// unowned: no marker. The name may still hold records someone else
	// made; the create's prerequisites find out.
	unowned ownership = iota
	// ours: exactly one marker, this installation's, for this space.
	ours
	// otherSpace: this installation's marker for another space.
	otherSpace
	// foreign: another installation's marker, or a TXT there that isn't
	// decco's, or more than one record.
	foreign
)

// nameState is what gathering found about one name in one zone.
type nameState struct {
	Owner ownership
	// Holder describes who holds a name that isn't ours, for conflicts.
	Holder string
	// Current is the published data, read only when Owner is ours.
	Current rrset
	// Indexed: the space's index in this zone lists the name.
	Indexed bool
	// Markers are the TXT values found at the name's marker.
	Markers []string
}

type actionKind int

const (
	// create the records, marker and index entry; fails (conflict) if the
	// name or its marker holds anything.
	actCreate actionKind = iota
	// update replaces the records of a name we own.
	actUpdate
	// remove deletes the records, marker and index entry of a name we own.
	actRemove
	// index adds a missing index entry for a name we own and whose
	// records are current.
	actIndex
	// unindex drops an index entry for a name that isn't ours (any more).
	actUnindex
	// conflict reports a wanted name we may not touch.
	actConflict
)

func (k actionKind) String() string {
	return [...]string{"create", "update", "remove", "index", "unindex", "conflict"}[k]
}

// action is one step of a zone's plan.
type action struct {
	Kind actionKind
	Name string
	// Want is the desired data (create, update, index).
	Want rrset
	// Reason explains a conflict.
	Reason string
	// Unindex also drops the name's index entry: with a conflict, or
	// when a create turns out to conflict.
	Unindex bool
}

// plan decides, for one space in one zone, what to do with each name:
// desired maps canonical names to their wanted data, state holds what was
// found for every desired or indexed name. It is pure; actions come out
// sorted by name.
func plan(desired map[string]rrset, state map[string]nameState) []action {
	var out []action
	for name, want := range desired {
		st := state[name]
		switch st.Owner {
		case unowned:
			out = append(out, action{Kind: actCreate, Name: name, Want: want, Unindex: st.Indexed})
		case ours:
			switch {
			case !st.Current.equal(want):
				out = append(out, action{Kind: actUpdate, Name: name, Want: want})
			case !st.Indexed:
				out = append(out, action{Kind: actIndex, Name: name, Want: want})
			}
		default:
			out = append(out, action{Kind: actConflict, Name: name, Reason: st.Holder, Unindex: st.Indexed})
		}
	}
	for name, st := range state {
		if _, wanted := desired[name]; wanted || !st.Indexed {
			continue
		}
		if st.Owner == ours {
			out = append(out, action{Kind: actRemove, Name: name})
		} else {
			out = append(out, action{Kind: actUnindex, Name: name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// classify reads the TXT values at a name's marker for owner and space.
func classify(values []string, owner, space string) (ownership, string) {
	switch len(values) {
	case 0:
		return unowned, ""
	case 1:
	default:
		return foreign, fmt.Sprintf("has %d ownership records at %s…, not one of this installation's", len(values), ownerPrefix)
	}
	if sm, ok := parseSharedMarker(values[0]); ok {
		return foreign, fmt.Sprintf("is a global name that regions of space %s (decco installation %q) share", sm.Space, sm.Owner)
	}
	m, ok := parseMarker(values[0])
	switch {
	case !ok || m.Name != "":
		return foreign, fmt.Sprintf("has an ownership record %q that decco did not write", values[0])
	case m.Owner != owner:
		return foreign, fmt.Sprintf("is owned by decco installation %q (space %s)", m.Owner, m.Space)
	case m.Space != space:
		return otherSpace, fmt.Sprintf("is published by space %s of this installation", m.Space)
	}
	return ours, ""
}

// indexedNames picks this installation's entries for space out of an
// index RRset's values, keeping only names inside zone so a damaged
// entry can't point an update elsewhere.
func indexedNames(values []string, owner, space, zone string) []string {
	var out []string
	for _, v := range values {
		m, ok := parseMarker(v)
		if !ok || m.Owner != owner || m.Space != space || m.Name == "" {
			continue
		}
		if m.Name == zone || !strings.HasSuffix(m.Name, "."+zone) {
			continue
		}
		out = append(out, m.Name)
	}
	sort.Strings(out)
	return out
}

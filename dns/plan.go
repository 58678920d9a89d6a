package dns

import "slices"

// Changes is what a provider must do to turn current records into desired
// ones. Apply Delete first, then Update, then Create: a name that changes
// from CNAME to A shows up as a Delete of the CNAME and a Create of the A,
// and a CNAME may not coexist with any other record of its name.
type Changes struct {
	// Create lists desired records with no current record of their name
	// and type.
	Create []Record
	// Update lists desired records whose current record of the same name
	// and type has other targets or another TTL; each entry is the desired
	// record, which replaces the whole current record set.
	Update []Record
	// Delete lists current records with no desired record of their name
	// and type.
	Delete []Record
}

// Empty reports whether there is nothing to do.
func (c Changes) Empty() bool {
	return len(c.Create) == 0 && len(c.Update) == 0 && len(c.Delete) == 0
}

// key identifies a record set: one name and type.
type key struct{ name, typ string }

// Plan compares desired and current records by name and type. Both sides
// are normalized first: targets made canonical (lowercase, no trailing
// dot, IPv4-mapped addresses unmapped), split by the record type each
// calls for, and records of the same name and type merged, so a backend
// that lists one entry per target compares equal to one record with many.
// Targets compare as sets. A desired TTL of 0 ("provider default")
// matches any current TTL, so a provider reporting its actual default never
// causes an update. Results are sorted by name then type.
func Plan(desired, current []Record) Changes {
	want, have := normalize(desired), normalize(current)
	var ch Changes
	for k, d := range want {
		c, ok := have[k]
		switch {
		case !ok:
			ch.Create = append(ch.Create, d)
		case !slices.Equal(d.Targets, c.Targets) || (d.TTL != 0 && d.TTL != c.TTL):
			ch.Update = append(ch.Update, d)
		}
	}
	for k, c := range have {
		if _, ok := want[k]; !ok {
			ch.Delete = append(ch.Delete, c)
		}
	}
	sortRecords(ch.Create)
	sortRecords(ch.Update)
	sortRecords(ch.Delete)
	return ch
}

// normalize indexes records by name and type with canonical, sorted,
// deduplicated targets; invalid targets and records left with none are
// dropped. The first nonzero TTL of a merged set wins.
func normalize(rs []Record) map[key]Record {
	out := map[key]Record{}
	for _, r := range rs {
		name := canonicalTarget(r.Name)
		if name == "" || typeOf(name) != "CNAME" { // a name must be a DNS name, not an address
			continue
		}
		for _, t := range r.Targets {
			t = canonicalTarget(t)
			if t == "" {
				continue
			}
			k := key{name, typeOf(t)}
			m := out[k]
			m.Name = name
			m.Targets = append(m.Targets, t)
			if m.TTL == 0 {
				m.TTL = r.TTL
			}
			out[k] = m
		}
	}
	for k, m := range out {
		slices.Sort(m.Targets)
		m.Targets = slices.Compact(m.Targets)
		out[k] = m
	}
	return out
}

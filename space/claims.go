package space

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// AnnotationHostnames is the reconciler's record, on a space namespace, of
// the hostnames the space holds and since when, so that ownership follows
// the first claim rather than anything a later space could arrange (such
// as being the older namespace). Only decco writes it.
const AnnotationHostnames = Prefix + "hostnames"

// Claims maps each hostname a space holds to when it claimed it.
type Claims map[string]time.Time

// ParseClaims reads decco.io/hostnames: comma-separated host=time pairs,
// time in RFC 3339 (UTC, seconds). An empty value holds nothing.
func ParseClaims(v string) (Claims, error) {
	out := Claims{}
	if v == "" {
		return out, nil
	}
	for _, entry := range strings.Split(v, ",") {
		host, at, ok := strings.Cut(entry, "=")
		t, err := time.Parse(time.RFC3339, at)
		if !ok || err != nil || !IsDNSName(host) || !formattable(t) {
			return nil, &FieldError{Key: AnnotationHostnames, Value: v,
				Problem: fmt.Sprintf("entry %q is not hostname=time", entry),
				Fix:     "decco writes this annotation; remove it and decco records the space's hostnames again"}
		}
		out[host] = t
	}
	return out, nil
}

// formattable reports whether t, in UTC as Format writes it, is a time
// RFC 3339 can express (years 0000 to 9999): "0000-01-01T00:00:00+01:00"
// parses, but is year -1 in UTC.
func formattable(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}

// Format renders c for decco.io/hostnames, sorted by hostname, so equal
// claims give equal strings and an unchanged record causes no write.
func (c Claims) Format() string {
	hosts := make([]string, 0, len(c))
	for h := range c {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	var b strings.Builder
	for i, h := range hosts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(h)
		b.WriteByte('=')
		b.WriteString(c[h].UTC().Format(time.RFC3339))
	}
	return b.String()
}

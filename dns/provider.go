// Package dns publishes a space's DNS names: <space>.<domain> always, and
// <service>.<space>.<domain> for TCP services that ask for it, all pointing
// at the gateway's external address. The reconciler computes the desired
// records (pure); a Provider makes a DNS backend match them.
package dns

import (
	"context"
	"errors"
	"net"
)

// Record is one DNS name and where it points.
type Record struct {
	// Name is a fully qualified name without the trailing dot.
	Name string
	// Targets are IP addresses (A/AAAA) or exactly one hostname (CNAME).
	Targets []string
	// TTL in seconds; 0 means the provider's default.
	TTL int64
	// Shared, when set, makes Name a name several installations publish
	// under, each its own targets (see Shared).
	Shared *Shared
}

// Type is the record type Targets call for: CNAME for a hostname, A for
// IPv4 addresses, AAAA for IPv6 ones.
func (r Record) Type() string {
	if len(r.Targets) == 0 {
		return ""
	}
	ip := net.ParseIP(r.Targets[0])
	switch {
	case ip == nil:
		return "CNAME"
	case ip.To4() != nil:
		return "A"
	default:
		return "AAAA"
	}
}

// Errors a Provider returns for what only a user can fix, so the
// reconciler can name them in the space's status instead of retrying.
var (
	// ErrConflict: a name decco wants is held by records it did not create.
	ErrConflict = errors.New("DNS names are taken")
	// ErrNoZone: no zone on the DNS server serves the name.
	ErrNoZone = errors.New("no zone on the DNS server holds the name")
)

// Provider makes a DNS backend hold exactly the records decco wants for a
// space. Implementations own only what they published: a record they did
// not create is never changed or deleted, and is reported as a conflict.
type Provider interface {
	// Ensure converges the space's records to desired: missing ones are
	// created, changed ones updated, and ones published earlier for the
	// space but no longer desired are removed.
	Ensure(ctx context.Context, spaceName string, desired []Record) error
	// Remove deletes every record published for the space.
	Remove(ctx context.Context, spaceName string) error
}

// Package rfc2136 is a dns.Provider that updates an authoritative DNS
// server directly with RFC 2136 dynamic updates signed with TSIG, for
// clusters without external-dns.
//
// # Zones
//
// The zone of each name is found by asking the configured server for the
// name's SOA, walking up one label at a time until the server answers
// authoritatively. A name no zone on that server holds is an error
// (ErrNoZone) naming the name and the server, never a silent skip.
//
// # Ownership
//
// decco never changes or deletes a record it did not create. Ownership is
// kept in the zone itself, so it survives restarts and is visible to
// anyone with dig, in the spirit of external-dns's TXT registry:
//
//   - Beside every name N decco publishes, a TXT record at
//     _decco-owner.N holds "heritage=decco,owner=<owner id>,space=<space>".
//     It sits at a prefixed name because a TXT can't share a name with a
//     CNAME. The owner id names one decco installation, so installations
//     sharing a zone see each other's names and leave them alone.
//   - For every space and zone, a TXT RRset at _decco-index.<space>.<zone>
//     holds one record per published name,
//     "heritage=decco,owner=<owner id>,space=<space>,name=<N>". It is how
//     decco finds names a space no longer wants (a Service dropped its DNS
//     opt-in) without a zone transfer: one query per zone instead of
//     reading the whole zone, and no allow-transfer grant.
//
// Kubernetes names can't contain underscores, so neither prefix can clash
// with a name a tenant makes decco publish.
//
// A shared name (a customer's global name, dns.Record.Shared) is the one
// exception to "one owner per name": _decco-owner.N holds one record per
// installation, "heritage=decco,owner=<id>,space=<space>,trust=<fp>,targets=<a>+<b>",
// each installation adds and removes only the addresses it lists, and
// joins only when every other record names the same trust fingerprint
// (see shared.go).
//
// Every change to one name is a single atomic update whose prerequisites
// the server checks: a create requires that neither N nor _decco-owner.N
// holds any record, so a record someone else made (or another
// installation's claim) makes it fail, and the name is reported as a
// conflict (ConflictError) instead of overwritten; an update or delete
// requires that _decco-owner.N holds exactly this installation's marker
// for this space. The name's records, its marker and its index entry are
// written in that same update, so a crash never leaves records the index
// doesn't know.
//
// # Zones a space used
//
// Remove gets only a space's name, so the provider must know which zones
// to look in: every zone it has published to since it started, plus the
// zones configured as hints (--dns-rfc2136-zone). Ensure looks there too,
// so a space that moves to another domain leaves nothing behind. A space
// deleted while decco was down, whose zone no other space uses, is found
// only through the hints.
//
// # Trust
//
// Every query and update is signed with the TSIG key, and the server's
// signed answers are verified, so ownership decisions rest on answers
// from the server holding the key, not on whatever a spoofer sends. The
// key comes from a Kubernetes Secret the operator names, never from a
// tenant's annotation.
package rfc2136

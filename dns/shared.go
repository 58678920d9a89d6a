package dns

// A shared name is one name that several decco installations publish
// their own addresses under: the global name of a customer's regions
// (decco.io/global-name), one region per cluster. Each installation owns
// only its addresses there and never touches another's.

// Shared marks a Record as a shared name's: the provider adds the
// installation's targets beside other installations' instead of holding
// the name alone. Trust names the customer's trust domain (a fingerprint
// of the regions' shared CA): an installation joins a shared name only
// when every other one publishing there names the same, so a global name
// is never shared with another customer's space.
type Shared struct {
	// Trust is the trust domain's fingerprint. Empty means unknown for
	// now (the region's CA Secret is being reissued): the installation
	// keeps the trust its record already names, and joins nowhere new.
	Trust string
	// Standby: the region is not ready, so its targets should leave the
	// name, unless no other installation publishes an address there
	// (the last address is never withdrawn: a dead name is worse than a
	// sick one).
	Standby bool
}

// SharedState is what a provider found and did at a shared name in its
// last Ensure for a space.
type SharedState struct {
	Name string
	// Published: this installation's targets are at the name.
	Published bool
	// KeptAsLast: the region is on standby, but its address stayed since
	// no other installation publishes one.
	KeptAsLast bool
	// Others are the other installations publishing at the name, as
	// "<owner>/<space>", sorted.
	Others []string
	// Unknown: the provider can't see other installations (DNSEndpoint:
	// each cluster's external-dns merges what it is given), so Others is
	// empty and a standby region keeps its address.
	Unknown bool
}

// SharedReporter is a Provider that tells what it did at the shared
// names of a space's last Ensure.
type SharedReporter interface {
	SharedStates(spaceName string) []SharedState
}

package dns

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// An ownership record decodes to what was encoded; anything else at the
// name (an exclusive marker, an index entry, another tool's) is not one.
func TestSharedOwnerRoundTrip(t *testing.T) {
	m := SharedOwner{Owner: "east", Space: "foo-east", Trust: "ab12", Targets: []string{"192.0.2.1", "2001:db8::1"}}
	got, ok := ParseSharedOwner(m.String())
	assert.True(t, ok)
	assert.Equal(t, m, got)
	for _, bad := range []string{
		"heritage=decco,owner=east,space=foo-east",                                // an exclusive marker
		"heritage=decco,owner=east,space=foo-east,name=foo.decco.test",            // an index entry
		"heritage=decco,owner=east,space=foo-east,trust=ab,targets=not-an-ip",     // a hostname target
		"heritage=decco,space=foo-east,owner=east,trust=ab,targets=192.0.2.1",     // keys out of order
		"heritage=decco,owner=,space=foo-east,trust=ab,targets=192.0.2.1",         // empty owner
		"heritage=other,owner=east,space=foo-east,trust=ab,targets=192.0.2.1",     // another tool
		"heritage=decco,owner=east,space=foo-east,trust=ab,targets=192.0.2.1,x=y", // extra key
	} {
		_, ok := ParseSharedOwner(bad)
		assert.False(t, ok, bad)
	}
}

package space

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClaimsRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	c := Claims{"shop.example.com": t0, "db.shop.example.com": t0.Add(time.Hour)}
	v := c.Format()
	assert.Equal(t, "db.shop.example.com=2026-12-02T04:00:00Z,shop.example.com=2026-12-02T03:00:00Z", v)
	back, err := ParseClaims(v)
	require.NoError(t, err)
	assert.True(t, back["shop.example.com"].Equal(t0))
	assert.Len(t, back, 2)
	assert.Equal(t, "", Claims{}.Format())
}

func TestParseClaimsRefusals(t *testing.T) {
	for _, v := range []string{"shop.example.com", "shop.example.com=yesterday", "Not_A_Host=2026-12-02T03:00:00Z", ",", "a.io=2026-12-02T03:00:00Z,"} {
		_, err := ParseClaims(v)
		require.Error(t, err, v)
		assert.Contains(t, err.Error(), AnnotationHostnames, v)
		assert.Contains(t, err.Error(), "decco writes this annotation", v)
	}
	c, err := ParseClaims("")
	require.NoError(t, err)
	assert.Empty(t, c)
}

// Whatever decco.io/hostnames holds, an accepted record formats back to a
// value that parses to the same claims, and a refusal names the key.
func FuzzParseClaims(f *testing.F) {
	f.Add("shop.example.com=2026-12-02T03:00:00Z")
	f.Add("db.shop.example.com=2026-12-02T04:00:00Z,shop.example.com=2026-12-02T03:00:00Z")
	f.Add("shop.example.com=2026-12-02T03:00:00+01:00")
	f.Add("x=,=y,,")
	f.Add("a.b=0000-01-01T00:00:00+01:00") // year -1 in UTC: refused, not written back unparseable
	f.Fuzz(func(t *testing.T, v string) {
		c, err := ParseClaims(v)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		back, err := ParseClaims(c.Format())
		if err != nil {
			t.Fatalf("%q formats to %q, which does not parse: %v", v, c.Format(), err)
		}
		if len(back) != len(c) {
			t.Fatalf("%q: %d claims, %d after a round trip", v, len(c), len(back))
		}
		for h, at := range c {
			if !back[h].Equal(at.Truncate(time.Second)) {
				t.Fatalf("%q: %s at %v, %v after a round trip", v, h, at, back[h])
			}
		}
	})
}

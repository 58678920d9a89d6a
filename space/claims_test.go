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

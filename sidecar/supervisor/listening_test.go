package supervisor

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The listening check finds a socket in either family without dialing it,
// and reports a port nothing listens on.
func TestListening(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Logf("%s: %v (family unavailable here)", addr, err)
			continue
		}
		port := int32(l.Addr().(*net.TCPAddr).Port)
		require.NoError(t, listening(port), addr)
		require.NoError(t, l.Close())
		assert.Error(t, listening(port), "%s closed", addr)
	}
}

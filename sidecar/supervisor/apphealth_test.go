package supervisor

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/decco-dev/decco/sidecar"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The handler repeats the probe against the app on loopback and passes
// its answer on: the app's status for HTTP, a connection for TCP.
func TestAppHealthHandler(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && r.Header.Get("X-Probe") == "yes" {
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer app.Close()
	_, p, _ := net.SplitHostPort(app.Listener.Addr().String())
	port, _ := strconv.Atoi(p)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	for _, tc := range []struct {
		path   string
		header string
		want   int
	}{
		{sidecar.AppHealthPath(sidecar.ProbeHTTP, int32(port), "/healthz"), "yes", http.StatusOK},
		{sidecar.AppHealthPath(sidecar.ProbeHTTP, int32(port), "/healthz"), "", http.StatusInternalServerError},
		{sidecar.AppHealthPath(sidecar.ProbeTCP, int32(port), ""), "", http.StatusOK},
		{sidecar.AppHealthPath(sidecar.ProbeTCP, int32(closedPort), ""), "", http.StatusServiceUnavailable},
		{sidecar.AppHealthPath(sidecar.ProbeHTTP, int32(closedPort), "/x"), "", http.StatusServiceUnavailable},
		{"/app-health/udp/53", "", http.StatusNotFound},
	} {
		t.Run(fmt.Sprintf("%s %q", tc.path, tc.header), func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.header != "" {
				req.Header.Set("X-Probe", tc.header)
			}
			rec := httptest.NewRecorder()
			appHealthHandler(rec, req)
			assert.Equal(t, tc.want, rec.Code, rec.Body.String())
		})
	}
}

package sidecar

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppHealthPath(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		port   int32
		path   string
		want   string
		back   string // path parsed back
	}{
		{ProbeHTTP, 8080, "/healthz", "/app-health/http/8080/healthz", "/healthz"},
		{ProbeHTTPS, 8443, "ready", "/app-health/https/8443/ready", "/ready"},
		{ProbeHTTP, 80, "/", "/app-health/http/80/", "/"},
		{ProbeTCP, 6379, "/ignored", "/app-health/tcp/6379", ""},
	} {
		got := AppHealthPath(tc.scheme, tc.port, tc.path)
		assert.Equal(t, tc.want, got)
		scheme, port, path, ok := ParseAppHealthPath(got)
		require.True(t, ok, got)
		assert.Equal(t, []any{tc.scheme, tc.port, tc.back}, []any{scheme, port, path})
	}
	for _, bad := range []string{"/ready", "/app-health/", "/app-health/udp/53", "/app-health/http/8080", "/app-health/tcp/0", "/app-health/tcp/6379/x", "/app-health/http/99999/x"} {
		_, _, _, ok := ParseAppHealthPath(bad)
		assert.False(t, ok, bad)
	}
}

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
		{AppHealthPath(ProbeHTTP, int32(port), "/healthz"), "yes", http.StatusOK},
		{AppHealthPath(ProbeHTTP, int32(port), "/healthz"), "", http.StatusInternalServerError},
		{AppHealthPath(ProbeTCP, int32(port), ""), "", http.StatusOK},
		{AppHealthPath(ProbeTCP, int32(closedPort), ""), "", http.StatusServiceUnavailable},
		{AppHealthPath(ProbeHTTP, int32(closedPort), "/x"), "", http.StatusServiceUnavailable},
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

package supervisor

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/decco-dev/decco/sidecar"
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

// The gRPC check is the kubelet's, against grpc-go's own health server:
// SERVING is 200; NOT_SERVING, an unknown service, a server without the
// health service and no server at all are 503.
func TestAppHealthGRPC(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("shop.Cart", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("shop.Orders", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	port := int32(l.Addr().(*net.TCPAddr).Port)

	bare, err := net.Listen("tcp", "127.0.0.1:0") // gRPC, but no health service
	require.NoError(t, err)
	bareSrv := grpc.NewServer()
	go func() { _ = bareSrv.Serve(bare) }()
	t.Cleanup(bareSrv.Stop)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := int32(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()

	for _, tc := range []struct {
		name string
		path string
		want int
		body string
	}{
		{"the server", sidecar.AppHealthPath(sidecar.ProbeGRPC, port, ""), http.StatusOK, "SERVING"},
		{"a serving service", sidecar.AppHealthPath(sidecar.ProbeGRPC, port, "shop.Cart"), http.StatusOK, "SERVING"},
		{"a service not serving", sidecar.AppHealthPath(sidecar.ProbeGRPC, port, "shop.Orders"), http.StatusServiceUnavailable, "NOT_SERVING"},
		{"an unknown service", sidecar.AppHealthPath(sidecar.ProbeGRPC, port, "shop.Nope"), http.StatusServiceUnavailable, `grpc-status "5"`},
		{"no health service", sidecar.AppHealthPath(sidecar.ProbeGRPC, int32(bare.Addr().(*net.TCPAddr).Port), ""), http.StatusServiceUnavailable, `grpc-status "12"`},
		{"nothing listening", sidecar.AppHealthPath(sidecar.ProbeGRPC, closedPort, ""), http.StatusServiceUnavailable, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			appHealthHandler(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			assert.Equal(t, tc.want, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), tc.body)
		})
	}

	// The server turns unhealthy: the probe follows.
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	rec := httptest.NewRecorder()
	appHealthHandler(rec, httptest.NewRequest(http.MethodGet, sidecar.AppHealthPath(sidecar.ProbeGRPC, port, ""), nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
}

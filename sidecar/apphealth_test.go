package sidecar

import (
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
		{ProbeGRPC, 9090, "", "/app-health/grpc/9090", ""},
		{ProbeGRPC, 9090, "/", "/app-health/grpc/9090", ""},
		{ProbeGRPC, 9090, "shop.Cart", "/app-health/grpc/9090/shop.Cart", "/shop.Cart"},
	} {
		got := AppHealthPath(tc.scheme, tc.port, tc.path)
		assert.Equal(t, tc.want, got)
		scheme, port, path, ok := ParseAppHealthPath(got)
		require.True(t, ok, got)
		assert.Equal(t, []any{tc.scheme, tc.port, tc.back}, []any{scheme, port, path})
	}
	for _, bad := range []string{"/ready", "/app-health/", "/app-health/udp/53", "/app-health/http/8080", "/app-health/tcp/0", "/app-health/tcp/6379/x", "/app-health/http/99999/x", "/app-health/grpc/9090/"} {
		_, _, _, ok := ParseAppHealthPath(bad)
		assert.False(t, ok, bad)
	}
}

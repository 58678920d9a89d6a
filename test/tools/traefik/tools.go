//go:build tools

// Package tools pins Traefik, the test node's gateway: it implements the
// Gateway API (HTTPRoute with BackendTLSPolicy, TLSRoute passthrough) and,
// through its kubernetesingressnginx provider, Ingress mode. v3.6 is the
// newest line that builds from the Go module proxy (v3.7 does not).
package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"

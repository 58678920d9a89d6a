// Package gateway runs a real gateway on the test node (test/node): Traefik
// built from the Go module proxy (test/tools/traefik), packed into an image
// with build/oci and run as pods in the gateway namespace, with a
// ServiceAccount and least-privilege RBAC, as a cluster runs its gateway.
// Running as pods in that namespace is what gives decco's NetworkPolicies
// their meaning: they admit the gateway namespace, and only to the
// listeners of the Services it routes to.
//
// Two instances run side by side, so one installation proves both of
// decco's route modes: one serves the Gateway API (the spaces' Gateways,
// HTTPRoutes with BackendTLSPolicy, TLSRoutes by SNI), the other Ingresses
// through Traefik's ingress-nginx provider (nginx's backend TLS and
// ssl-passthrough annotations, which decco's Ingress mode writes).
//
// Traefik is told never to call home (no version check, no usage data):
// like every component here it talks to the apiserver and the pods only.
package gateway

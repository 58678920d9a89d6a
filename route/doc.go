// Package route builds the objects that expose a space's Services to the
// Internet, following the seed's naming: an HTTP service (decco.io/http-path)
// is reachable at https://<space>.<domain><path> through a reverse proxy
// that terminates TLS; any other exposed service is reachable at
// <service>.<space>.<domain> by TLS passthrough, routed on SNI, so the
// sidecar in the pod terminates TLS (and checks client certificates).
//
// It is pure: Objects turns a space, its Services and the installation's
// settings into fully formed objects with stable names and no I/O; the
// reconciler applies them and deletes what it made earlier that is no
// longer returned.
//
// # Gateway API mode
//
// A Gateway holds at most 64 listeners, too few for hundreds of spaces each
// with its own hostnames and certificate. So every space gets its own
// ListenerSet (Gateway API v1.5+ standard channel) in its namespace,
// attached to the shared Gateway:
//
//   - listener "https": HTTPS on <space>.<domain>, terminating with the
//     space's HTTP certificate (space.Space.HTTPTLSSecret), for the space's
//     HTTPRoutes;
//   - listener "tls": TLS passthrough on *.<space>.<domain>, for its
//     TLSRoutes.
//
// Both accept routes only from the space's own namespace, and decco's routes
// attach to the ListenerSet (not to the Gateway), so one space's routes can
// never be served under another space's hostnames. The Gateway must allow
// ListenerSets from space namespaces (spec.allowedListeners). The
// certificate Secret lives next to the ListenerSet, so no ReferenceGrant is
// needed.
//
// # Gateway per space
//
// Implementations without ListenerSet support (Traefik 3.6 among them) get
// ModeGatewayPerSpace: the same listeners in a Gateway of the space's own,
// named "decco" in the space's namespace, of the installation's
// GatewayClass, and routes attached to it. The implementation serves all
// of them on its shared ports and tells them apart by hostname. The
// trade-off is in docs/design.md.
//
// With decco.io/encrypt-http the hop from the gateway to the pod is TLS: a
// BackendTLSPolicy on the Service makes the gateway verify the pod against
// the space CA, read from the ConfigMap CABundleConfigMap (key ca.crt, the
// Core-conformance form) that the reconciler publishes from the CA
// certificate, never from a Secret holding a private key.
//
// # Ingress mode
//
// For clusters without Gateway API, the seed's own design: HTTP services
// become networking.k8s.io/v1 Ingresses for the HTTP ingress class; TCP
// services become Ingresses whose host is the SNI name, for an SNI router's
// ingress class (k8sniff in the seed, or an nginx-compatible controller,
// told by the ssl-passthrough annotation), which forwards the TLS stream
// untouched.
//
// # Collisions
//
// A hostname belongs to the first space that claims it (Input.Claimed).
// Objects refuses, with a Conflict, every exposure whose hostname another
// space holds, and every exposure it can't build (bad path, no TCP port,
// name too long), and builds the rest.
package route

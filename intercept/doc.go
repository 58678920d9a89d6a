// Package intercept is transparent interception as data: the Plan the
// webhook records on a pod in cni mode (annotation decco.io/interception),
// and the iptables rules the CNI plugin (cmd/decco-cni) installs from it
// in the pod's network namespace. Both ends use this one type, so the
// webhook can't write a plan the plugin reads differently, and the rules
// are a pure function of the plan with table tests.
//
// Inbound, every TCP connection to the pod is redirected to the sidecar's
// TLS listener, except the ports the plan excludes (the sidecar's health
// port, decco.io/plaintext-ports); the listener reads the original
// destination and hands the connection to the app on its own port. Ports
// the plan lists as HTTP go to a second listener that asks for no client
// certificate (the gateway can't present one).
//
// Outbound, the app's TCP connections to the cluster's pod and Service
// ranges go to the sidecar's client, which opens mutual TLS to the
// original destination. Loopback (which includes the pod's own addresses),
// the sidecar's own user, DNS and the excluded destinations (the
// apiserver) are never redirected.
//
// A last rule lets the sidecar prove the rules are in place: its own
// connection to CheckPort on loopback is redirected to its health port,
// which nothing else would answer. The sidecar is not ready until that
// connection reaches it, so a pod whose plan was not applied never takes
// traffic (fail closed).
//
// The plan is decco's to write: a tenant can't set it (the webhook
// replaces or refuses it) and can't change it on a running pod.
package intercept

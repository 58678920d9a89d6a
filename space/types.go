package space

import "github.com/decco-dev/decco/sidecar"

// Space is a validated space namespace.
type Space struct {
	// Name is the namespace's name; the space label carries the same value.
	Name string
	// Domain is the DNS domain; the space is reachable at Name.Domain.
	Domain string
	// Project is the isolation group; empty means open to every space.
	Project string
	// Issuer is the cert-manager issuer for the space's CA; empty means the
	// installation's default.
	Issuer IssuerRef
	// HTTPCertSecret and TCPCertSecret name user-provided TLS Secrets that
	// replace the certificates decco would issue.
	HTTPCertSecret string
	TCPCertSecret  string
	// RuntimeClass, when set, is forced on every pod of the space.
	RuntimeClass string
	// Limits override the installation's limits for this space; zero
	// fields keep the installation's.
	Limits Limits
	// EgressDeclared: decco.io/egress-policy is "declared", so the space's
	// pods may reach only cluster DNS, their own space and the
	// destinations of their decco.io/egress entries.
	EgressDeclared bool
	// NestedIn names the space whose hostname Domain may be
	// (decco.io/nested-in); empty: none.
	NestedIn string
	// GlobalName is the customer-wide name this space is one region of
	// (decco.io/global-name); empty: none.
	GlobalName string
	// CASecretRef names the platform's CA Secret the space's certificates
	// are issued from (decco.io/ca-secret); empty: a CA of its own.
	CASecretRef string
}

// IssuerRef names a cert-manager issuer. Kind is "Issuer" or
// "ClusterIssuer"; an empty ref means "use the default".
type IssuerRef struct {
	Kind string
	Name string
}

// PortRef selects a container port by name or by number.
type PortRef struct {
	Name   string
	Number int32
}

// Workload is what a Pod (or Pod template) asks of decco.
type Workload struct {
	// Space is the value of the pod's space label.
	Space string
	// OptOut is true for decco.io/inject: "false".
	OptOut bool
	// TLSPorts limits the TLS listeners to these ports; nil means every
	// declared container port.
	TLSPorts []PortRef
	// PlaintextPorts are never given a TLS listener.
	PlaintextPorts []PortRef
	// VerifyClient requires client certificates on the TLS listeners.
	// Without the annotation it is true and applies to TCP ports only:
	// HTTP ports are reached through the gateway, which can't present a
	// space's client certificate (see VerifyClientSet).
	VerifyClient bool
	// VerifyClientSet says decco.io/verify-client was given, so
	// VerifyClient applies to every port, HTTP ones included.
	VerifyClientSet bool
	// Egress are the decco.io/egress entries: TLS tunnels the app reaches
	// on localhost. They are the sidecar's own type, passed on as they are.
	Egress []sidecar.Egress
}

// Exposure is what a Service labeled with a space asks for.
type Exposure struct {
	// Space is the value of the Service's space label.
	Space string
	// HTTPPath, when set, exposes the Service as an HTTP route on
	// <space>.<domain> under this path prefix; otherwise it is a TCP route
	// by SNI on <service>.<space>.<domain>.
	HTTPPath string
	// DNS publishes a DNS record for a TCP service.
	DNS bool
	// PlaintextPorts are target ports left pointing at the app.
	PlaintextPorts []PortRef
}

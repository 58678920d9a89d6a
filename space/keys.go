// Package space is decco's one model of a space: it parses and validates
// every decco.io/ label and annotation on Namespaces, Pods and Services.
// No other package reads decco.io/ keys directly.
package space

// Prefix is the prefix of every label and annotation decco reads or writes.
const Prefix = "decco.io/"

// Label on a Namespace (value: the namespace's own name) makes it a space;
// on a Pod template or Service it opts the object into that space.
const LabelSpace = Prefix + "space"

// Namespace annotations.
const (
	AnnotationDomain         = Prefix + "domain"
	AnnotationProject        = Prefix + "project"
	AnnotationIssuer         = Prefix + "issuer"
	AnnotationHTTPCertSecret = Prefix + "http-cert-secret"
	AnnotationTCPCertSecret  = Prefix + "tcp-cert-secret"
	AnnotationEncryptHTTP    = Prefix + "encrypt-http"
	AnnotationRuntimeClass   = Prefix + "runtime-class"
	AnnotationEgressPolicy   = Prefix + "egress-policy"
	// AnnotationNestedIn is the platform's permission for a space whose
	// domain is another space's hostname (<parent>.<its domain>): the
	// parent's name. Without it such a space claims no new hostname.
	AnnotationNestedIn = Prefix + "nested-in"
)

// Values of decco.io/egress-policy.
const (
	// EgressOpen leaves the space's pods free to connect anywhere (the
	// default).
	EgressOpen = "open"
	// EgressDeclared lets them reach only cluster DNS, their own space and
	// what their decco.io/egress entries name.
	EgressDeclared = "declared"
)

// Pod annotations.
const (
	AnnotationTLSPorts       = Prefix + "tls-ports"
	AnnotationPlaintextPorts = Prefix + "plaintext-ports"
	AnnotationVerifyClient   = Prefix + "verify-client"
	AnnotationEgress         = Prefix + "egress"
	AnnotationInject         = Prefix + "inject"
)

// Service annotations.
const (
	AnnotationHTTPPath = Prefix + "http-path"
	AnnotationDNS      = Prefix + "dns"
)

// Annotations decco writes.
const (
	// AnnotationInjected records, on a Pod, a hash of what was injected, so a
	// later run can tell an up-to-date injection from an outdated one.
	AnnotationInjected = Prefix + "injected"
	// AnnotationStatus is the reconciler's per-part summary on a space.
	AnnotationStatus = Prefix + "status"
	// AnnotationRewrittenPorts records, on a Service, which target ports the
	// injector's Service rewrite moved to their TLS listener, as
	// "port=originalTarget" pairs, so running the rewrite again changes
	// nothing (see ParseRewrittenPorts).
	AnnotationRewrittenPorts = Prefix + "rewritten-ports"
	// AnnotationInterception records, on a Pod injected in cni mode, the
	// interception plan the node's decco-cni plugin installs in the pod's
	// network namespace (package intercept reads and writes the value).
	AnnotationInterception = Prefix + "interception"
)

// LabelInjected marks, on a Pod, that decco injected its TLS sidecar
// (value "true"). The listener NetworkPolicy opens only pods carrying it,
// so decco refuses it on pods it did not inject.
const LabelInjected = Prefix + "injected"

// LabelInterception marks, on a Pod injected in cni mode, the data plane
// it was injected for (value "cni"; pods injected in ports mode carry no
// such label). The same port number is TLS on a pod of one mode and the
// app's plaintext port on a pod of the other, so each mode's listener
// NetworkPolicy opens only pods of its own mode: a cluster that switches
// modes leaves the pods injected for the other one closed, not plaintext,
// until they are recreated. decco refuses it on pods it did not inject in
// cni mode. (The annotation of the same key holds the pod's plan.)
const LabelInterception = Prefix + "interception"

// LabelManagedBy marks every object the reconciler creates, so cleanup
// removes exactly those.
const LabelManagedBy = "app.kubernetes.io/managed-by"

// ManagedByValue is LabelManagedBy's value on decco's objects.
const ManagedByValue = "decco"

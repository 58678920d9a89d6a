package space

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultWorkloadCertSecret is the Secret holding the workload certificate
// the sidecar serves, unless the space brings its own (tcp-cert-secret).
const DefaultWorkloadCertSecret = "decco-workload-tls"

// CASecretName is the Secret holding the space's CA (see Space.CASecret).
const CASecretName = "decco-ca"

// Issuer kinds accepted in decco.io/issuer.
const (
	KindIssuer        = "Issuer"
	KindClusterIssuer = "ClusterIssuer"
)

// Host is where the space is reachable: <name>.<domain>.
func (s Space) Host() string { return s.Name + "." + s.Domain }

// ServiceHost is a TCP service's SNI name: <svc>.<name>.<domain>.
func (s Space) ServiceHost(svc string) string { return svc + "." + s.Host() }

// WorkloadCertSecret is the Secret mounted into sidecars: the space's own
// tcp-cert-secret when set, else DefaultWorkloadCertSecret.
func (s Space) WorkloadCertSecret() string {
	if s.TCPCertSecret != "" {
		return s.TCPCertSecret
	}
	return DefaultWorkloadCertSecret
}

// CASecret is the Secret holding the space's CA certificate and key: the
// platform's shared one (decco.io/ca-secret), else decco's own.
func (s Space) CASecret() string {
	if s.CASecretRef != "" {
		return s.CASecretRef
	}
	return CASecretName
}

// FromNamespace parses and validates a space Namespace. It returns
// ErrNotASpace when the namespace has no decco.io/space label. Every invalid
// key is reported (errors.Join of *FieldError), not just the first.
//
// A key that is present must be valid: an empty value is an error, not
// "unset", so a typo in a Helm value can't silently drop a setting.
func FromNamespace(obj metav1.Object) (Space, error) {
	label, ok := obj.GetLabels()[LabelSpace]
	if !ok {
		return Space{}, fmt.Errorf("namespace %q: %w", obj.GetName(), ErrNotASpace)
	}
	var errs fieldErrs
	if label != obj.GetName() {
		errs.add(LabelSpace, label,
			fmt.Sprintf("must equal the namespace's own name %q", obj.GetName()),
			fmt.Sprintf("set it to %q, or remove the label if this namespace is not a space", obj.GetName()))
	}
	sp := Space{Name: obj.GetName()}
	ann := obj.GetAnnotations()
	sp.Domain = parseDomain(&errs, sp.Name, ann)
	sp.Project = optional(&errs, ann, AnnotationProject, validation.IsDNS1123Label,
		"must be a DNS label (lowercase letters, digits and '-', at most 63 characters)",
		"name the project like a namespace, e.g. team-a, or remove the annotation")
	sp.Issuer = parseIssuer(&errs, ann)
	for _, k := range []string{AnnotationHTTPCertSecret, AnnotationTCPCertSecret} {
		v := optional(&errs, ann, k, validation.IsDNS1123Subdomain,
			"must be a Secret name (lowercase DNS subdomain)",
			"set it to the name of a kubernetes.io/tls Secret in this namespace, or remove the annotation")
		if k == AnnotationHTTPCertSecret {
			sp.HTTPCertSecret = v
		} else {
			sp.TCPCertSecret = v
		}
	}
	sp.EncryptHTTP = parseEncryptHTTP(&errs, ann)
	sp.RuntimeClass = optional(&errs, ann, AnnotationRuntimeClass, validation.IsDNS1123Subdomain,
		"must be a RuntimeClass name (lowercase DNS subdomain)",
		"set it to the name of an existing RuntimeClass such as kata or gvisor, or remove the annotation")
	sp.Limits = parseLimits(&errs, ann)
	sp.EgressDeclared = parseEgressPolicy(&errs, ann)
	sp.NestedIn = optional(&errs, ann, AnnotationNestedIn, validation.IsDNS1123Label,
		"must be the name of a space (a namespace name)",
		"set it to the space whose hostname this space's domain is, or remove the annotation")
	parseGlobal(&errs, &sp, ann)
	if err := errs.err(); err != nil {
		return Space{}, fmt.Errorf("space %q: %w", obj.GetName(), err)
	}
	return sp, nil
}

// parseEgressPolicy reads decco.io/egress-policy: "open" (the default)
// or "declared".
func parseEgressPolicy(errs *fieldErrs, ann map[string]string) bool {
	v, ok := ann[AnnotationEgressPolicy]
	switch {
	case !ok || v == EgressOpen:
		return false
	case v == EgressDeclared:
		return true
	}
	errs.add(AnnotationEgressPolicy, v, fmt.Sprintf("must be %q or %q", EgressOpen, EgressDeclared),
		fmt.Sprintf("write %q to let the space's pods reach only DNS, their own space and what their %s entries name, or remove the annotation to leave egress open", EgressDeclared, AnnotationEgress))
	return false
}

// parseEncryptHTTP reads decco.io/encrypt-http. The gateway-to-pod hop of
// HTTP services is always TLS: the pod's ports are all behind the sidecar
// and no policy opens a plaintext port to another pod (security invariant
// 1 in docs/design.md), so "false" could only produce a route that never works. It is
// refused with that explanation instead.
func parseEncryptHTTP(errs *fieldErrs, ann map[string]string) bool {
	v, ok := ann[AnnotationEncryptHTTP]
	switch {
	case !ok || v == "true":
		return true
	case v == "false":
		errs.add(AnnotationEncryptHTTP, v, "decco never opens a plaintext path into a pod, so the gateway always reaches HTTP services over TLS",
			"remove the annotation: TLS from the gateway to the pod is always on")
	default:
		errs.add(AnnotationEncryptHTTP, v, `must be "true"`, `remove the annotation, or write "true" (quoted in YAML); TLS from the gateway to the pod is always on`)
	}
	return true
}

// parseDomain checks decco.io/domain: required, a DNS name with a dot, and
// short enough that the wildcard certificate name *.<space>.<domain> is a
// valid DNS name too.
func parseDomain(errs *fieldErrs, name string, ann map[string]string) string {
	const fix = "set it to the domain the space's hostnames live under"
	d, ok := ann[AnnotationDomain]
	switch {
	case !ok || d == "":
		errs.add(AnnotationDomain, d, "is required", fix+", e.g. example.com")
		return ""
	case !IsDNSName(d) || !strings.Contains(d, "."):
		errs.add(AnnotationDomain, d, "must be a lowercase DNS name such as example.com", fix)
		return ""
	}
	wild := "*." + name + "." + d
	// IsDNSName checks the labels; the wildcard adds only length. (Not
	// validation.IsWildcardDNS1123Subdomain: it compiles a regexp per call,
	// and every reconcile and admission parses a space.)
	if len(wild) > validation.DNS1123SubdomainMaxLength || !IsDNSName(name+"."+d) {
		errs.add(AnnotationDomain, d,
			fmt.Sprintf("makes the certificate name %q longer than a DNS name may be (253 characters)", wild),
			"use a shorter domain or a shorter namespace name")
		return ""
	}
	return d
}

// parseIssuer accepts "name", "Issuer/name" or "ClusterIssuer/name". A bare
// name is a namespaced Issuer, cert-manager's own default kind.
func parseIssuer(errs *fieldErrs, ann map[string]string) IssuerRef {
	v, ok := ann[AnnotationIssuer]
	if !ok {
		return IssuerRef{}
	}
	const fix = "write name, Issuer/name or ClusterIssuer/name for a cert-manager issuer, or remove the annotation to use the default"
	kind, name, found := strings.Cut(v, "/")
	if !found {
		kind, name = KindIssuer, v
	}
	if kind != KindIssuer && kind != KindClusterIssuer {
		errs.add(AnnotationIssuer, v, fmt.Sprintf("kind %q is neither Issuer nor ClusterIssuer", kind), fix)
		return IssuerRef{}
	}
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		errs.add(AnnotationIssuer, v, "must name an issuer (lowercase DNS subdomain)", fix)
		return IssuerRef{}
	}
	return IssuerRef{Kind: kind, Name: name}
}

// optional validates an optional string annotation with a validation helper.
func optional(errs *fieldErrs, ann map[string]string, key string, check func(string) []string, problem, fix string) string {
	v, ok := ann[key]
	if !ok {
		return ""
	}
	if len(check(v)) > 0 {
		errs.add(key, v, problem, fix)
		return ""
	}
	return v
}

// parseBool accepts exactly "true" or "false"; def applies when absent.
func parseBool(errs *fieldErrs, ann map[string]string, key string, def bool) bool {
	v, ok := ann[key]
	if !ok {
		return def
	}
	switch v {
	case "true":
		return true
	case "false":
		return false
	}
	errs.add(key, v, `must be "true" or "false"`, fmt.Sprintf(`write "true" or "false" (quoted in YAML), or remove the annotation for the default (%t)`, def))
	return def
}

// IsDNSName: a DNS-1123 subdomain whose every label is a DNS-1123 label
// (the subdomain check alone does not bound label length).
func IsDNSName(s string) bool {
	if len(validation.IsDNS1123Subdomain(s)) > 0 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if len(validation.IsDNS1123Label(l)) > 0 {
			return false
		}
	}
	return true
}

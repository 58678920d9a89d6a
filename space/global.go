package space

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Namespace annotations for a space that is one region of a customer-wide
// service (see docs/design.md, "Several regions").
const (
	// AnnotationGlobalName is the customer-wide name this space is one
	// region of: each cluster's decco publishes its gateway's address
	// under it, beside the space's own hostname, while the space is
	// ready.
	AnnotationGlobalName = Prefix + "global-name"
	// AnnotationCASecret names a Secret in the space's namespace (type
	// kubernetes.io/tls, the CA's certificate and key) that the platform
	// distributes to every region of a customer: the space's certificates
	// are issued from it instead of from a CA of the space's own, so the
	// regions share one trust domain.
	AnnotationCASecret = Prefix + "ca-secret"
)

// parseGlobal reads decco.io/global-name and decco.io/ca-secret into sp,
// whose Name and Domain are already parsed. A global name needs a shared
// CA: clients of the name reach whichever region DNS gives them, with one
// client certificate, and a region's egress reaches another's services,
// which works only when every region trusts the same CA.
func parseGlobal(errs *fieldErrs, sp *Space, ann map[string]string) {
	sp.CASecretRef = optional(errs, ann, AnnotationCASecret, validation.IsDNS1123Subdomain,
		"must be a Secret name (lowercase DNS subdomain)",
		"set it to the name of the kubernetes.io/tls Secret holding the customer's CA in this namespace, or remove the annotation")
	if sp.CASecretRef != "" {
		for _, other := range []struct{ key, value string }{{AnnotationIssuer, ann[AnnotationIssuer]}, {AnnotationTCPCertSecret, ann[AnnotationTCPCertSecret]}} {
			if _, set := ann[other.key]; set {
				errs.add(AnnotationCASecret, sp.CASecretRef,
					fmt.Sprintf("and %s %q both say where the space's certificates come from", other.key, other.value),
					fmt.Sprintf("keep one: remove %s to issue from the shared CA, or %s to keep the space's own", other.key, AnnotationCASecret))
				sp.CASecretRef = ""
				break
			}
		}
	}
	v, ok := ann[AnnotationGlobalName]
	if !ok {
		return
	}
	const fix = "set it to the customer-wide name this space is one region of, e.g. foo.example.com beside foo-east.example.com, or remove the annotation"
	switch {
	case v == "" || !IsDNSName(v) || !strings.Contains(v, "."):
		errs.add(AnnotationGlobalName, v, "must be a lowercase DNS name with at least two labels", fix)
		return
	case len("*."+v) > validation.DNS1123SubdomainMaxLength:
		errs.add(AnnotationGlobalName, v, "makes the certificate name *."+v+" longer than a DNS name may be (253 characters)", "use a shorter name")
		return
	case sp.Domain != "" && (v == sp.Host() || strings.HasSuffix(v, "."+sp.Host())):
		errs.add(AnnotationGlobalName, v, fmt.Sprintf("is the space's own hostname %q or a name under it, which the space holds already", sp.Host()), fix)
		return
	}
	if sp.CASecretRef == "" {
		errs.add(AnnotationGlobalName, v,
			"needs the regions to share one CA: clients of the name use one client certificate in every region, and regions reach each other's services over mutual TLS",
			fmt.Sprintf("set %s to the CA Secret the platform distributes to every region's namespace (see docs/design.md, \"Several regions\")", AnnotationCASecret))
		return
	}
	sp.GlobalName = v
}

// Hosts are every hostname of the space that its certificates name and
// DNS publishes: its own, and its global name when it has one (the
// reconciler clears GlobalName first where another space of the cluster
// holds the name).
func (s Space) Hosts() []string {
	if s.GlobalName == "" {
		return []string{s.Host()}
	}
	return []string{s.Host(), s.GlobalName}
}

package space

// ParseIssuerRef parses an issuer reference written as decco.io/issuer is:
// "name" (an Issuer), "Issuer/name" or "ClusterIssuer/name". Tools that take
// an issuer on their command line (spacectl doctor --issuer) use it so the
// syntax can't drift from the annotation's. An error is a *FieldError
// keyed by AnnotationIssuer.
func ParseIssuerRef(v string) (IssuerRef, error) {
	var errs fieldErrs
	ref := parseIssuer(&errs, map[string]string{AnnotationIssuer: v})
	return ref, errs.err()
}

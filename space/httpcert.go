package space

// DefaultHTTPCertSecret is the Secret holding the certificate the gateway
// serves for <space>.<domain> (HTTPS listener or Ingress TLS), unless the
// space brings its own with decco.io/http-cert-secret.
const DefaultHTTPCertSecret = "decco-http-tls"

// HTTPTLSSecret is the Secret the gateway terminates HTTPS for the space
// with: the space's own http-cert-secret when set, else
// DefaultHTTPCertSecret. (The name differs from the HTTPCertSecret field,
// which holds only the user's choice.)
func (s Space) HTTPTLSSecret() string {
	if s.HTTPCertSecret != "" {
		return s.HTTPCertSecret
	}
	return DefaultHTTPCertSecret
}

package space

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"
)

// checkRefusal asserts what every parser refusal owes its user: each
// problem is a *FieldError naming a decco.io/ key, with a problem and a
// fix, rendered on one line with the value quoted (so a smuggled newline
// shows as \n instead of starting a line of its own).
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrNotASpace) {
		return
	}
	fes := FieldErrors(err)
	if len(fes) == 0 {
		t.Fatalf("refusal without a FieldError: %v", err)
	}
	for _, fe := range fes {
		msg := fe.Error()
		if !strings.HasPrefix(fe.Key, Prefix) || fe.Problem == "" || fe.Fix == "" {
			t.Fatalf("incomplete FieldError %+v", fe)
		}
		if !strings.HasPrefix(msg, fe.Key+" ") || strings.ContainsAny(msg, "\n\r") {
			t.Fatalf("message %q does not start with the key on one line", msg)
		}
		if !strings.Contains(err.Error(), msg) {
			t.Fatalf("the error %q lost the problem %q", err, msg)
		}
	}
}

// plainASCII reports whether s could go into a config file or a DNS name
// as is: printable ASCII, no whitespace.
func plainASCII(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return r > unicode.MaxASCII || unicode.IsSpace(r) || unicode.IsControl(r)
	}) < 0
}

// FuzzFromNamespace feeds arbitrary label and annotation values to the
// namespace parser: every refusal is a set of complete FieldErrors, and
// every accepted space yields hostnames, a wildcard certificate name and
// object names the apiserver and a DNS server accept.
func FuzzFromNamespace(f *testing.F) {
	f.Add("shop", "shop", "example.com", "retail", "ClusterIssuer/acme", "web-tls", "", "true", "kata")
	f.Add("shop", "other", "Example.COM", "Retail", "Bogus/x", "a b", "-", "false", "")
	f.Add("shop", "shop", "example.com\n[evil]", "a\nb", "x/y/z", "", "", "yes", "kata\n")
	f.Add("s", "s", strings.Repeat("d", 63)+"."+strings.Repeat("e", 63)+"."+strings.Repeat("f", 63)+".com", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, name, label, domain, project, issuer, httpSecret, tcpSecret, encrypt, runtimeClass string) {
		ann := map[string]string{}
		for k, v := range map[string]string{AnnotationDomain: domain, AnnotationProject: project, AnnotationIssuer: issuer,
			AnnotationHTTPCertSecret: httpSecret, AnnotationTCPCertSecret: tcpSecret, AnnotationEncryptHTTP: encrypt,
			AnnotationRuntimeClass: runtimeClass} {
			if v != "" {
				ann[k] = v
			}
		}
		sp, err := FromNamespace(ns(name, map[string]string{LabelSpace: label}, ann))
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if sp.Name != name || label != name {
			t.Fatalf("accepted label %q on namespace %q as space %q", label, name, sp.Name)
		}
		if errs := validation.IsDNS1123Subdomain(sp.Host()); len(errs) > 0 || !plainASCII(sp.Host()) {
			t.Fatalf("accepted space gives hostname %q: %v", sp.Host(), errs)
		}
		if errs := validation.IsWildcardDNS1123Subdomain("*." + sp.Host()); len(errs) > 0 {
			t.Fatalf("accepted space gives certificate name %q: %v", "*."+sp.Host(), errs)
		}
		for _, v := range []string{sp.Project, sp.HTTPCertSecret, sp.TCPCertSecret, sp.RuntimeClass, sp.Issuer.Name} {
			if v != "" && len(validation.IsDNS1123Subdomain(v)) > 0 {
				t.Fatalf("accepted object name %q", v)
			}
		}
	})
}

// FuzzExposureFromService does the same for a Service's annotations: an
// accepted HTTP path is an absolute, printable prefix a Gateway route can
// carry, and accepted plaintext ports are names or numbers only.
func FuzzExposureFromService(f *testing.F) {
	f.Add("shop", "/store", "true", "metrics, 9090")
	f.Add("shop", "store", "yes", "a b")
	f.Add("shop", "/x\n[evil]", "", "9090\n")
	f.Add("", "/", "false", "0")
	f.Fuzz(func(t *testing.T, label, path, dns, plain string) {
		ann := map[string]string{}
		for k, v := range map[string]string{AnnotationHTTPPath: path, AnnotationDNS: dns, AnnotationPlaintextPorts: plain} {
			if v != "" {
				ann[k] = v
			}
		}
		svc := pod(ann)
		svc.Labels[LabelSpace] = label
		e, err := ExposureFromService(svc)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if e.HTTPPath != "" && (!strings.HasPrefix(e.HTTPPath, "/") || !plainASCII(e.HTTPPath) || len(e.HTTPPath) > maxHTTPPath) {
			t.Fatalf("accepted HTTP path %q", e.HTTPPath)
		}
		for _, p := range e.PlaintextPorts {
			if s := p.String(); !plainASCII(s) || strings.ContainsAny(s, ",;[]=") || (p.Name == "") == (p.Number == 0) {
				t.Fatalf("accepted port ref %+v", p)
			}
		}
	})
}

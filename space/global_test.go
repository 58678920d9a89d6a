package space

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestGlobalName(t *testing.T) {
	label := map[string]string{LabelSpace: "foo-east"}
	base := map[string]string{AnnotationDomain: "platform9.net"}
	tests := []struct {
		name     string
		ann      map[string]string
		global   string
		caSecret string
		errs     []string // substrings, one per expected FieldError, in order
	}{
		{name: "none", ann: base},
		{name: "global name with a shared CA", ann: with(base, AnnotationGlobalName, "foo.platform9.net", AnnotationCASecret, "foo-ca"),
			global: "foo.platform9.net", caSecret: "foo-ca"},
		{name: "global name in another domain", ann: with(base, AnnotationGlobalName, "foo.example.com", AnnotationCASecret, "foo-ca"),
			global: "foo.example.com", caSecret: "foo-ca"},
		{name: "shared CA alone", ann: with(base, AnnotationCASecret, "foo-ca"), caSecret: "foo-ca"},
		{name: "global name without a shared CA", ann: with(base, AnnotationGlobalName, "foo.platform9.net"),
			errs: []string{`decco.io/global-name "foo.platform9.net": needs the regions to share one CA`}},
		{name: "not a DNS name", ann: with(base, AnnotationGlobalName, "Foo_bar", AnnotationCASecret, "foo-ca"), caSecret: "foo-ca",
			errs: []string{`decco.io/global-name "Foo_bar": must be a lowercase DNS name`}},
		{name: "one label", ann: with(base, AnnotationGlobalName, "foo", AnnotationCASecret, "foo-ca"), caSecret: "foo-ca",
			errs: []string{"with at least two labels"}},
		{name: "empty", ann: with(base, AnnotationGlobalName, "", AnnotationCASecret, "foo-ca"), caSecret: "foo-ca",
			errs: []string{`decco.io/global-name ""`}},
		{name: "the space's own hostname", ann: with(base, AnnotationGlobalName, "foo-east.platform9.net", AnnotationCASecret, "foo-ca"), caSecret: "foo-ca",
			errs: []string{`is the space's own hostname "foo-east.platform9.net"`}},
		{name: "under the space's own hostname", ann: with(base, AnnotationGlobalName, "x.foo-east.platform9.net", AnnotationCASecret, "foo-ca"), caSecret: "foo-ca",
			errs: []string{"or a name under it"}},
		{name: "too long for a wildcard", ann: with(base, AnnotationGlobalName, strings.Repeat(strings.Repeat("a", 62)+".", 3)+strings.Repeat("b", 59)+".net", AnnotationCASecret, "foo-ca"), caSecret: "foo-ca",
			errs: []string{"longer than a DNS name may be"}},
		{name: "CA Secret not a name", ann: with(base, AnnotationCASecret, "Foo CA"),
			errs: []string{`decco.io/ca-secret "Foo CA": must be a Secret name`}},
		{name: "shared CA and an issuer", ann: with(base, AnnotationCASecret, "foo-ca", AnnotationIssuer, "ClusterIssuer/root"),
			errs: []string{`decco.io/ca-secret "foo-ca": and decco.io/issuer "ClusterIssuer/root" both say where`}},
		{name: "shared CA and a workload Secret", ann: with(base, AnnotationCASecret, "foo-ca", AnnotationTCPCertSecret, "tls"),
			errs: []string{`and decco.io/tcp-cert-secret "tls" both say where`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp, err := FromNamespace(ns("foo-east", label, tt.ann))
			if len(tt.errs) == 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.global, sp.GlobalName)
				assert.Equal(t, tt.caSecret, sp.CASecretRef)
				return
			}
			fes := FieldErrors(err)
			require.Len(t, fes, len(tt.errs), "%v", err)
			for i, want := range tt.errs {
				assert.Contains(t, fes[i].Error(), want)
				assert.NotEmpty(t, fes[i].Fix)
			}
		})
	}
}

func TestHostsAndCASecret(t *testing.T) {
	sp := Space{Name: "foo-east", Domain: "platform9.net"}
	assert.Equal(t, []string{"foo-east.platform9.net"}, sp.Hosts())
	assert.Equal(t, CASecretName, sp.CASecret())
	sp.GlobalName, sp.CASecretRef = "foo.platform9.net", "foo-ca"
	assert.Equal(t, []string{"foo-east.platform9.net", "foo.platform9.net"}, sp.Hosts())
	assert.Equal(t, "foo-ca", sp.CASecret())
}

// FuzzGlobalName: every refusal of the region keys is a set of complete
// FieldErrors; an accepted global name and its wildcard are DNS names a
// certificate and a DNS server accept, never the space's own hostname,
// and always come with a CA Secret name.
func FuzzGlobalName(f *testing.F) {
	f.Add("foo-east", "platform9.net", "foo.platform9.net", "foo-ca", "")
	f.Add("foo-east", "platform9.net", "foo-east.platform9.net", "foo-ca", "ClusterIssuer/x")
	f.Add("foo-east", "platform9.net", "Foo\n.net", "a b", "")
	f.Fuzz(func(t *testing.T, name, domain, global, caSecret, issuer string) {
		ann := map[string]string{AnnotationDomain: domain, AnnotationGlobalName: global}
		for k, v := range map[string]string{AnnotationCASecret: caSecret, AnnotationIssuer: issuer} {
			if v != "" {
				ann[k] = v
			}
		}
		sp, err := FromNamespace(ns(name, map[string]string{LabelSpace: name}, ann))
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if sp.GlobalName != global || sp.CASecretRef == "" || sp.Issuer != (IssuerRef{}) {
			t.Fatalf("accepted global name %q with CA Secret %q and issuer %+v", sp.GlobalName, sp.CASecretRef, sp.Issuer)
		}
		if sp.GlobalName == sp.Host() || len(validation.IsWildcardDNS1123Subdomain("*."+sp.GlobalName)) > 0 || !plainASCII(sp.GlobalName) {
			t.Fatalf("accepted global name %q for host %q", sp.GlobalName, sp.Host())
		}
		if len(validation.IsDNS1123Subdomain(sp.CASecretRef)) > 0 {
			t.Fatalf("accepted CA Secret name %q", sp.CASecretRef)
		}
	})
}

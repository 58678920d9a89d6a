package space

import (
	"strings"
	"testing"
)

func TestParseIssuerRef(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want IssuerRef
		err  string
	}{
		{"my-ca", IssuerRef{KindIssuer, "my-ca"}, ""},
		{"Issuer/my-ca", IssuerRef{KindIssuer, "my-ca"}, ""},
		{"ClusterIssuer/corp.ca", IssuerRef{KindClusterIssuer, "corp.ca"}, ""},
		{"Vault/x", IssuerRef{}, `kind "Vault" is neither Issuer nor ClusterIssuer`},
		{"ClusterIssuer/Bad_Name", IssuerRef{}, "must name an issuer"},
		{"", IssuerRef{}, "must name an issuer"},
	} {
		got, err := ParseIssuerRef(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("ParseIssuerRef(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), AnnotationIssuer)) {
			t.Errorf("ParseIssuerRef(%q) error = %v; want one about %s containing %q", tc.in, err, AnnotationIssuer, tc.err)
		}
	}
}

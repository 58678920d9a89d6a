package space

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseLimits(t *testing.T) {
	ns := func(v string) *metav1.ObjectMeta {
		return &metav1.ObjectMeta{Name: "shop", Labels: map[string]string{LabelSpace: "shop"},
			Annotations: map[string]string{AnnotationDomain: "example.com", AnnotationLimits: v}}
	}
	for _, tt := range []struct {
		value string
		want  Limits
		err   string
	}{
		{"services=10", Limits{Services: 10}, ""},
		{"services=10,hostnames=20,dns-records=40", Limits{Services: 10, Hostnames: 20, DNSRecords: 40}, ""},
		{"services=0", Limits{}, `entry "services=0" is not name=number with a number of 1 or more`},
		{"services=+5", Limits{}, "is not name=number"},
		{"services", Limits{}, "is not name=number"},
		{"pods=5", Limits{}, `"pods" is not a limit decco knows`},
		{"", Limits{}, "is not name=number"},
	} {
		t.Run(tt.value, func(t *testing.T) {
			sp, err := FromNamespace(ns(tt.value))
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.Contains(t, err.Error(), AnnotationLimits)
				assert.Contains(t, err.Error(), "e.g. services=200")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, sp.Limits)
		})
	}
}

func TestLimitsOverAndOr(t *testing.T) {
	def := Limits{Services: 100, Hostnames: 100, DNSRecords: 200}
	l := Limits{Services: 5}.Or(def)
	assert.Equal(t, Limits{Services: 5, Hostnames: 100, DNSRecords: 200}, l)
	assert.Equal(t, "", l.Over(5, 100, 200), "at the limit is allowed")
	assert.Equal(t, "the space has 6 Services labeled decco.io/space, over its limit of 5", l.Over(6, 7, 8))
	assert.Equal(t, "the space has 201 DNS records, over its limit of 200", l.Over(1, 2, 201))
	assert.Equal(t, "", Limits{}.Over(1e6, 1e6, 1e6), "zero: no limit")
}

func TestParseEgressPolicy(t *testing.T) {
	ns := func(ann map[string]string) *metav1.ObjectMeta {
		ann[AnnotationDomain] = "example.com"
		return &metav1.ObjectMeta{Name: "shop", Labels: map[string]string{LabelSpace: "shop"}, Annotations: ann}
	}
	for _, tt := range []struct {
		ann  map[string]string
		want bool
		err  string
	}{
		{map[string]string{}, false, ""},
		{map[string]string{AnnotationEgressPolicy: "open"}, false, ""},
		{map[string]string{AnnotationEgressPolicy: "declared"}, true, ""},
		{map[string]string{AnnotationEgressPolicy: "Declared"}, false, `must be "open" or "declared"`},
		{map[string]string{AnnotationEgressPolicy: ""}, false, `must be "open" or "declared"`},
	} {
		sp, err := FromNamespace(ns(tt.ann))
		if tt.err != "" {
			require.Error(t, err)
			assert.Contains(t, err.Error(), AnnotationEgressPolicy)
			assert.Contains(t, err.Error(), tt.err)
			assert.Contains(t, err.Error(), "or remove the annotation to leave egress open")
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.want, sp.EgressDeclared)
	}
}

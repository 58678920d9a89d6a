package webhook

import (
	"slices"
	"testing"

	gojson "github.com/goccy/go-json"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Every kind in Workloads has its template where the validator decodes it
// from, and the validating configuration matches it.
func TestWorkloadsTable(t *testing.T) {
	cfg := ValidatingConfiguration(URLClientConfig("https://127.0.0.1", nil), "decco-system")
	for _, w := range Workloads {
		t.Run(w.Kind, func(t *testing.T) {
			obj := map[string]any{}
			labels := map[string]any{"decco.io/space": "acme"}
			require.NoError(t, unstructured.SetNestedField(obj, map[string]any{"metadata": map[string]any{"labels": labels}}, w.Template...))
			raw, err := gojson.Marshal(obj)
			require.NoError(t, err)
			var got templated
			require.NoError(t, gojson.Unmarshal(raw, &got))
			require.NotNil(t, got.podTemplate(), "the validator finds no template at %v", w.Template)
			assert.Equal(t, "acme", got.podTemplate().Labels["decco.io/space"])

			found, ok := WorkloadOf(w.Group, w.Kind)
			assert.True(t, ok)
			assert.Equal(t, w, found)
			assert.True(t, matchedBy(cfg.Webhooks[0].Rules, w) || matchedBy(cfg.Webhooks[1].Rules, w), "no workload rule matches %s", w.Resource)
		})
	}
}

func TestWorkloadOfUnknown(t *testing.T) {
	_, ok := WorkloadOf("", "Pod")
	assert.False(t, ok)
	_, ok = WorkloadOf("extensions", "Deployment")
	assert.False(t, ok, "the group counts")
}

func matchedBy(rules []admissionregistrationv1.RuleWithOperations, w Workload) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, w.Group) && slices.Contains(r.Resources, w.Resource) {
			return true
		}
	}
	return false
}

package webhook

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/decco-dev/decco/space"
)

// A pod or Service labeled with a space is sent to decco by exactly one
// hook, whether or not the apiserver's cached namespace shows the space
// label yet, and by none in the namespaces decco leaves alone; an
// unlabeled pod only from a space.
func TestEveryLabeledObjectReachesDeccoOnce(t *testing.T) {
	cfg := MutatingConfiguration(URLClientConfig("https://decco", nil), "decco-system")
	namespaces := map[string]labels.Set{
		"space, as cached":       {space.LabelSpace: "shop", "kubernetes.io/metadata.name": "shop"},
		"space, cache lagging":   {"kubernetes.io/metadata.name": "shop"},
		"plain namespace":        {"kubernetes.io/metadata.name": "plain"},
		"kube-system, labeled":   {space.LabelSpace: "kube-system", "kubernetes.io/metadata.name": "kube-system"},
		"decco's own, unlabeled": {"kubernetes.io/metadata.name": "decco-system"},
	}
	objects := map[string]labels.Set{
		"labeled":   {space.LabelSpace: "shop", "app": "web"},
		"unlabeled": {"app": "web"},
	}
	for _, resource := range []string{"pods", "services"} {
		for nsCase, nsLabels := range namespaces {
			for objCase, objLabels := range objects {
				var hooks []string
				for _, h := range cfg.Webhooks {
					if handles(t, h, resource, nsLabels, objLabels) {
						hooks = append(hooks, h.Name)
					}
				}
				system := nsCase == "kube-system, labeled" || nsCase == "decco's own, unlabeled"
				want := 1
				switch {
				case system:
					want = 0
				case objCase == "unlabeled":
					want = 0
					if resource == "pods" && nsCase == "space, as cached" {
						want = 1 // the space's RuntimeClass binds it
					}
				}
				assert.Len(t, hooks, want, "%s %s in a %s: sent to %v", objCase, resource, nsCase, hooks)
			}
		}
	}
}

// handles says whether the apiserver would send a CREATE of resource with
// objLabels, in a namespace with nsLabels, to hook h.
func handles(t *testing.T, h admissionregistrationv1.MutatingWebhook, resource string, nsLabels, objLabels labels.Set) bool {
	t.Helper()
	ruled := false
	for _, r := range h.Rules {
		for _, res := range r.Resources {
			ruled = ruled || res == resource
		}
	}
	return ruled && selects(t, h.NamespaceSelector, nsLabels) && selects(t, h.ObjectSelector, objLabels)
}

// selects is a webhook selector's verdict: nil selects everything.
func selects(t *testing.T, sel *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	if sel == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	require.NoError(t, err)
	return s.Matches(set)
}

package spacectl

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The namespace guard's refusal, as the apiserver returns it, becomes one
// line per refused setting and says how settings are granted; other
// errors pass unchanged. test/spacectl runs it against the real guard.
func TestExplainRefusal(t *testing.T) {
	guard := &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Message: `admission webhook "namespaces.decco.io" denied the request: namespace shop: user "alice" may not set label decco.io/space to "shop": ` +
			`space settings are the platform's, and this needs verb update on spaces.decco.io "shop"; and user "alice" may not set annotation decco.io/project to "bank": ` +
			`space settings are the platform's, and this needs verb join on projects.decco.io "bank"`}}
	got := explainRefusal("shop", guard).Error()
	assert.Equal(t, `space "shop": decco refused a change to its settings, which are the platform's:
  user "alice" may not set label decco.io/space to "shop": space settings are the platform's, and this needs verb update on spaces.decco.io "shop"
  user "alice" may not set annotation decco.io/project to "bank": space settings are the platform's, and this needs verb join on projects.decco.io "bank"
Space settings are granted with RBAC on decco's virtual resources: verb update on spaces.decco.io (ClusterRole decco-space-admin) and verb join on projects.decco.io (ClusterRole decco-join-project-<project>); see docs/security.md.`, got)

	rbac := apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "shop", errors.New(`User "alice" cannot create resource "namespaces"`))
	assert.Equal(t, rbac, explainRefusal("shop", rbac), "an RBAC refusal is shown as the apiserver wrote it")
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "namespaces"}, "shop", errors.New("modified"))
	assert.Equal(t, conflict, explainRefusal("shop", conflict))
}

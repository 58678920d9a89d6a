package webhook

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/decco-dev/decco/space"
)

// reviewer is a unit-test seam standing in for SubjectAccessReviews: it
// allows exactly the permissions it lists. test/e2e/tenant_test.go runs
// the guard against the real apiserver's RBAC.
type reviewer map[space.Permission]bool

func (r reviewer) Allowed(_ context.Context, _ authenticationv1.UserInfo, _ string, p space.Permission) (bool, error) {
	return r[p], nil
}

func namespaceReview(t *testing.T, user authenticationv1.UserInfo, old, new *corev1.Namespace) []byte {
	t.Helper()
	raw := func(ns *corev1.Namespace) runtime.RawExtension {
		if ns == nil {
			return runtime.RawExtension{}
		}
		b, err := json.Marshal(ns)
		require.NoError(t, err)
		return runtime.RawExtension{Raw: b}
	}
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "1", Name: new.Name, UserInfo: user,
			Kind:   metav1.GroupVersionKind{Version: "v1", Kind: "Namespace"},
			Object: raw(new), OldObject: raw(old)},
	})
	require.NoError(t, err)
	return body
}

func TestNamespaceGuard(t *testing.T) {
	space0 := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop",
		Labels:      map[string]string{space.LabelSpace: "shop"},
		Annotations: map[string]string{space.AnnotationDomain: "example.com"}}}
	joined := space0.DeepCopy()
	joined.Annotations[space.AnnotationProject] = "bank"
	relabeled := space0.DeepCopy()
	relabeled.Labels["team"] = "a"
	alice := authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}}
	join := space.Permission{Verb: space.VerbJoin, Resource: space.ResourceProjects, Name: "bank"}
	tests := []struct {
		name     string
		user     authenticationv1.UserInfo
		allowed  reviewer
		old, new *corev1.Namespace
		want     []string // empty: allowed
	}{
		{"other labels need nothing", alice, nil, space0, relabeled, nil},
		{"joining without the role", alice, nil, space0, joined, []string{
			`namespace shop: user "alice" may not set annotation decco.io/project to "bank"`,
			`verb join on projects.decco.io "bank"`, "ClusterRole decco-join-project-bank", "RoleBinding in namespace shop"}},
		{"joining with the role", alice, reviewer{join: true}, space0, joined, nil},
		{"creating a space needs update on it", alice, reviewer{join: true}, nil, space0, []string{
			`set label decco.io/space to "shop"`, `verb update on spaces.decco.io "shop"`, "ClusterRole decco-space-admin"}},
		{"status is decco's", alice, reviewer{}, space0, func() *corev1.Namespace {
			n := space0.DeepCopy()
			n.Annotations[space.AnnotationStatus] = "{}"
			return n
		}(), []string{"annotation decco.io/status is written by decco alone"}},
		{"cluster administrators", authenticationv1.UserInfo{Username: "root", Groups: []string{"system:masters"}}, nil, space0, joined, nil},
		{"decco itself", authenticationv1.UserInfo{Username: "system:serviceaccount:decco-system:decco"}, nil, space0, joined, nil},
		{"another namespace's service account", authenticationv1.UserInfo{Username: "system:serviceaccount:decco-systemx:decco"}, nil, space0, joined,
			[]string{"may not set annotation decco.io/project"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Handlers(namespaces{}, Options{SystemNamespace: "decco-system", MaxRequestBytes: 1 << 20, Reviewer: tt.allowed})[NamespacePath]
			resp := serve(t, h, namespaceReview(t, tt.user, tt.old, tt.new))
			if len(tt.want) == 0 {
				assert.True(t, resp.Allowed, "%v", resp.Result)
				return
			}
			require.False(t, resp.Allowed)
			assert.Equal(t, int32(403), resp.Result.Code)
			for _, w := range tt.want {
				assert.Contains(t, resp.Result.Message, w)
			}
		})
	}
}

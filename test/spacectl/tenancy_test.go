package spacectl_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/spacectl"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/webhook"
)

// An onboarder who may create namespaces and holds the chart's space
// administrator role creates spaces with spacectl (as --as, through the
// real apiserver and decco's namespace guard); joining a project needs
// that project's join role, and spacectl explains the refusal.
func TestCreateSpaceWithTheChartRoles(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	const user = "onboarder"
	mk := func(obj client.Object) {
		err := k8s.Create(ctx, obj)
		if !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err)
			t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
		}
	}
	bind := func(role string) {
		mk(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user + "-" + role},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}})
	}
	for _, r := range deccotest.TenancyRoles("bank") {
		mk(r)
	}
	mk(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "namespace-creator"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch"},
	}}})
	bind("namespace-creator")
	bind(webhook.SpaceAdminRole)

	deleteAfter(t, "onboarded")
	eventually(t, 10*time.Second, "spacectl create space as the onboarder", func() error {
		if r := cli(t, "", "--as", user, "create", "space", "onboarded", "--domain", "example.com"); r.code != spacectl.ExitOK {
			return assert.AnError
		}
		return nil
	})

	deleteAfter(t, "banker")
	r := cli(t, "", "--as", user, "create", "space", "banker", "--domain", "example.com", "--project", "bank")
	require.Equal(t, spacectl.ExitError, r.code, "%s", r)
	assert.Contains(t, r.errOut, `space "banker": decco refused a change to its settings, which are the platform's:`)
	assert.Contains(t, r.errOut, `  user "onboarder" may not set annotation decco.io/project to "bank": space settings are the platform's, and this needs verb join on projects.decco.io "bank"`)
	assert.Contains(t, r.errOut, "ClusterRole decco-join-project-<project>")

	bind(webhook.ProjectRolePrefix + "bank")
	eventually(t, 10*time.Second, "joining bank with its join role", func() error {
		if r := cli(t, "", "--as", user, "create", "space", "banker", "--domain", "example.com", "--project", "bank"); r.code != spacectl.ExitOK {
			return assert.AnError
		}
		return nil
	})
}

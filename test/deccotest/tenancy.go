package deccotest

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/webhook"
)

// TenancyRoles are the ClusterRoles the chart ships for space settings
// (charts/decco/templates/tenancy.yaml; test/chart checks their names):
// the space administrator, and the join role of each project given.
func TenancyRoles(projects ...string) []*rbacv1.ClusterRole {
	roles := []*rbacv1.ClusterRole{{ObjectMeta: metav1.ObjectMeta{Name: webhook.SpaceAdminRole}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{space.PermissionGroup}, Resources: []string{space.ResourceSpaces}, Verbs: []string{space.VerbUpdate},
	}}}}
	for _, p := range projects {
		roles = append(roles, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: webhook.ProjectRolePrefix + p}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{space.PermissionGroup}, Resources: []string{space.ResourceProjects}, ResourceNames: []string{p}, Verbs: []string{space.VerbJoin},
		}}})
	}
	return roles
}

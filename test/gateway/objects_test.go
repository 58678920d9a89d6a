package gateway

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// Traefik calls home by default (version check, anonymous usage); the
// gateway must never send traffic off the machine.
func TestArgsNeverCallHome(t *testing.T) {
	for _, i := range []Instance{GatewayAPI, Ingress} {
		args := Args(i)
		assert.Contains(t, args, "--global.checknewversion=false", i)
		assert.Contains(t, args, "--global.sendanonymoususage=false", i)
		for _, a := range args {
			assert.False(t, strings.HasPrefix(a, "--api"), "%s: no dashboard or API: %s", i, a)
		}
	}
}

// Each instance runs its own provider only, so a space's Gateway routes
// and its Ingresses are served by different Services and a test of one
// can't pass through the other.
func TestInstancesRunOneProviderEach(t *testing.T) {
	for _, tc := range []struct {
		instance  Instance
		has, lack string
	}{
		{GatewayAPI, "--providers.kubernetesgateway=true", "--providers.kubernetesingressnginx"},
		{Ingress, "--providers.kubernetesingressnginx=true", "--providers.kubernetesgateway"},
	} {
		args := Args(tc.instance)
		assert.Contains(t, args, tc.has)
		assert.False(t, slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, tc.lack) }), "%s runs %s", tc.instance, tc.lack)
	}
}

// A Gateway listener's port must equal an entry point's: the spaces'
// listeners are on Port, so Traefik's websecure entry point is too, and
// the pod runs unprivileged.
func TestDeploymentsListenOnPortUnprivileged(t *testing.T) {
	var deployments []*appsv1.Deployment
	for _, obj := range Objects("gw") {
		if d, ok := obj.(*appsv1.Deployment); ok {
			deployments = append(deployments, d)
		}
	}
	require.Len(t, deployments, 2)
	for _, d := range deployments {
		c := d.Spec.Template.Spec.Containers[0]
		assert.Contains(t, c.Args, "--entrypoints.websecure.address=:8443", d.Name)
		assert.Equal(t, int32(Port), c.Ports[0].ContainerPort, d.Name)
		assert.True(t, *d.Spec.Template.Spec.SecurityContext.RunAsNonRoot, d.Name)
		assert.Equal(t, "traefik", d.Spec.Template.Spec.ServiceAccountName, d.Name)
	}
}

// The gateway reads and writes statuses; it creates, changes and deletes
// nothing else.
func TestClusterRoleWritesOnlyStatus(t *testing.T) {
	for _, r := range clusterRole().Rules {
		writes := slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" })
		if !writes {
			continue
		}
		for _, res := range r.Resources {
			assert.True(t, strings.HasSuffix(res, "/status"), "writes %s", res)
		}
		assert.NotContains(t, r.Verbs, rbacv1.VerbAll)
	}
}

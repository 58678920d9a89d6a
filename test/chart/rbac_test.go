package chart

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/decco-dev/decco/reconciler"
)

// grant is one rendered RBAC rule and the Role or ClusterRole holding it.
type grant struct {
	role string // Kind/name
	rule rbacv1.PolicyRule
}

// grants are the rules of every rendered Role and ClusterRole.
func (r rendered) grants(t *testing.T) []grant {
	t.Helper()
	var out []grant
	for _, kind := range []string{"ClusterRole", "Role"} {
		for _, o := range r.ofKind(kind) {
			var role rbacv1.ClusterRole // a Role's rules have the same shape
			require.NoError(t, strictConvert(o, &role), "%s %s", kind, o.GetName())
			for _, rule := range role.Rules {
				out = append(out, grant{role: kind + "/" + o.GetName(), rule: rule})
			}
		}
	}
	return out
}

// on returns the grants on resource of apiGroup.
func on(gs []grant, apiGroup, resource string) []grant {
	var out []grant
	for _, g := range gs {
		if slices.Contains(g.rule.APIGroups, apiGroup) && slices.Contains(g.rule.Resources, resource) {
			out = append(out, g)
		}
	}
	return out
}

// The reconciler gets Secrets by name only: get and delete on the three
// decco's Certificates write (the names the reconciler uses, from Go),
// get on every Secret only with reconciler.verifyBYOSecrets, the TSIG key
// in the release namespace, and never list or watch, which would expose
// every tenant's Secrets. No rule anywhere uses a wildcard.
func TestRBACGrantsSecretsByName(t *testing.T) {
	for _, set := range valueSets {
		t.Run(set.name, func(t *testing.T) {
			r := mustRender(t, set)
			gs := r.grants(t)
			for _, g := range gs {
				for _, field := range [][]string{g.rule.Verbs, g.rule.Resources, g.rule.APIGroups} {
					assert.NotContains(t, field, "*", "%s grants a wildcard: %+v", g.role, g.rule)
				}
			}
			flags, _ := parseArgs(t, r.managerArgs(t))
			reconcilerOn := flags.Lookup("enable-reconciler").Value.String() == "true"
			verifyBYO := flags.Lookup("verify-byo-secrets").Value.String() == "true"
			var byName, byo int
			for _, g := range on(gs, "", "secrets") {
				assert.NotContains(t, g.rule.Verbs, "list", "%s lists Secrets", g.role)
				assert.NotContains(t, g.rule.Verbs, "watch", "%s watches Secrets", g.role)
				switch {
				case g.role == "ClusterRole/decco-reconciler" && len(g.rule.ResourceNames) > 0:
					byName++
					assert.ElementsMatch(t, reconciler.OwnSecretNames(), g.rule.ResourceNames, "decco's own Secrets")
					assert.ElementsMatch(t, []string{"get", "delete"}, g.rule.Verbs)
				case g.role == "ClusterRole/decco-reconciler":
					byo++
					assert.Equal(t, []string{"get"}, g.rule.Verbs, "bring-your-own Secrets are only read")
				default:
					assert.Equal(t, "Role/decco-dns-tsig", g.role, "an unexpected grant on Secrets: %+v", g.rule)
					_, tsig, _ := strings.Cut(flags.Lookup("dns-rfc2136-tsig-secret").Value.String(), "/")
					assert.Equal(t, []string{tsig}, g.rule.ResourceNames)
					assert.Equal(t, []string{"get"}, g.rule.Verbs)
				}
			}
			assert.Equal(t, reconcilerOn, byName == 1, "rules granting decco's own Secrets by name")
			assert.Equal(t, reconcilerOn && verifyBYO, byo == 1, "the bring-your-own rule follows reconciler.verifyBYOSecrets")
		})
	}
}

// The reconciler may write the route kinds of its mode only: Ingresses
// in ingress mode, Gateway API routes in gateway mode.
func TestRBACGrantsTheRouteKindsOfItsModeOnly(t *testing.T) {
	for _, set := range valueSets {
		t.Run(set.name, func(t *testing.T) {
			r := mustRender(t, set)
			flags, _ := parseArgs(t, r.managerArgs(t))
			if flags.Lookup("enable-reconciler").Value.String() != "true" {
				assert.Empty(t, on(r.grants(t), "networking.k8s.io", "ingresses"))
				return
			}
			ingress := flags.Lookup("route-mode").Value.String() == "ingress"
			gs := r.grants(t)
			assert.Equal(t, ingress, len(on(gs, "networking.k8s.io", "ingresses")) == 1, "Ingress rights")
			assert.Equal(t, !ingress, len(on(gs, "gateway.networking.k8s.io", "httproutes")) == 1, "HTTPRoute rights")
			assert.Equal(t, !ingress, len(on(gs, "gateway.networking.k8s.io", "tlsroutes")) == 1, "TLSRoute rights")
			perSpace := flags.Lookup("route-mode").Value.String() == "gateway-per-space"
			assert.Equal(t, !ingress && !perSpace, len(on(gs, "gateway.networking.k8s.io", "listenersets")) == 1, "ListenerSet rights")
			if perSpace {
				gws := on(gs, "gateway.networking.k8s.io", "gateways")
				require.Len(t, gws, 1)
				assert.Subset(t, gws[0].rule.Verbs, []string{"create", "patch", "delete"}, "each space's Gateway is decco's")
			}
		})
	}
}

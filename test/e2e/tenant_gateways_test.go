package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/webhook"
)

// grantGateways gives user every verb on Gateways, ListenerSets and
// routes in namespace ns, as a platform might beyond the built-in admin
// role.
func grantGateways(t *testing.T, ns, user string) {
	t.Helper()
	const role = "decco-test-gateway-writer"
	create(t, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{gatewayv1.GroupName},
			Resources: []string{"gateways", "listenersets", "httproutes", "tlsroutes"}, Verbs: []string{rbacv1.VerbAll}}},
	})
	grant(t, ns, user, role)
}

// Only decco puts a space on the shared gateway (webhook.GatewayPolicy,
// enforced by the apiserver): a tenant granted Gateway API's resources,
// as a platform might, still can't create a Gateway or a ListenerSet in
// its space, attach a route to one, or change decco's; its Ingresses name
// only its own hosts (the built-in admin role grants Ingresses). Each
// refusal says what to do instead; what stays the tenant's (a route to a
// Service, an Ingress for its own host, metadata on decco's objects) goes
// through, and the same rights work outside spaces.
func TestTenantCannotClaimGatewayListeners(t *testing.T) {
	name := newSpace(t, "gws")
	c, user := tenantOf(t, name)
	grantGateways(t, name, user)
	host := name + ".example.com"
	ctx := context.Background()

	gw := func(ns string) *gatewayv1.Gateway {
		return &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mine"}, Spec: gatewayv1.GatewaySpec{
			GatewayClassName: "decco-test",
			Listeners: []gatewayv1.Listener{{Name: "victim", Hostname: ptr.To(gatewayv1.Hostname("victim.example.com")),
				Port: 443, Protocol: gatewayv1.TLSProtocolType, TLS: &gatewayv1.ListenerTLSConfig{Mode: ptr.To(gatewayv1.TLSModePassthrough)}}},
		}}
	}
	httpRoute := func(parent gatewayv1.ParentReference) *gatewayv1.HTTPRoute {
		return &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "r-" + rand.String(5)}, Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{parent}},
			Hostnames:       []gatewayv1.Hostname{"victim.example.com"},
		}}
	}
	ingress := func(spec networkingv1.IngressSpec) *networkingv1.Ingress {
		return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "i-" + rand.String(5)}, Spec: spec}
	}
	backend := &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	rule := func(host string) networkingv1.IngressRule {
		pt := networkingv1.PathTypePrefix
		return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pt, Backend: *backend}}}}}
	}
	sharedNS := gatewayv1.Namespace(gatewayNamespace)
	// RBAC's and the admission policies' caches catch up with the
	// bindings and the policy a moment after they are stored.
	waitFor(t, 30*time.Second, "the tenant's Gateway rights and the policy in force", func() error {
		err := c.Create(ctx, gw(name), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), webhook.GatewayPolicyName) {
			return fmt.Errorf("dry run: %v", err)
		}
		return nil
	})

	for _, tc := range []struct {
		what    string
		obj     client.Object
		refusal string // "" when admitted
	}{
		{"a Gateway", gw(name), "Gateway mine: in a space only decco writes Gateways and ListenerSets, since a listener claims a hostname on a gateway every customer shares; decco gives space " + name + " its listeners for " + host},
		{"a ListenerSet on the shared Gateway", &gatewayv1.ListenerSet{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "mine"}, Spec: gatewayv1.ListenerSetSpec{
			ParentRef: gatewayv1.ParentGatewayReference{Name: gatewayName, Namespace: &sharedNS},
			Listeners: []gatewayv1.ListenerEntry{{Name: "victim", Hostname: ptr.To(gatewayv1.Hostname("victim.example.com")), Port: 443, Protocol: gatewayv1.HTTPSProtocolType}},
		}}, "ListenerSet mine: in a space only decco writes Gateways and ListenerSets"},
		{"a route on the shared Gateway", httpRoute(gatewayv1.ParentReference{Name: gatewayName, Namespace: &sharedNS}),
			"attaches to Gateway " + gatewayNamespace + "/" + gatewayName + ": in a space only decco attaches routes to gateways"},
		{"a route on the space's ListenerSet", httpRoute(gatewayv1.ParentReference{Kind: ptr.To(gatewayv1.Kind(route.KindListenerSet)), Name: route.ListenerSetName}),
			"attaches to ListenerSet " + route.ListenerSetName + ": in a space only decco attaches routes to gateways"},
		{"an Ingress for another customer's host", ingress(networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule(host), rule("victim.example.com")}}),
			"names victim.example.com, outside space " + name + "; an Ingress in a space may name only " + host},
		{"an Ingress rule without a host", ingress(networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("")}}), "names (a rule without a host, which catches every name)"},
		{"an Ingress with a default backend", ingress(networkingv1.IngressSpec{DefaultBackend: backend}), "names (a default backend, which catches every name)"},
		{"an Ingress's TLS for another host", ingress(networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule(host)},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{host, "*.example.com"}, SecretName: "x"}}}), "names *.example.com, outside space"},
		{"an Ingress for its own hosts", ingress(networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule(host), rule("shop." + host)},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"*." + host}, SecretName: "x"}}}), ""},
		{"a route to a Service (a mesh's)", httpRoute(gatewayv1.ParentReference{Group: ptr.To(gatewayv1.Group("")), Kind: ptr.To(gatewayv1.Kind("Service")), Name: "web"}), ""},
	} {
		t.Run(tc.what, func(t *testing.T) {
			err := c.Create(ctx, tc.obj)
			if tc.refusal == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, apierrors.IsForbidden(err), "%v", err)
			assert.Contains(t, err.Error(), "ValidatingAdmissionPolicy '"+webhook.GatewayPolicyName+"'", "refused by the policy, not by RBAC")
			assert.Contains(t, err.Error(), tc.refusal)
			t.Logf("refused: %v", err)
		})
	}

	t.Run("decco's own listeners", func(t *testing.T) {
		require.NoError(t, c.Create(ctx, tenantService(name, "db", nil)))
		waitRoute(t, name, "db", true)
		var ls gatewayv1.ListenerSet
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: name, Name: route.ListenerSetName}, &ls))
		changed := ls.DeepCopy()
		changed.Spec.Listeners[0].Hostname = ptr.To(gatewayv1.Hostname("*.example.com"))
		err := c.Update(ctx, changed)
		require.Error(t, err, "a tenant widening decco's listener")
		assert.Contains(t, err.Error(), "ListenerSet "+route.ListenerSetName+": in a space only decco writes Gateways and ListenerSets")
		labeled := ls.DeepCopy()
		labeled.Labels["team"] = "a"
		assert.NoError(t, c.Update(ctx, labeled), "metadata alone passes")
	})

	t.Run("the same rights outside spaces", func(t *testing.T) {
		plain := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "plain-"}}
		require.NoError(t, k8s.Create(ctx, plain))
		pc, puser := tenantOf(t, plain.Name)
		grantGateways(t, plain.Name, puser)
		waitFor(t, 30*time.Second, "the tenant's Gateway rights in "+plain.Name, func() error {
			return pc.Create(ctx, gw(plain.Name))
		})
	})
}

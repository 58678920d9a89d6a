package webhook

import (
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/decco-dev/decco/space"
)

// GatewayPolicyName names the ValidatingAdmissionPolicy (and its binding)
// that keeps what a space puts on the shared gateway decco's.
const GatewayPolicyName = "decco-space-gateways"

// Resources GatewayPolicy judges, by API group.
var (
	// listenerResources claim hostnames on a gateway: Gateways, and
	// ListenerSets (standard channel since Gateway API v1.5, and the
	// experimental XListenerSet before it).
	listenerResources  = []string{"gateways", "listenersets"}
	xListenerResources = []string{"xlistenersets"}
	routeResources     = []string{"httproutes", "tlsroutes", "tcproutes", "grpcroutes", "udproutes"}
)

// GatewayPolicy is enforced by the apiserver itself (CEL), with no call to
// decco, so it holds while decco is down. In a space, only decco (and
// cluster administrators) may:
//
//   - create a Gateway or a ListenerSet, or change one's spec: a listener
//     claims a hostname on a gateway class every customer shares, so a
//     tenant granted these resources could answer for any customer's
//     name; decco writes the space's listeners from its Services, for the
//     hostnames the space holds;
//   - create a route attached to a Gateway or a ListenerSet, or change
//     such a route's spec (routes attached to a Service, for a mesh, stay
//     the tenant's): decco writes the space's routes with the
//     BackendTLSPolicy that keeps the gateway's hop TLS, and a hand-made
//     one would bypass that;
//   - name, in an Ingress, a host outside the space (<space>.<domain> and
//     names under it), or no host at all (a rule without a host, or a
//     default backend, catches every name): the built-in admin role grants
//     Ingresses, and decco's Ingress mode serves them on shared classes.
//
// Changes to metadata alone pass, so a gateway implementation's finalizer
// or the garbage collector still works on decco's objects. RBAC alone
// would leave the first two to every platform that grants Gateway API
// resources to tenants, and the third to every cluster.
func GatewayPolicy(systemNamespace string) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	meta := metav1.ObjectMeta{Name: GatewayPolicyName, Labels: map[string]string{space.LabelManagedBy: space.ManagedByValue}}
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	rules := func(group string, resources []string) admissionregistrationv1.NamedRuleWithOperations {
		return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: ops,
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: resources,
				Scope: ptr.To(admissionregistrationv1.NamespacedScope),
			},
		}}
	}
	const (
		gatewayGroup  = "gateway.networking.k8s.io"
		xGatewayGroup = "gateway.networking.x-k8s.io"
		// A parentRef's kind defaults to Gateway.
		gatewayParent = "(!has(p.kind) || p.kind in ['Gateway', 'ListenerSet', 'XListenerSet'])"
	)
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: meta,
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: spaceNamespaces(systemNamespace),
				ObjectSelector:    &metav1.LabelSelector{},
				MatchPolicy:       ptr.To(admissionregistrationv1.Equivalent),
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{
					rules(gatewayGroup, slices.Concat(listenerResources, routeResources)),
					rules(xGatewayGroup, xListenerResources),
					rules("networking.k8s.io", []string{"ingresses"}),
				},
			},
			MatchConditions: []admissionregistrationv1.MatchCondition{notDeccoOrAdmin(systemNamespace)},
			Variables: []admissionregistrationv1.Variable{
				{Name: "space", Expression: "namespaceObject.metadata.name"},
				{Name: "host", Expression: spaceHost},
				{Name: "kind", Expression: "request.kind.kind"},
				// Controllers may still touch metadata (a gateway
				// implementation's finalizer, the garbage collector).
				{Name: "specChanged", Expression: "request.operation == 'CREATE' || object.spec != oldObject.spec"},
				{Name: "listeners", Expression: "request.resource.resource in ['gateways', 'listenersets', 'xlistenersets']"},
				{Name: "parents", Expression: "request.resource.group == '" + gatewayGroup + "' && has(object.spec.parentRefs) ? " +
					"object.spec.parentRefs.filter(p, " + gatewayParent + ").map(p, (has(p.kind) ? p.kind : 'Gateway') + ' ' + " +
					"(has(p.namespace) ? p.namespace + '/' : '') + p.name) : []"},
				{Name: "ingress", Expression: "request.resource.resource == 'ingresses'"},
				{Name: "foreignHosts", Expression: "!variables.ingress ? [] : " +
					"(has(object.spec.rules) ? object.spec.rules.filter(r, !has(r.host) || !(" + ownHost("r.host") + ")).map(r, has(r.host) ? r.host : '(a rule without a host, which catches every name)') : []) + " +
					"(has(object.spec.tls) ? object.spec.tls.filter(t, has(t.hosts) && t.hosts.exists(h, !(" + ownHost("h") + "))).map(t, t.hosts.filter(h, !(" + ownHost("h") + ")).join(', ')) : []) + " +
					"(has(object.spec.defaultBackend) ? ['(a default backend, which catches every name)'] : [])"},
			},
			Validations: []admissionregistrationv1.Validation{
				{
					Expression: "!variables.specChanged || !variables.listeners",
					MessageExpression: "variables.kind + ' ' + object.metadata.name + ': in a space only decco writes Gateways and ListenerSets, " +
						"since a listener claims a hostname on a gateway every customer shares; decco gives space ' + variables.space + " +
						"' its listeners for ' + variables.host + ': label a Service with " + space.LabelSpace + "=' + variables.space + " +
						"' (and " + space.AnnotationHTTPPath + " for HTTP) to expose it'",
					Reason: ptr.To(metav1.StatusReasonForbidden),
				},
				{
					Expression: "!variables.specChanged || variables.parents.size() == 0",
					MessageExpression: "variables.kind + ' ' + object.metadata.name + ' attaches to ' + variables.parents.join(', ') + " +
						"': in a space only decco attaches routes to gateways, with the TLS to the pods they need; label a Service with " +
						space.LabelSpace + "=' + variables.space + ' (and " + space.AnnotationHTTPPath + " for HTTP) and decco routes it'",
					Reason: ptr.To(metav1.StatusReasonForbidden),
				},
				{
					Expression: "!variables.specChanged || variables.foreignHosts.size() == 0",
					MessageExpression: "'Ingress ' + object.metadata.name + ' names ' + variables.foreignHosts.join(', ') + ', outside space ' + " +
						"variables.space + '; an Ingress in a space may name only ' + variables.host + ' and names under it, each rule with its host'",
					Reason: ptr.To(metav1.StatusReasonForbidden),
				},
			},
		},
	}
	return policy, denyBinding(meta, GatewayPolicyName)
}

// spaceHost is a CEL expression: the space's hostname, <space>.<domain>,
// from the namespace's decco.io/domain.
const spaceHost = "variables.space + '.' + (has(namespaceObject.metadata.annotations) && '" +
	space.AnnotationDomain + "' in namespaceObject.metadata.annotations ? namespaceObject.metadata.annotations['" +
	space.AnnotationDomain + "'] : '')"

// ownHost is a CEL expression: the hostname h is the space's own host
// or a name under it.
func ownHost(h string) string {
	return h + " == variables.host || " + h + ".endsWith('.' + variables.host)"
}

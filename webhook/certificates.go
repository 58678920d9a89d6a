package webhook

import (
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/decco-dev/decco/space"
)

// CertificatePolicyName names the ValidatingAdmissionPolicy (and its
// binding) that keeps a space's certificates to the space's own names.
const CertificatePolicyName = "decco-space-certificates"

// CertificatePolicy is enforced by the apiserver itself (CEL), with no
// call to decco: in a space, a cert-manager Certificate that decco did not
// make may name only the space's hostnames (<space>.<domain> and names
// under it) and its in-cluster Service names (<service>.<space>.svc and
// .svc.<clusterDomain>); URIs, IP and email addresses, other names and a
// literal subject are refused. A CertificateRequest carries its names in
// a CSR, which CEL can't read, so in a space only cert-manager's
// controller (certManagerUser, making requests for Certificates checked
// here) and decco may create one. Otherwise a tenant with cert-manager's
// edit role and a shared issuer could get a certificate for another
// customer's hostname.
func CertificatePolicy(systemNamespace, certManagerUser, clusterDomain string) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	meta := metav1.ObjectMeta{Name: CertificatePolicyName, Labels: map[string]string{space.LabelManagedBy: space.ManagedByValue}}
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: meta,
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				NamespaceSelector: spaceNamespaces(systemNamespace),
				ObjectSelector:    &metav1.LabelSelector{},
				MatchPolicy:       ptr.To(admissionregistrationv1.Equivalent),
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: ops,
						Rule: admissionregistrationv1.Rule{
							APIGroups: []string{"cert-manager.io"}, APIVersions: []string{"*"},
							Resources: []string{"certificates", "certificaterequests"},
							Scope:     ptr.To(admissionregistrationv1.NamespacedScope),
						},
					},
				}},
			},
			MatchConditions: []admissionregistrationv1.MatchCondition{notDeccoOrAdmin(systemNamespace)},
			Variables: []admissionregistrationv1.Variable{
				{Name: "space", Expression: "namespaceObject.metadata.name"},
				{Name: "host", Expression: spaceHost},
				{Name: "certificate", Expression: "request.resource.resource == 'certificates'"},
				{Name: "names", Expression: "variables.certificate ? (has(object.spec.dnsNames) ? object.spec.dnsNames : []) + " +
					"(has(object.spec.commonName) ? [object.spec.commonName] : []) : []"},
				{Name: "foreign", Expression: "variables.names.filter(n, !(" + ownName("n", clusterDomain) + "))"},
			},
			Validations: []admissionregistrationv1.Validation{
				{
					Expression: "variables.foreign.size() == 0",
					MessageExpression: "'Certificate ' + object.metadata.name + ' names ' + variables.foreign.join(', ') + " +
						"', outside space ' + variables.space + '; a certificate in a space may name only ' + variables.host + ', names under it, " +
						"and <service>.' + variables.space + '.svc'",
					Reason: ptr.To(metav1.StatusReasonForbidden),
				},
				{
					Expression: "!variables.certificate || !(has(object.spec.uris) || has(object.spec.ipAddresses) || has(object.spec.emailAddresses) || " +
						"has(object.spec.otherNames) || has(object.spec.literalSubject))",
					MessageExpression: "'Certificate ' + object.metadata.name + ' asks for URIs, IP or email addresses, other names or a literal subject, " +
						"which a space does not own; name only ' + variables.host + ' and names under it (dnsNames)'",
					Reason: ptr.To(metav1.StatusReasonForbidden),
				},
				{
					Expression: "variables.certificate || request.userInfo.username == '" + certManagerUser + "'",
					MessageExpression: "'CertificateRequest ' + object.metadata.name + ': in a space only cert-manager makes CertificateRequests, " +
						"from Certificates whose names are checked; create a Certificate instead'",
					Reason: ptr.To(metav1.StatusReasonForbidden),
				},
			},
		},
	}
	return policy, denyBinding(meta, CertificatePolicyName)
}

// ownName is a CEL expression: the name in variable n belongs to the
// space.
func ownName(n, clusterDomain string) string {
	svc := "'.' + variables.space + '.svc'"
	return strings.Join([]string{
		n + " == variables.host",
		n + ".endsWith('.' + variables.host)",
		n + ".endsWith(" + svc + ")",
		n + ".endsWith(" + svc + " + '." + clusterDomain + "')",
	}, " || ")
}

// notDeccoOrAdmin spares decco's own service accounts and cluster
// administrators: they are never locked out.
func notDeccoOrAdmin(systemNamespace string) admissionregistrationv1.MatchCondition {
	return admissionregistrationv1.MatchCondition{
		Name: "not-decco-or-a-cluster-administrator",
		Expression: "!('" + mastersGroup + "' in request.userInfo.groups) && " +
			"!request.userInfo.username.startsWith('system:serviceaccount:" + systemNamespace + ":')",
	}
}

// denyBinding binds the policy named name cluster-wide, refusing what it
// finds (its own match constraints say where it applies).
func denyBinding(meta metav1.ObjectMeta, name string) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: meta,
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
}

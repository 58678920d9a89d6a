package chart

import (
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/decco-dev/decco/webhook"
)

// webhookConfigurations are the rendered configurations, typed.
func (r rendered) webhookConfigurations(t *testing.T) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	var m admissionregistrationv1.MutatingWebhookConfiguration
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	r.typed(t, "MutatingWebhookConfiguration", &m)
	r.typed(t, "ValidatingWebhookConfiguration", &v)
	return &m, &v
}

// The chart's webhook configurations are exactly what the Go builders make
// for a manager behind the rendered Service: same names, rules, selectors,
// match conditions, policies and timeouts. The Go builders are the source
// of truth; a change to either side fails here until the other follows.
func TestWebhookConfigurationsEqualTheGoBuilders(t *testing.T) {
	for _, set := range valueSets {
		t.Run(set.name, func(t *testing.T) {
			r := mustRender(t, set)
			if r.find("MutatingWebhookConfiguration", webhook.ConfigurationName) == nil {
				assert.Contains(t, set.values, "webhook: {enabled: false}", "no webhook configuration rendered")
				assert.Empty(t, r.ofKind("ValidatingWebhookConfiguration"))
				assert.Nil(t, r.find("Service", "decco-webhook"), "a webhook Service without a webhook")
				return
			}
			gotM, gotV := r.webhookConfigurations(t)
			var svc corev1.Service
			require.NoError(t, strictConvert(r.find("Service", "decco-webhook"), &svc), "the webhook Service")
			require.Len(t, svc.Spec.Ports, 1)

			// The caBundle is the one value the chart decides (or cert-manager
			// injects); everything else must come out of the builders.
			cc := webhook.ServiceClientConfig(svc.Namespace, svc.Name, svc.Spec.Ports[0].Port, gotM.Webhooks[0].ClientConfig.CABundle)
			wantM := webhook.MutatingConfiguration(cc, set.namespace)
			wantV := webhook.ValidatingConfiguration(cc, set.namespace)
			assert.Equal(t, wantM.Name, gotM.Name)
			assert.Equal(t, wantV.Name, gotV.Name)
			assert.Equal(t, wantM.Webhooks, gotM.Webhooks, "MutatingWebhookConfiguration webhooks differ from webhook.MutatingConfiguration")
			assert.Equal(t, wantV.Webhooks, gotV.Webhooks, "ValidatingWebhookConfiguration webhooks differ from webhook.ValidatingConfiguration")
			assert.Equal(t, gotM.Webhooks[0].ClientConfig.CABundle, gotV.Webhooks[0].ClientConfig.CABundle, "both configurations trust the same CA")

			// The Service forwards to the port the manager serves on.
			args, _ := parseArgs(t, r.managerArgs(t))
			port, err := args.GetInt("webhook-port")
			require.NoError(t, err)
			assertTargetsContainerPort(t, r, svc.Spec.Ports[0].TargetPort.String(), int32(port))

			checkCertificateSource(t, r, set, gotM, gotV, svc)
		})
	}
}

// assertTargetsContainerPort checks that the Service's named target port is
// the manager container's port number want.
func assertTargetsContainerPort(t *testing.T, r rendered, name string, want int32) {
	t.Helper()
	for _, p := range r.managerContainer(t).Ports {
		if p.Name == name {
			assert.Equal(t, want, p.ContainerPort, "container port %s", name)
			return
		}
	}
	t.Errorf("the manager container has no port named %s", name)
}

// checkCertificateSource checks where the caBundle comes from: cert-manager's
// cainjector (an annotation naming the serving Certificate) or the chart's
// generated CA, which must have signed the serving certificate for the
// Service's DNS name.
func checkCertificateSource(t *testing.T, r rendered, set valueSet, m *admissionregistrationv1.MutatingWebhookConfiguration, v *admissionregistrationv1.ValidatingWebhookConfiguration, svc corev1.Service) {
	t.Helper()
	const inject = "cert-manager.io/inject-ca-from"
	certs := r.ofKind("Certificate")
	var serving string
	for _, c := range certs {
		if name, _, _ := unstructured.NestedString(c.Object, "spec", "secretName"); name == "decco-webhook-tls" {
			serving = c.GetNamespace() + "/" + c.GetName()
		}
	}
	if serving != "" {
		assert.Equal(t, serving, m.Annotations[inject])
		assert.Equal(t, serving, v.Annotations[inject])
		assert.Empty(t, m.Webhooks[0].ClientConfig.CABundle, "cainjector fills the caBundle")
		assert.Empty(t, r.ofKind("Secret"), "cert-manager writes the serving Secret")
		return
	}
	assert.NotContains(t, m.Annotations, inject)
	var secret corev1.Secret
	require.NoError(t, strictConvert(r.find("Secret", "decco-webhook-tls"), &secret), "the self-signed mode's Secret (values %s)", set.name)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(m.Webhooks[0].ClientConfig.CABundle), "caBundle holds no PEM certificate")
	leaf := parseCert(t, secret.Data[corev1.TLSCertKey])
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName:   svc.Name + "." + svc.Namespace + ".svc",
		Roots:     pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	assert.NoError(t, err, "the serving certificate does not verify against the caBundle for the Service's name")
}

func parseCert(t *testing.T, pemData []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemData)
	require.NotNil(t, block, "no PEM block")
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

// The chart's ValidatingAdmissionPolicies for certificates and gateways in
// spaces are exactly webhook.CertificatePolicy and webhook.GatewayPolicy,
// and it ships the space administrator
// role and a join role per listed project, under the names the namespace
// guard's refusals give.
func TestTenancyObjectsEqualTheGoBuilders(t *testing.T) {
	for _, set := range valueSets {
		t.Run(set.name, func(t *testing.T) {
			r := mustRender(t, set)
			args, _ := parseArgs(t, r.managerArgs(t))
			domain := args.Lookup("cluster-domain").Value.String()
			certP, certB := webhook.CertificatePolicy(set.namespace, "system:serviceaccount:cert-manager:cert-manager", domain)
			gwP, gwB := webhook.GatewayPolicy(set.namespace)
			require.Len(t, r.ofKind("ValidatingAdmissionPolicy"), 2, "the certificate and gateway policies")
			require.Len(t, r.ofKind("ValidatingAdmissionPolicyBinding"), 2)
			for _, want := range []struct {
				policy  *admissionregistrationv1.ValidatingAdmissionPolicy
				binding *admissionregistrationv1.ValidatingAdmissionPolicyBinding
				builder string
			}{{certP, certB, "webhook.CertificatePolicy"}, {gwP, gwB, "webhook.GatewayPolicy"}} {
				var gotP admissionregistrationv1.ValidatingAdmissionPolicy
				var gotB admissionregistrationv1.ValidatingAdmissionPolicyBinding
				p, b := r.find("ValidatingAdmissionPolicy", want.policy.Name), r.find("ValidatingAdmissionPolicyBinding", want.binding.Name)
				require.NotNil(t, p, "the chart has no policy %s", want.policy.Name)
				require.NotNil(t, b, "the chart has no binding %s", want.binding.Name)
				require.NoError(t, strictConvert(p, &gotP))
				require.NoError(t, strictConvert(b, &gotB))
				assert.Equal(t, want.policy.Spec, gotP.Spec, "the chart's policy %s differs from %s", want.policy.Name, want.builder)
				assert.Equal(t, want.binding.Spec, gotB.Spec)
			}
			assert.NotNil(t, r.find("ClusterRole", webhook.SpaceAdminRole), "the space administrator role")
		})
	}
	r := mustRender(t, valueSet{name: "projects", namespace: "decco-system", values: "tenancy: {projects: [bank, retail]}"})
	for _, p := range []string{"bank", "retail"} {
		assert.NotNil(t, r.find("ClusterRole", webhook.ProjectRolePrefix+p), "the join role of project %s", p)
	}
}

package chart

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/webhook"
)

// helmConfig is what `helm --kubeconfig ... -n namespace` works with.
func helmConfig(t *testing.T, namespace string) *action.Configuration {
	t.Helper()
	cfg, err := deccotest.HelmConfig(cluster.Kubeconfig, namespace, t.Logf)
	require.NoError(t, err)
	return cfg
}

// The chart installs, upgrades and uninstalls on a real apiserver through
// Helm itself. In the self-signed certificate mode, an upgrade rotates the
// serving certificate and CA while the caBundle keeps trusting the
// previous CA, so replicas still serving the old certificate keep working;
// uninstall removes the webhook configurations (or pod creation in spaces
// would fail closed forever) and leaves the namespace.
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	cluster.Need(t)
	const ns = "decco-helm"
	cfg := helmConfig(t, ns)
	vals := parseValues(t, "webhook: {certificate: {mode: selfSigned}}")

	// decco's namespace as the docs say: Pod Security "restricted".
	ctx := context.Background()
	require.NoError(t, cluster.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}))

	install := action.NewInstall(cfg)
	install.ReleaseName = "decco"
	install.Namespace = ns
	rel, err := install.Run(loadChart(t), vals)
	require.NoError(t, err, "helm install")
	t.Cleanup(func() { _, _ = action.NewUninstall(helmConfig(t, ns)).Run("decco") })
	assert.Equal(t, release.StatusDeployed, rel.Info.Status)
	assert.Contains(t, rel.Info.Notes, "expires on", "NOTES say when the generated certificate expires")

	// The real ReplicaSet controller creates the manager's pods, which
	// Pod Security admission accepts under "restricted".
	created := assert.Eventually(t, func() bool {
		var pods corev1.PodList
		return cluster.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/component": "manager"}) == nil &&
			len(pods.Items) == 2
	}, 60*time.Second, 250*time.Millisecond, "the Deployment's 2 pods were not created")
	if !created {
		t.Logf("events in %s:%s", ns, events(ns))
	}

	first := servingState(t, ns)
	require.Len(t, first.bundle, 1, "a fresh install trusts one CA")
	first.verifies(t, first.leaf)

	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = ns
	upgrade.ReuseValues = true
	rel, err = upgrade.Run("decco", loadChart(t), nil)
	require.NoError(t, err, "helm upgrade")
	assert.Equal(t, 2, rel.Version)

	second := servingState(t, ns)
	assert.NotEqual(t, first.leaf.SerialNumber, second.leaf.SerialNumber, "helm upgrade rotates the serving certificate")
	require.Len(t, second.bundle, 2, "after an upgrade the caBundle holds the new and the previous CA")
	second.verifies(t, second.leaf)
	second.verifies(t, first.leaf) // a replica not yet reloaded

	_, err = action.NewUninstall(cfg).Run("decco")
	require.NoError(t, err, "helm uninstall")
	for _, obj := range []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{},
		&admissionregistrationv1.ValidatingWebhookConfiguration{},
	} {
		err := cluster.Client.Get(ctx, client.ObjectKey{Name: webhook.ConfigurationName}, obj)
		assert.True(t, apierrors.IsNotFound(err), "%T survives helm uninstall: %v", obj, err)
	}
	err = cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "decco-webhook-tls"}, &corev1.Secret{})
	assert.True(t, apierrors.IsNotFound(err), "the self-signed webhook Secret survives helm uninstall: %v", err)
	err = cluster.Client.Get(ctx, client.ObjectKey{Name: "decco-reconciler"}, &rbacv1.ClusterRole{})
	assert.True(t, apierrors.IsNotFound(err), "the reconciler's ClusterRole survives helm uninstall: %v", err)
	assert.NoError(t, cluster.Client.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}), "helm uninstall leaves the namespace")
}

// serving is the installed webhook's certificate and the CAs the apiserver
// trusts for it.
type serving struct {
	leaf   *x509.Certificate
	bundle []*x509.Certificate
	name   string // the Service DNS name the apiserver dials
}

func servingState(t *testing.T, ns string) serving {
	t.Helper()
	ctx := context.Background()
	var secret corev1.Secret
	require.NoError(t, cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "decco-webhook-tls"}, &secret))
	var m admissionregistrationv1.MutatingWebhookConfiguration
	require.NoError(t, cluster.Client.Get(ctx, client.ObjectKey{Name: webhook.ConfigurationName}, &m))
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	require.NoError(t, cluster.Client.Get(ctx, client.ObjectKey{Name: webhook.ConfigurationName}, &v))
	bundle := m.Webhooks[0].ClientConfig.CABundle
	for _, w := range m.Webhooks {
		assert.Equal(t, bundle, w.ClientConfig.CABundle)
	}
	for _, w := range v.Webhooks {
		assert.Equal(t, bundle, w.ClientConfig.CABundle)
	}
	svc := m.Webhooks[0].ClientConfig.Service
	s := serving{leaf: parseCert(t, secret.Data[corev1.TLSCertKey]), name: svc.Name + "." + svc.Namespace + ".svc"}
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err, "a caBundle certificate")
		s.bundle = append(s.bundle, c)
	}
	return s
}

// verifies checks that the apiserver, trusting s.bundle, accepts leaf for
// the webhook Service's name.
func (s serving) verifies(t *testing.T, leaf *x509.Certificate) {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range s.bundle {
		pool.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{DNSName: s.name, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	assert.NoError(t, err, "certificate %s does not verify against the caBundle", leaf.SerialNumber)
}

// events lists the events of namespace ns, for failure messages.
func events(ns string) string {
	var list corev1.EventList
	if err := cluster.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range list.Items {
		fmt.Fprintf(&b, "\n%s %s: %s", e.InvolvedObject.Kind, e.Reason, e.Message)
	}
	return b.String()
}

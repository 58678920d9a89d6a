package controlplane_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/decco-dev/decco/test/controlplane"
)

var cluster *controlplane.Cluster

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(m, &cluster, controlplane.Options{}))
}

func TestServerReportsPinnedVersion(t *testing.T) {
	cluster.Need(t)
	dc, err := discovery.NewDiscoveryClientForConfig(cluster.Config)
	require.NoError(t, err)
	v, err := dc.ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, controlplane.KubeVersion, v.GitVersion, "kubectl version must be able to parse the server version")
}

func TestCRDsInstalled(t *testing.T) {
	cluster.Need(t)
	for _, name := range []string{
		"certificates.cert-manager.io", "issuers.cert-manager.io", "clusterissuers.cert-manager.io",
		"gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io",
		"tlsroutes.gateway.networking.k8s.io", "dnsendpoints.externaldns.k8s.io",
	} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		assert.NoError(t, cluster.Client.Get(context.Background(), client.ObjectKey{Name: name}, crd), name)
	}
}

// A Deployment applied with the client becomes a ReplicaSet and Pods
// through the real kube-controller-manager.
func TestDeploymentBecomesPods(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	ns := newNamespace(t, "deploy")
	labels := map[string]string{"app": "web"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}
	require.NoError(t, cluster.Client.Create(ctx, deploy))

	var pods corev1.PodList
	require.Eventually(t, func() bool {
		pods = corev1.PodList{}
		_ = cluster.Client.List(ctx, &pods, client.InNamespace(ns))
		return len(pods.Items) == 2
	}, 60*time.Second, 200*time.Millisecond, "kube-controller-manager log:\n%s", cluster.ControllerManagerLog())
	for _, p := range pods.Items {
		require.Len(t, p.OwnerReferences, 1)
		assert.Equal(t, "ReplicaSet", p.OwnerReferences[0].Kind)
	}
	var rs appsv1.ReplicaSet
	require.NoError(t, cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: pods.Items[0].OwnerReferences[0].Name}, &rs))
	assert.Equal(t, "Deployment", rs.OwnerReferences[0].Kind)
}

// The apiserver really calls a MutatingWebhookConfiguration's server over
// TLS, and the mutation lands on the stored object.
func TestAPIServerCallsWebhook(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	ns := newNamespace(t, "webhook")

	var calls atomic.Int32
	hook := &admission.Webhook{Handler: admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		calls.Add(1)
		cm := &corev1.ConfigMap{}
		if err := json.Unmarshal(req.Object.Raw, cm); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		cm.Labels["mutated-by"] = "test-webhook"
		patched, _ := json.Marshal(cm)
		return admission.PatchResponseFromRaw(req.Object.Raw, patched)
	})}
	srv := httptest.NewTLSServer(hook)
	t.Cleanup(srv.Close)
	caBundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "harness-" + ns},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "configmaps.harness.decco.io",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(srv.URL + "/mutate"), CABundle: caBundle},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
				"kubernetes.io/metadata.name": ns,
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
			}},
		}},
	}
	require.NoError(t, cluster.Client.Create(ctx, cfg))
	t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), cfg) })

	// The apiserver picks up new webhook configurations asynchronously.
	var stored corev1.ConfigMap
	require.Eventually(t, func() bool {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: ns}}
		if err := cluster.Client.Create(ctx, cm); err != nil {
			return false
		}
		stored = corev1.ConfigMap{}
		_ = cluster.Client.Get(ctx, client.ObjectKeyFromObject(cm), &stored)
		return stored.Labels["mutated-by"] == "test-webhook"
	}, 30*time.Second, 200*time.Millisecond)
	assert.Positive(t, calls.Load(), "the webhook server saw no call")
}

func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	require.NoError(t, cluster.Client.Create(context.Background(), ns))
	return ns.Name
}

package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/install"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/webhook"
)

// laggingCache answers for one namespace as an informer that has not yet
// seen its latest change: with the copy read earlier. It is the seam for
// the race; the apiserver, its webhook call and the live read are real.
type laggingCache struct {
	client.Reader
	seen *metav1.PartialObjectMetadata
}

func (c laggingCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	into, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok || key.Name != c.seen.Name {
		return c.Reader.Get(ctx, key, obj, opts...)
	}
	c.seen.DeepCopyInto(into)
	return nil
}

// A namespace labeled as a space a moment after the webhook's cache saw it
// unlabeled: the apiserver calls the webhook for its pods (it sees the
// label), and the webhook must not refuse them as "not a space" from its
// stale copy; it reads the namespace again before refusing.
func TestPodsOfANamespaceJustMadeASpace(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "late-space-"}}
	require.NoError(t, k8s.Create(ctx, ns))
	t.Cleanup(func() { k8s.Delete(context.Background(), ns) })
	seen := &metav1.PartialObjectMetadata{}
	seen.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	require.NoError(t, k8s.Get(ctx, client.ObjectKeyFromObject(ns), seen))

	var served atomic.Int32
	url, ca := serveHandlers(t, webhook.Handlers(laggingCache{Reader: k8s, seen: seen}, webhook.Options{
		Inject:          inject.Config{Image: "decco-sidecar:test"},
		SystemNamespace: install.SystemNamespace,
		MaxRequestBytes: 2 << 20,
		LiveReader:      k8s,
	}), &served)
	registerPodWebhook(t, "decco-lagging-cache", url, ca, ns.Name)

	ns.Labels = map[string]string{space.LabelSpace: ns.Name, lateSpaceLabel: ns.Name}
	ns.Annotations = map[string]string{space.AnnotationDomain: "example.com"}
	require.NoError(t, k8s.Update(ctx, ns))

	var pod *corev1.Pod
	var admitted error
	deccotest.WaitFor(t, 30*time.Second, "the apiserver calls the test's webhook", func() error {
		pod = &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web", Labels: map[string]string{space.LabelSpace: ns.Name}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "web", Image: "web", Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: 8443}},
			}}},
		}
		admitted = k8s.Create(ctx, pod, client.DryRunAll)
		if served.Load() == 0 {
			return errors.New("not called yet")
		}
		return nil
	})
	require.NoError(t, admitted, "a pod of a namespace made a space after the webhook's cache saw it")
	assert.True(t, deccotest.Injected(pod), "the pod carries the sidecar")
}

// lateSpaceLabel marks the namespaces the test's own webhook handles, so
// it leaves every other test's alone.
const lateSpaceLabel = "e2e.decco.io/late-space"

// serveHandlers serves handlers over TLS on loopback, counting requests
// in served, and returns the URL and the CA bundle.
func serveHandlers(t *testing.T, handlers map[string]http.Handler, served *atomic.Int32) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	ca, err := deccotest.ServingCert(dir)
	require.NoError(t, err)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	require.NoError(t, err)
	mux := http.NewServeMux()
	for path, h := range handlers {
		mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served.Add(1)
			h.ServeHTTP(w, r)
		}))
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, ca
}

// registerPodWebhook registers decco's pod webhook, under its own
// configuration name, for namespace ns alone.
func registerPodWebhook(t *testing.T, name, url string, ca []byte, ns string) {
	t.Helper()
	cfg := webhook.MutatingConfiguration(webhook.URLClientConfig(url, ca), install.SystemNamespace)
	cfg.Name = name
	cfg.Webhooks = cfg.Webhooks[:1]
	sel := cfg.Webhooks[0].NamespaceSelector
	sel.MatchLabels = map[string]string{lateSpaceLabel: ns}
	require.Equal(t, url+webhook.PodPath, *cfg.Webhooks[0].ClientConfig.URL, "the first hook is the pods'")
	require.NoError(t, k8s.Create(context.Background(), cfg))
	t.Cleanup(func() {
		k8s.Delete(context.Background(), &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})
}

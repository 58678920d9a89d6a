package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/inject/injecttest"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/corpus"
)

// namespaces is a unit-test seam standing in for the informer cache; the
// e2e suite runs the same handlers against the real cache and apiserver.
type namespaces map[string]map[string]string

func (n namespaces) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ann, ok := n[key.Name]
	if !ok {
		return notFoundErr(key.Name)
	}
	obj.SetName(key.Name)
	obj.SetResourceVersion("1")
	obj.SetLabels(map[string]string{space.LabelSpace: key.Name})
	obj.SetAnnotations(ann)
	return nil
}

func (n namespaces) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

// notFound is the apiserver's NotFound, as the cache answers it.
func notFoundErr(name string) error {
	return apierrors.NewNotFound(corev1.Resource("namespaces"), name)
}

var testInject = inject.Config{Image: "decco-sidecar:test", NativeSidecar: true}

func testPodHandler() http.Handler {
	return Handlers(namespaces{"acme": {space.AnnotationDomain: "example.com"}},
		Options{Inject: testInject, SystemNamespace: "decco-system", MaxRequestBytes: 2 << 20})[PodPath]
}

func serve(t testing.TB, h http.Handler, body []byte) admissionv1.AdmissionResponse {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, PodPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	var review admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &review))
	require.NotNil(t, review.Response)
	return *review.Response
}

// The patch the handler returns, applied to the request's pod, gives
// exactly what inject.Pod gives.
func TestPodPatchMatchesInjector(t *testing.T) {
	pod := corpus.Pod(10 << 10)
	resp := serve(t, testPodHandler(), corpus.AdmissionReview(pod))
	require.True(t, resp.Allowed, "%v", resp.Result)
	require.NotEmpty(t, resp.Patch)

	raw, _ := json.Marshal(pod)
	patch, err := jsonpatch.DecodePatch(resp.Patch)
	require.NoError(t, err)
	patched, err := patch.Apply(raw)
	require.NoError(t, err)
	var got corev1.Pod
	require.NoError(t, json.Unmarshal(patched, &got))

	sp, err := space.FromNamespace(&metav1.ObjectMeta{Name: "acme", Labels: map[string]string{space.LabelSpace: "acme"},
		Annotations: map[string]string{space.AnnotationDomain: "example.com"}})
	require.NoError(t, err)
	want, err := inject.Pod(pod, sp, testInject)
	require.NoError(t, err)
	assert.Equal(t, want.Pod, &got)
}

func TestRefusalNamesReason(t *testing.T) {
	pod := corpus.Pod(2 << 10)
	pod.Labels[space.LabelSpace] = "other"
	resp := serve(t, testPodHandler(), corpus.AdmissionReview(pod))
	assert.False(t, resp.Allowed)
	assert.Equal(t, metav1.StatusReason("decco."+string(inject.WrongSpace)), resp.Result.Reason)
	assert.Contains(t, resp.Result.Message, "other")
}

func TestOversizedRequestRefused(t *testing.T) {
	h := testPodHandler()
	h.(*reviewServer).maxBytes = 64 << 10
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, PodPath, bytes.NewReader(corpus.AdmissionReview(corpus.Pod(100<<10))))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Contains(t, rec.Body.String(), "limit")
	// A Status body, so the apiserver shows the message to the user.
	var st metav1.Status
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st))
	assert.Equal(t, int32(http.StatusRequestEntityTooLarge), st.Code)
	assert.Contains(t, st.Message, "over the 65536-byte limit")
}

// A namespace created a moment ago, not yet in the cache, is read live.
func TestNamespaceNotYetCachedIsReadLive(t *testing.T) {
	h := Handlers(namespaces{}, Options{Inject: testInject, SystemNamespace: "decco-system", MaxRequestBytes: 2 << 20,
		LiveReader: namespaces{"acme": {space.AnnotationDomain: "example.com"}}})[PodPath]
	resp := serve(t, h, corpus.AdmissionReview(corpus.Pod(2<<10)))
	require.True(t, resp.Allowed, "%v", resp.Result)
	assert.NotEmpty(t, resp.Patch)

	without := Handlers(namespaces{}, Options{Inject: testInject, SystemNamespace: "decco-system", MaxRequestBytes: 2 << 20})[PodPath]
	resp = serve(t, without, corpus.AdmissionReview(corpus.Pod(2<<10)))
	assert.False(t, resp.Allowed, "without a live reader a cache miss must not admit an uninjected pod")
}

func BenchmarkPodAdmission10KB(b *testing.B) {
	h := testPodHandler()
	body := corpus.AdmissionReview(corpus.Pod(10 << 10))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, PodPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
	}
}

// The typed patch, applied by an independent JSON patch implementation to
// the original pod's JSON, gives exactly the injector's output, for
// thousands of generated pods (new sidecars, reinjections, renamed ports,
// rewritten probes, runtime classes).
func TestPatchesOfRandomPods(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	patched := 0
	for i := range 3000 {
		pod := injecttest.RandomPod(r)
		sp := injecttest.RandomSpace(r)
		cfg := inject.Config{Image: "decco-sidecar:test", NativeSidecar: r.IntN(2) == 0}
		res, err := inject.Pod(pod, sp, cfg)
		if err != nil || res.Pod == pod {
			continue
		}
		// Reinjection too: a changed image on the injected pod.
		if r.IntN(3) == 0 {
			pod = res.Pod
			cfg.Image = "decco-sidecar:next"
			if res, err = inject.Pod(pod, sp, cfg); err != nil || res.Pod == pod {
				continue
			}
		}
		ops := fieldPatch(structPair{"/metadata", &pod.ObjectMeta, &res.Pod.ObjectMeta}, structPair{"/spec", &pod.Spec, &res.Pod.Spec})
		raw, _ := json.Marshal(pod)
		opsJSON, _ := json.Marshal(ops)
		patch, err := jsonpatch.DecodePatch(opsJSON)
		require.NoError(t, err, "pod %d", i)
		out, err := patch.Apply(raw)
		require.NoError(t, err, "pod %d: %s", i, opsJSON)
		var got corev1.Pod
		require.NoError(t, json.Unmarshal(out, &got))
		want, _ := json.Marshal(res.Pod)
		gotJSON, _ := json.Marshal(&got)
		require.JSONEq(t, string(want), string(gotJSON), "pod %d: patch %s", i, opsJSON)
		patched++
	}
	t.Logf("%d pods patched and verified", patched)
	assert.Greater(t, patched, 1000)
}

package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
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

// randomPatchPods is how many pods TestPatchesOfRandomPods generates:
// 20,000 by default, 200,000 with DECCO_LONG=1 (as CI runs).
func randomPatchPods() int {
	if os.Getenv("DECCO_LONG") != "" {
		return 200_000
	}
	return 20_000
}

// The typed patch, applied by an independent JSON patch implementation to
// the submitted pod's JSON, gives exactly the injector's output, for tens
// of thousands of generated pods: first injections, and re-injections of
// an injected pod after its annotations, its space (certificate Secret,
// runtime class) or the sidecar settings changed. The test counts which
// parts of the injection the re-injections changed and fails if the
// generator stopped covering one.
func TestPatchesOfRandomPods(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	patched, changed := 0, map[string]int{}
	n := randomPatchPods()
	for i := range n {
		pod := injecttest.RandomPod(r)
		sp, cfg := injecttest.RandomSpace(r), injecttest.RandomConfig(r)
		res, err := inject.Pod(pod, sp, cfg)
		if err != nil || res.Pod == pod {
			continue
		}
		if r.IntN(2) == 0 {
			first := res.Pod
			pod, sp, cfg = injecttest.RandomReinjection(r, first, sp, cfg)
			if res, err = inject.Pod(pod, sp, cfg); err != nil || res.Pod == pod {
				continue
			}
			countChanges(changed, first, res.Pod)
		}
		checkPatch(t, i, pod, res.Pod)
		if t.Failed() {
			t.Fatalf("pod %d failed; stopping", i)
		}
		patched++
	}
	t.Logf("%d of %d pods patched and verified; re-injections changed: %v", patched, n, changed)
	assert.Greater(t, patched, n/3)
	for _, part := range []string{"secret", "volumes", "probes", "ports", "args", "image", "runtimeClass", "sidecarMode"} {
		assert.Greater(t, changed[part], n/400, "re-injections rarely changed the %s", part)
	}
}

// checkPatch applies the typed patch from pod to want to pod's JSON and
// requires the result to be want.
func checkPatch(t *testing.T, i int, pod, want *corev1.Pod) {
	t.Helper()
	ops := fieldPatch(structPair{"/metadata", &pod.ObjectMeta, &want.ObjectMeta}, structPair{"/spec", &pod.Spec, &want.Spec})
	raw, _ := json.Marshal(pod)
	opsJSON, _ := json.Marshal(ops)
	patch, err := jsonpatch.DecodePatch(opsJSON)
	require.NoError(t, err, "pod %d", i)
	out, err := patch.Apply(raw)
	require.NoError(t, err, "pod %d: %s", i, opsJSON)
	var got corev1.Pod
	require.NoError(t, json.Unmarshal(out, &got))
	// want as the apiserver would decode it (quantities keep their
	// canonical string, empty and nil slices meet).
	wantJSON, _ := json.Marshal(want)
	var wantDecoded corev1.Pod
	require.NoError(t, json.Unmarshal(wantJSON, &wantDecoded))
	require.Equal(t, &wantDecoded, &got, "pod %d: patch %s", i, opsJSON)
}

// countChanges records which parts of the injection differ between two
// injected pods.
func countChanges(changed map[string]int, before, after *corev1.Pod) {
	bs, bNative := sidecarOf(before)
	as, aNative := sidecarOf(after)
	differs := map[string]bool{
		"secret":       certSecret(before) != certSecret(after),
		"volumes":      !reflect.DeepEqual(before.Spec.Volumes, after.Spec.Volumes),
		"probes":       !reflect.DeepEqual(probes(before), probes(after)),
		"sidecarMode":  bNative != aNative,
		"runtimeClass": !reflect.DeepEqual(before.Spec.RuntimeClassName, after.Spec.RuntimeClassName),
	}
	if bs != nil && as != nil {
		differs["ports"] = !reflect.DeepEqual(bs.Ports, as.Ports)
		differs["args"] = !reflect.DeepEqual(bs.Args, as.Args)
		differs["image"] = bs.Image != as.Image
	}
	for part, d := range differs {
		if d {
			changed[part]++
		}
	}
}

// sidecarOf returns the pod's sidecar and whether it is a native one.
func sidecarOf(pod *corev1.Pod) (*corev1.Container, bool) {
	for i, c := range pod.Spec.InitContainers {
		if c.Name == inject.SidecarName {
			return &pod.Spec.InitContainers[i], true
		}
	}
	for i, c := range pod.Spec.Containers {
		if c.Name == inject.SidecarName {
			return &pod.Spec.Containers[i], false
		}
	}
	return nil, false
}

func certSecret(pod *corev1.Pod) string {
	for _, v := range pod.Spec.Volumes {
		if v.Name == inject.CertVolume && v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	return ""
}

// probes are the application containers' probes, which the injection
// rewrites to go through the sidecar.
func probes(pod *corev1.Pod) []*corev1.Probe {
	var out []*corev1.Probe
	for _, c := range pod.Spec.Containers {
		if c.Name != inject.SidecarName {
			out = append(out, c.LivenessProbe, c.ReadinessProbe, c.StartupProbe)
		}
	}
	return out
}

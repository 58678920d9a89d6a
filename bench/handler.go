package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	daprpatcher "github.com/dapr/dapr/pkg/injector/patcher"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	ktypes "k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/corpus"
	"github.com/decco-dev/decco/webhook"
)

// handlerResult is one injector's per-call latency on the corpus.
type handlerResult struct {
	name string
	lat  latencies
}

// benchHandlers runs the same 10 KB Pod AdmissionReview through decco's
// handler, the plain path and Dapr's injector core, interleaved so that
// machine noise hits all three alike.
func benchHandlers(calls int) ([]handlerResult, error) {
	pod := corpus.Pod(10 << 10)
	review := corpus.AdmissionReview(pod)
	daprReview := corpus.AdmissionReview(daprPod(pod))
	sp := benchSpace()
	cfg := inject.Config{Image: "decco-sidecar:bench", NativeSidecar: true}

	decco := webhook.Handlers(namespaceReader{sp}, webhook.Options{Inject: cfg, SystemNamespace: "decco-system", MaxRequestBytes: 2 << 20})[webhook.PodPath]
	// Every injector is served the same way: the AdmissionReview in an
	// http.Request body, the response written to a recorder, so the
	// harness costs all three the same.
	runs := []struct {
		name string
		call func() error
	}{
		{"decco webhook handler", func() error { return serve(decco, review) }},
		{"plain path (encoding/json + jsonpatch.CreatePatch)", func() error {
			return serve(asHandler(func(body []byte) ([]byte, error) { return plainPath(body, sp, cfg) }), review)
		}},
		{"Dapr v1.14.0 injector core", func() error { return serve(asHandler(daprPath), daprReview) }},
	}
	results := make([]handlerResult, len(runs))
	for i := range runs {
		results[i].name = runs[i].name
		for range calls / 10 { // warm up
			if err := runs[i].call(); err != nil {
				return nil, fmt.Errorf("%s: %w", runs[i].name, err)
			}
		}
	}
	for range calls {
		for i := range runs {
			start := time.Now()
			if err := runs[i].call(); err != nil {
				return nil, fmt.Errorf("%s: %w", runs[i].name, err)
			}
			results[i].lat = append(results[i].lat, time.Since(start))
		}
	}
	return results, nil
}

// asHandler serves f as a webhook endpoint.
func asHandler(f func(body []byte) ([]byte, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			body, err = f(body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

func serve(h http.Handler, body []byte) error {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, webhook.PodPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"patch"`)) {
		return fmt.Errorf("no patch in response %d: %.200s", rec.Code, rec.Body.String())
	}
	return nil
}

// plainPath is the textbook mutating webhook: encoding/json in and out,
// mutate the typed Pod, diff the two JSON documents into a patch.
func plainPath(body []byte, sp space.Space, cfg inject.Config) ([]byte, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, err
	}
	var pod corev1.Pod
	if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
		return nil, err
	}
	res, err := inject.Pod(&pod, sp, cfg)
	if err != nil {
		return nil, err
	}
	mutated, err := json.Marshal(res.Pod)
	if err != nil {
		return nil, err
	}
	ops, err := jsonpatch.CreatePatch(review.Request.Object.Raw, mutated)
	if err != nil {
		return nil, err
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	return encodeResponse(review.Request.UID, patch)
}

var admissionCodecs = serializer.NewCodecFactory(admissionScheme())

func admissionScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = admissionv1.AddToScheme(s)
	return s
}

// daprPath follows Dapr's injector handler: the AdmissionReview through
// the apimachinery deserializer, the Pod through encoding/json, then its
// patcher's SidecarConfig and GetPatch.
func daprPath(body []byte) ([]byte, error) {
	var review admissionv1.AdmissionReview
	if _, _, err := admissionCodecs.UniversalDeserializer().Decode(body, nil, &review); err != nil {
		return nil, err
	}
	var pod corev1.Pod
	if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
		return nil, err
	}
	sc := daprpatcher.NewSidecarConfig(&pod)
	sc.Namespace = review.Request.Namespace
	sc.SidecarImage = "daprio/daprd:1.14.0"
	sc.ControlPlaneNamespace = "dapr-system"
	sc.ControlPlaneTrustDomain = "cluster.local"
	sc.CurrentTrustAnchors = []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	sc.SentryAddress = "dapr-sentry.dapr-system.svc.cluster.local:443"
	sc.SetFromPodAnnotations()
	patch, err := sc.GetPatch()
	if err != nil {
		return nil, err
	}
	if len(patch) == 0 {
		return nil, fmt.Errorf("dapr produced no patch")
	}
	b, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	return encodeResponse(review.Request.UID, b)
}

func encodeResponse(uid ktypes.UID, patch []byte) ([]byte, error) {
	pt := admissionv1.PatchTypeJSONPatch
	resp := admissionv1.AdmissionResponse{UID: uid, Allowed: true, Patch: patch, PatchType: &pt}
	out := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Response: &resp}
	return json.Marshal(out)
}

// daprPod is the corpus pod with the annotations that opt it into Dapr.
func daprPod(pod *corev1.Pod) *corev1.Pod {
	p := pod.DeepCopy()
	p.Annotations["dapr.io/enabled"] = "true"
	p.Annotations["dapr.io/app-id"] = "shop-api"
	p.Annotations["dapr.io/app-port"] = "8080"
	return p
}

func benchSpace() space.Space {
	sp, err := space.FromNamespace(benchNamespace())
	if err != nil {
		panic(err)
	}
	return sp
}

func benchNamespace() *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: "acme", ResourceVersion: "1",
		Labels:      map[string]string{space.LabelSpace: "acme"},
		Annotations: map[string]string{space.AnnotationDomain: "example.com"},
	}}
}

// namespaceReader serves the one space namespace, standing in for the
// manager's informer cache (a map lookup in both cases).
type namespaceReader struct{ sp space.Space }

func (namespaceReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	ns := benchNamespace()
	if key.Name != ns.Name {
		return fmt.Errorf("namespace %s not found", key.Name)
	}
	obj.SetName(ns.Name)
	obj.SetResourceVersion(ns.ResourceVersion)
	obj.SetLabels(ns.Labels)
	obj.SetAnnotations(ns.Annotations)
	return nil
}

func (namespaceReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

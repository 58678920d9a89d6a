package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
)

// fuzzMaxBytes is the request cap under fuzzing: small, so the fuzzer
// reaches the limit, and large enough for the seed reviews.
const fuzzMaxBytes = 64 << 10

// everyNamespace stands in for the informer cache the way a real cluster
// looks to the webhook: every namespace a request names exists (the
// apiserver refuses objects in missing namespaces before admission), and
// a few are spaces. So no fuzzed request can end in a cache miss, and a
// 5xx answer is always a bug.
type everyNamespace map[string]map[string]string

func (n everyNamespace) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	obj.SetName(key.Name)
	obj.SetResourceVersion("1")
	if ann, ok := n[key.Name]; ok {
		obj.SetLabels(map[string]string{space.LabelSpace: key.Name})
		obj.SetAnnotations(ann)
	}
	return nil
}

func (n everyNamespace) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

func fuzzHandlers() map[string]http.Handler {
	return Handlers(everyNamespace{
		"acme":   {space.AnnotationDomain: "example.com"},
		"kata":   {space.AnnotationDomain: "example.com", space.AnnotationRuntimeClass: "kata"},
		"broken": {space.AnnotationDomain: "Not_A_Domain"},
	}, Options{Inject: testInject, SystemNamespace: "decco-system", MaxRequestBytes: fuzzMaxBytes, Reviewer: reviewer{}})
}

// handlerDeadline is the webhook configuration's timeout: an answer later
// than that is a refusal by the apiserver, so the fuzzer treats it as a
// hang.
const handlerDeadline = TimeoutSeconds * time.Second

// FuzzAdmissionReview posts arbitrary bytes, as an AdmissionReview, to each
// of the webhook's handlers. Whatever comes in: no panic (the handlers
// recover panics into a 500, which fails here too), an answer within the
// webhook timeout, and either a well-formed AdmissionReview whose refusals
// carry a 4xx code and a message, or a 413 with a message for a body over
// the cap. Anything the handler allows with a patch must be a JSON patch
// that applies to the object, and decco never patches what it must leave
// alone (kube-system, decco's own namespace). The seeds in
// testdata/fuzz/FuzzAdmissionReview are real reviews (a valid pod,
// refusals of each kind, a Service, a Deployment) and broken envelopes.
func FuzzAdmissionReview(f *testing.F) {
	handlers := fuzzHandlers()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{PodPath, ServicePath, WorkloadPath, PodUpdatePath, NamespacePath} {
			checkAnswer(t, path, body, serveWithin(t, handlers[path], path, body))
		}
	})
}

// serveWithin runs one request, failing the test if it takes longer than
// handlerDeadline.
func serveWithin(t *testing.T, h http.Handler, path string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	done := make(chan struct{})
	go func() { defer close(done); h.ServeHTTP(rec, req) }()
	select {
	case <-done:
		return rec
	case <-time.After(handlerDeadline):
		t.Fatalf("%s: no answer within %s for a %d-byte body", path, handlerDeadline, len(body))
		return nil
	}
}

// checkAnswer holds the handler's answer to body against the contract the
// apiserver relies on.
func checkAnswer(t *testing.T, path string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	switch rec.Code {
	case http.StatusOK:
	case http.StatusRequestEntityTooLarge:
		if len(body) <= fuzzMaxBytes {
			t.Fatalf("%s: 413 for a %d-byte body under the %d-byte cap", path, len(body), fuzzMaxBytes)
		}
		if !strings.Contains(rec.Body.String(), "limit") {
			t.Fatalf("%s: 413 without saying the limit: %q", path, rec.Body.String())
		}
		return
	default:
		t.Fatalf("%s: HTTP %d: %s", path, rec.Code, rec.Body.String())
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: answer is not JSON: %v: %q", path, err, rec.Body.String())
	}
	if out.APIVersion != admissionv1.SchemeGroupVersion.String() || out.Kind != "AdmissionReview" || out.Response == nil || out.Response.Result == nil {
		t.Fatalf("%s: answer is not a complete AdmissionReview: %s", path, rec.Body.String())
	}
	resp := out.Response
	if code := resp.Result.Code; code >= 500 {
		t.Fatalf("%s: answered %d to a request it should refuse or allow: %s", path, code, resp.Result.Message)
	}
	var in admissionv1.AdmissionReview
	decoded := json.Unmarshal(body, &in) == nil && in.Request != nil
	if !resp.Allowed {
		if code := resp.Result.Code; code < 400 || code >= 500 || strings.TrimSpace(resp.Result.Message) == "" {
			t.Fatalf("%s: refusal without a 4xx code and a message: %+v", path, resp.Result)
		}
		return
	}
	if len(resp.Patch) == 0 || !decoded {
		return
	}
	switch in.Request.Namespace {
	case "kube-system", "kube-public", "kube-node-lease", "decco-system":
		t.Fatalf("%s: patched an object in namespace %s, which decco must leave alone", path, in.Request.Namespace)
	}
	checkPatchApplies(t, path, in.Request, resp.Patch)
}

// checkPatchApplies applies the patch, as the apiserver does, to the
// object as the apiserver would have encoded it (its typed form).
func checkPatchApplies(t *testing.T, path string, req *admissionv1.AdmissionRequest, patch []byte) {
	t.Helper()
	var typed any = &corev1.Pod{}
	if path == ServicePath {
		typed = &corev1.Service{}
	}
	if err := json.Unmarshal(req.Object.Raw, typed); err != nil {
		// The handler decoded what encoding/json can't: nothing the
		// apiserver would send, so there is nothing to compare.
		return
	}
	canonical, err := json.Marshal(typed)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("%s: the patch is not an RFC 6902 patch: %v: %s", path, err, patch)
	}
	patched, err := ops.Apply(canonical)
	if err != nil {
		t.Fatalf("%s: the patch does not apply to the object: %v\npatch: %s\nobject: %s", path, err, patch, canonical)
	}
	if err := json.Unmarshal(patched, typed); err != nil {
		t.Fatalf("%s: the patched object no longer decodes: %v", path, err)
	}
}

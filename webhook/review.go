package webhook

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	gojson "github.com/goccy/go-json"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// reviewServer serves admission.k8s.io/v1 AdmissionReviews to an
// admission.Handler, like controller-runtime's admission.Webhook, but
// decodes and encodes them with goccy/go-json into the same
// k8s.io/api types: every pod creation in a space waits on this path, and
// encoding/json spends most of a request's time on a 10 KB Pod.
type reviewServer struct {
	// kind labels the duration metric.
	kind    string
	handler admission.Handler
	// maxBytes caps the request body; larger requests are refused.
	maxBytes int64
	// decode reads the review: decodeReview, or decodeTyped to decode the
	// object in the same pass.
	decode func(body []byte) (metav1.TypeMeta, *admissionv1.AdmissionRequest, error)
}

// decodeReview decodes an AdmissionReview, leaving the object raw.
func decodeReview(body []byte) (metav1.TypeMeta, *admissionv1.AdmissionRequest, error) {
	var review admissionv1.AdmissionReview
	err := gojson.Unmarshal(body, &review)
	return review.TypeMeta, review.Request, err
}

// reviewOf is an AdmissionReview whose object is a T: the Object field
// here shadows the embedded request's raw one, so one pass decodes both.
type reviewOf[T any] struct {
	metav1.TypeMeta `json:",inline"`
	Request         *requestOf[T] `json:"request"`
}

type requestOf[T any] struct {
	admissionv1.AdmissionRequest
	Object *T `json:"object"`
}

// decodeTyped decodes an AdmissionReview and its object, a T, in one pass.
// The object lands in the request's Object.Object; Object.Raw stays empty.
func decodeTyped[T any, PT interface {
	*T
	runtime.Object
}](body []byte) (metav1.TypeMeta, *admissionv1.AdmissionRequest, error) {
	var review reviewOf[T]
	if err := gojson.Unmarshal(body, &review); err != nil || review.Request == nil {
		return review.TypeMeta, nil, err
	}
	req := &review.Request.AdmissionRequest
	if review.Request.Object != nil {
		req.Object.Object = PT(review.Request.Object)
	}
	return review.TypeMeta, req, nil
}

// objectAs returns the request's object, decoded by decodeTyped.
func objectAs[T runtime.Object](req admission.Request) (T, error) {
	obj, ok := req.Object.Object.(T)
	if !ok {
		return obj, fmt.Errorf("the request carries no %T object", obj)
	}
	return obj, nil
}

func (s *reviewServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { durations.WithLabelValues(s.kind).Observe(time.Since(start).Seconds()) }()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		http.Error(w, fmt.Sprintf("content type %q is not application/json", ct), http.StatusUnsupportedMediaType)
		return
	}
	if r.ContentLength > s.maxBytes {
		refuseBody(w, fmt.Sprintf("admission request of %d bytes is over the %d-byte limit", r.ContentLength, s.maxBytes))
		return
	}
	body, err := readBody(w, r, s.maxBytes)
	if err != nil {
		refuseBody(w, fmt.Sprintf("reading the admission request (limit %d bytes): %v", s.maxBytes, err))
		return
	}
	meta, request, err := s.decode(body)
	if err != nil {
		s.write(w, "", admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding AdmissionReview: %w", err)))
		return
	}
	if meta.APIVersion != admissionv1.SchemeGroupVersion.String() || meta.Kind != "AdmissionReview" || request == nil {
		s.write(w, "", admission.Errored(http.StatusBadRequest,
			fmt.Errorf("want an admission.k8s.io/v1 AdmissionReview with a request, got %s %s", meta.APIVersion, meta.Kind)))
		return
	}
	req := admission.Request{AdmissionRequest: *request}
	ctx := r.Context()
	if l := log.FromContext(ctx); l.V(1).Enabled() {
		ctx = log.IntoContext(ctx, l.WithValues("kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name, "uid", req.UID))
	}
	s.write(w, req.UID, s.handle(ctx, req))
}

// refuseBody answers 413 with a metav1.Status, which the apiserver shows
// its client (a plain-text body shows as "did not return more
// information").
func refuseBody(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	_ = gojson.NewEncoder(w).Encode(&metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure, Code: http.StatusRequestEntityTooLarge,
		Reason: metav1.StatusReasonRequestEntityTooLarge, Message: msg,
	})
}

// readBody reads the request body, sized from Content-Length so a 10 KB
// review is read in one allocation rather than grown from 512 bytes
// (bytes.Buffer.ReadFrom would not do: it grows whenever fewer than 512
// bytes are free, so it copies a body that fits exactly).
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, max)
	if r.ContentLength <= 0 {
		return io.ReadAll(body)
	}
	buf := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, err
	}
	// A body longer than its Content-Length is an error, as net/http's
	// own reader reports it.
	var extra [1]byte
	if n, err := body.Read(extra[:]); n > 0 || (err != nil && err != io.EOF) {
		if err == nil {
			err = fmt.Errorf("body is longer than its Content-Length %d", r.ContentLength)
		}
		return nil, err
	}
	return buf, nil
}

// handle runs the handler, turning a panic into a refusal rather than a
// dropped connection the apiserver would retry.
func (s *reviewServer) handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	defer func() {
		if p := recover(); p != nil {
			log.FromContext(ctx).Error(fmt.Errorf("%v", p), "admission handler panicked")
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("internal error handling %s", req.Kind.Kind))
		}
	}()
	return s.handler.Handle(ctx, req)
}

func (s *reviewServer) write(w http.ResponseWriter, uid types.UID, resp admission.Response) {
	if err := complete(&resp, uid); err != nil {
		resp = admission.Errored(http.StatusInternalServerError, err)
		_ = complete(&resp, uid)
	}
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: &resp.AdmissionResponse,
	}
	w.Header().Set("Content-Type", "application/json")
	if err := gojson.NewEncoder(w).Encode(&out); err != nil {
		log.Log.Error(err, "writing the admission response")
	}
}

// complete fills in what the apiserver requires of a response, as
// admission.Response.Complete does, with the patch encoded by the fast
// codec.
func complete(resp *admission.Response, uid types.UID) error {
	resp.UID = uid
	if resp.Result == nil {
		resp.Result = &metav1.Status{}
	}
	if resp.Result.Code == 0 {
		resp.Result.Code = http.StatusOK
	}
	if len(resp.Patches) == 0 {
		return nil
	}
	// jsonpatch.Operation's own MarshalJSON goes through encoding/json;
	// the wire form is the same, written by the fast codec.
	wire := make([]wireOp, len(resp.Patches))
	for i, op := range resp.Patches {
		wire[i] = wireOp{Op: op.Operation, Path: op.Path, Value: op.Value}
	}
	patch, err := gojson.Marshal(wire)
	if err != nil {
		return fmt.Errorf("encoding the JSON patch: %w", err)
	}
	resp.Patch = patch
	resp.PatchType = ptr.To(admissionv1.PatchTypeJSONPatch)
	return nil
}

// wireOp is a JSON patch operation as RFC 6902 writes it.
type wireOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Package webhook is decco's admission webhook: it injects the TLS sidecar
// into Pods, points Services at the TLS listeners, and validates workload
// objects at apply time. Decisions are made by the pure inject and space
// packages; this package only decodes, looks up the namespace in a cache,
// and encodes the answer.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// Paths the handlers are served on.
const (
	PodPath       = "/inject-pod"
	ServicePath   = "/mutate-service"
	WorkloadPath  = "/validate-workload"
	NamespacePath = "/validate-namespace"
	PodUpdatePath = "/validate-pod-update"
)

// Options configure the handlers.
type Options struct {
	// Inject is the sidecar configuration, the same for every pod.
	Inject inject.Config
	// SystemNamespace is decco's own namespace: never handled.
	SystemNamespace string
	// MaxRequestBytes caps an admission request's body.
	MaxRequestBytes int64
	// LiveReader, when set, reads from the apiserver a namespace the
	// cache has not seen yet (created a moment ago), or holds as no
	// valid space (it may have become one a moment ago), instead of
	// failing or refusing from a stale copy; and the pods or Services a
	// Service or workload pairs with, to warn about ports no pod declares
	// (see mismatchLookup).
	LiveReader client.Reader
	// Reviewer answers the namespace guard's permission questions; nil
	// refuses every guarded change with an error (fail closed).
	Reviewer Reviewer
}

// Setup registers the handlers on mgr's webhook server and starts the
// metadata-only Namespace informer they read spaces from. An admission
// makes an API call only when the informer may lag: for a namespace it
// has not seen, and before refusing a namespace as no (valid) space.
func Setup(ctx context.Context, mgr manager.Manager, opts Options) error {
	if _, err := mgr.GetCache().GetInformer(ctx, space.NamespaceMeta()); err != nil {
		return fmt.Errorf("starting the namespace metadata informer: %w", err)
	}
	opts.LiveReader = mgr.GetAPIReader()
	opts.Reviewer = SubjectAccessReviewer{Client: mgr.GetClient()}
	for path, h := range Handlers(mgr.GetCache(), opts) {
		mgr.GetWebhookServer().Register(path, h)
	}
	return nil
}

// Handlers returns the admission handlers by path, reading namespaces from
// reader (the manager's informer cache in production).
func Handlers(reader client.Reader, opts Options) map[string]http.Handler {
	spaces := &spaceLookup{reader: reader, live: opts.LiveReader, system: opts.SystemNamespace}
	serve := func(kind string, h admission.Handler, decode func([]byte) (metav1.TypeMeta, *admissionv1.AdmissionRequest, error)) http.Handler {
		return &reviewServer{kind: kind, maxBytes: opts.MaxRequestBytes, handler: h, decode: decode}
	}
	mismatches := mismatchLookup{live: opts.LiveReader}
	transparent := opts.Inject.Interception == inject.InterceptCNI
	if transparent {
		// cni interception serves every TCP port over TLS, declared or
		// not: a port no pod declares is no mismatch.
		mismatches = mismatchLookup{}
	}
	return map[string]http.Handler{
		PodPath:       serve("Pod", &podInjector{spaces: spaces, cfg: opts.Inject}, decodeTyped[corev1.Pod]),
		ServicePath:   serve("Service", &serviceMutator{spaces: spaces, mismatches: mismatches, transparent: transparent}, decodeTyped[corev1.Service]),
		WorkloadPath:  serve("workload", &workloadValidator{spaces: spaces, cfg: opts.Inject, mismatches: mismatches}, decodeReview),
		PodUpdatePath: serve("PodUpdate", &podUpdateValidator{cfg: opts.Inject}, decodeReview),
		NamespacePath: serve("Namespace", &namespaceGuard{reviewer: opts.Reviewer, system: opts.SystemNamespace}, decodeReview),
	}
}

// spaceLookup reads a namespace's space from the informer cache.
type spaceLookup struct {
	reader client.Reader
	// live reads what the cache has not seen yet; nil: none.
	live   client.Reader
	system string
	// spaces remembers each namespace's parsed space by resourceVersion:
	// namespaces change rarely and pods are admitted often.
	spaces space.Memo
}

// namespace reads namespace name from the cache; a namespace created a
// moment ago may not be there yet, and then the one API call of the
// admission path reads it from the apiserver.
func (l *spaceLookup) namespace(ctx context.Context, name string, into *metav1.PartialObjectMetadata) error {
	err := l.reader.Get(ctx, client.ObjectKey{Name: name}, into)
	if apierrors.IsNotFound(err) && l.live != nil {
		return l.live.Get(ctx, client.ObjectKey{Name: name}, into)
	}
	return err
}

// spaceOf resolves the space that what (an object labeled with a space)
// claims in namespace ns. It returns a response when the request ends here
// (allowed or denied), or nil and the space.
func (l *spaceLookup) spaceOf(ctx context.Context, ns, what string) (*admission.Response, space.Space) {
	if ns == "" || space.Excluded(ns, l.system) {
		r := admission.Allowed("decco does not handle namespace " + ns)
		return &r, space.Space{}
	}
	meta := space.NamespaceMeta()
	if err := l.namespace(ctx, ns, meta); err != nil {
		r := admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading namespace %s: %w", ns, err))
		return &r, space.Space{}
	}
	sp, err := l.spaces.FromNamespace(meta)
	if err != nil && l.live != nil {
		// The apiserver called us because it sees the namespace as a
		// space; an informer can lag behind it, so a namespace labeled a
		// moment ago may still be cached unlabeled. Refusals are rare:
		// read the namespace itself before refusing.
		if err := l.live.Get(ctx, client.ObjectKey{Name: ns}, meta); err != nil {
			r := admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading namespace %s: %w", ns, err))
			return &r, space.Space{}
		}
		sp, err = l.spaces.FromNamespace(meta)
	}
	switch {
	case err == nil:
		return nil, sp
	case errors.Is(err, space.ErrNotASpace):
		r := admission.Denied(fmt.Sprintf("%s has label %s but namespace %s is not a space; remove the label, or make %s a space: label it %s=%s and set %s",
			what, space.LabelSpace, ns, ns, space.LabelSpace, ns, space.AnnotationDomain))
		return &r, sp
	default:
		r := admission.Denied(fmt.Sprintf("namespace %s is not a valid space, so %s can't join it: %v", ns, what, err))
		return &r, sp
	}
}

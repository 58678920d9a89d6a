package webhook

import (
	"context"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// podInjector adds the TLS sidecar to Pods created in a space.
type podInjector struct {
	spaces *spaceLookup
	cfg    inject.Config
}

func (h *podInjector) Handle(ctx context.Context, req admission.Request) admission.Response {
	pod, err := objectAs[*corev1.Pod](req)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	// The apiserver fills in the namespace after admission of generated
	// names; the request always has it.
	pod.Namespace = req.Namespace
	// Unlabeled pods come here too: a space's RuntimeClass binds every pod
	// in it, injected or not, and inject.Pod enforces it.
	stop, sp := h.spaces.spaceOf(ctx, req.Namespace, "pod "+space.ObjectName(pod))
	if stop != nil {
		return observe(ctx, "Pod", *stop, "", "NotASpace")
	}
	res, err := inject.Pod(pod, sp, h.cfg)
	if err != nil {
		return refused(ctx, "Pod", err)
	}
	// inject.Pod returns the input pointer when nothing changed; a skipped
	// pod may still have been changed (given the space's RuntimeClass).
	if res.Pod == pod {
		return observe(ctx, "Pod", admission.Allowed(string(res.Decision)), res.Decision, "")
	}
	ops := fieldPatch(
		structPair{"/metadata", &pod.ObjectMeta, &res.Pod.ObjectMeta},
		structPair{"/spec", &pod.Spec, &res.Pod.Spec},
	)
	return observe(ctx, "Pod", admission.Patched(string(res.Decision), ops...), res.Decision, "")
}

// refused turns an inject refusal into a denial that names its reason.
func refused(ctx context.Context, kind string, err error) admission.Response {
	r, ok := inject.IsRefusal(err)
	if !ok {
		return observe(ctx, kind, admission.Errored(http.StatusInternalServerError, err), "", "Error")
	}
	resp := admission.Denied(r.Message)
	resp.Result.Reason = metav1.StatusReason("decco." + string(r.Reason))
	return observe(ctx, kind, resp, "", string(r.Reason))
}

// observe records the outcome in metrics and logs before returning it.
func observe(ctx context.Context, kind string, resp admission.Response, d inject.Decision, reason string) admission.Response {
	outcome := string(d)
	if !resp.Allowed {
		outcome = "Refused"
	}
	admissions.WithLabelValues(kind, outcome, reason).Inc()
	log.FromContext(ctx).V(1).Info("admission", "kind", kind, "outcome", outcome, "reason", reason)
	return resp
}

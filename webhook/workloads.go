package webhook

import (
	"context"
	"fmt"
	"net/http"

	gojson "github.com/goccy/go-json"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// workloadValidator checks workload objects (Deployment, StatefulSet,
// DaemonSet, ReplicaSet, Job, CronJob) at apply time by running injection
// on their pod template, so a user sees a wrong space label or a malformed
// annotation on `kubectl apply`, not later as a ReplicaSet event.
type workloadValidator struct {
	spaces     *spaceLookup
	cfg        inject.Config
	mismatches mismatchLookup
}

// templated decodes the pod template of every workload kind at once: most
// keep it at spec.template, CronJob at spec.jobTemplate.spec.template.
type templated struct {
	Metadata struct {
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		Template    *corev1.PodTemplateSpec `json:"template"`
		JobTemplate *struct {
			Spec struct {
				Template *corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

func (t *templated) podTemplate() *corev1.PodTemplateSpec {
	if t.Spec.JobTemplate != nil {
		return t.Spec.JobTemplate.Spec.Template
	}
	return t.Spec.Template
}

func (h *workloadValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	kind := req.Kind.Kind
	var obj templated
	if err := gojson.Unmarshal(req.Object.Raw, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding %s: %w", kind, err))
	}
	tmpl := obj.podTemplate()
	if tmpl == nil {
		return admission.Allowed("no pod template")
	}
	if _, labeled := tmpl.Labels[space.LabelSpace]; !labeled {
		return observe(ctx, kind, admission.Allowed(string(inject.SkippedNoLabel)), inject.SkippedNoLabel, "")
	}
	what := fmt.Sprintf("%s %s/%s", kind, req.Namespace, req.Name)
	stop, sp := h.spaces.spaceOf(ctx, req.Namespace, what)
	if stop != nil {
		return observe(ctx, kind, *stop, "", "NotASpace")
	}
	pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	pod.Namespace, pod.Name = req.Namespace, req.Name
	res, err := inject.Pod(pod, sp, h.cfg)
	if err != nil {
		if r, ok := inject.IsRefusal(err); ok {
			resp := admission.Denied(fmt.Sprintf("%s: pod template: %s", what, r.Message))
			resp.Result.Reason = metav1.StatusReason("decco." + string(r.Reason))
			return observe(ctx, kind, resp, "", string(r.Reason))
		}
		return admission.Errored(http.StatusInternalServerError, err)
	}
	// A controller's objects (a Deployment's ReplicaSets, a CronJob's
	// Jobs) have no one to read a warning; their owner was warned.
	var warnings []string
	if !controlled(obj.Metadata.OwnerReferences) {
		warnings = h.mismatches.forPod(ctx, res.Pod)
	}
	return observe(ctx, kind, admission.Allowed("pod template is valid for space "+sp.Name).WithWarnings(warnings...), "Valid", "")
}

// controlled reports whether refs name a controller: the object was made
// by one, not applied by a user.
func controlled(refs []metav1.OwnerReference) bool {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}

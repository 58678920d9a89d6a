package webhook

import (
	"context"
	"fmt"
	"net/http"

	gojson "github.com/goccy/go-json"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// serviceMutator points the numeric target ports of a space's Services at
// the sidecar's TLS listeners, so a Service never reaches a plaintext port.
type serviceMutator struct {
	spaces     *spaceLookup
	mismatches mismatchLookup
	// transparent: cni interception serves TLS on the target ports
	// themselves, so Services are left as written (decco's keys a user
	// wrote are still dropped).
	transparent bool
}

func (h *serviceMutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	svc, err := objectAs[*corev1.Service](req)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	svc.Namespace = req.Namespace
	label, labeled := svc.Labels[space.LabelSpace]
	if !labeled {
		return observe(ctx, "Service", admission.Allowed(string(inject.SkippedNoLabel)), inject.SkippedNoLabel, "")
	}
	what := "service " + req.Namespace + "/" + svc.Name
	stop, sp := h.spaces.spaceOf(ctx, req.Namespace, what)
	if stop != nil {
		return observe(ctx, "Service", *stop, "", "NotASpace")
	}
	if label != sp.Name {
		return refusedWrongSpace(ctx, "Service", what, label, sp.Name)
	}
	if _, err := space.ExposureFromService(svc); err != nil {
		resp := admission.Denied(fmt.Sprintf("%s: %v", what, err))
		return observe(ctx, "Service", resp, "", string(inject.InvalidAnnotation))
	}
	old, err := oldService(req)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	out := inject.TrustedService(svc, old)
	done := "target ports point at the TLS listeners"
	if h.transparent {
		// A Service rewritten while the cluster ran ports interception
		// gets its targets back on its next write.
		out, _, err = inject.RestoreService(out)
		done = "target ports restored from the ports-mode rewrite"
	} else {
		out, _, err = inject.Service(out)
	}
	if err != nil {
		resp := admission.Denied(err.Error())
		return observe(ctx, "Service", resp, "", string(inject.PortConflict))
	}
	// Compared with the request, not TrustedService's copy: a user's
	// decco.io/ value that was replaced is a change to patch.
	changed := !equality.Semantic.DeepEqual(svc.ObjectMeta, out.ObjectMeta) || !equality.Semantic.DeepEqual(svc.Spec, out.Spec)
	// Warned about as stored: rewritten targets meet the listeners.
	warnings := h.mismatches.forService(ctx, out)
	if !changed {
		return observe(ctx, "Service", admission.Allowed(string(inject.UpToDate)).WithWarnings(warnings...), inject.UpToDate, "")
	}
	ops := fieldPatch(
		structPair{"/metadata", &svc.ObjectMeta, &out.ObjectMeta},
		structPair{"/spec", &svc.Spec, &out.Spec},
	)
	return observe(ctx, "Service", admission.Patched(done, ops...).WithWarnings(warnings...), inject.Injected, "")
}

// oldService is the Service as stored, on an update; nil on create.
func oldService(req admission.Request) (*corev1.Service, error) {
	if req.Operation != admissionv1.Update || len(req.OldObject.Raw) == 0 {
		return nil, nil
	}
	var old corev1.Service
	if err := gojson.Unmarshal(req.OldObject.Raw, &old); err != nil {
		return nil, fmt.Errorf("decoding the stored Service: %w", err)
	}
	return &old, nil
}

func refusedWrongSpace(ctx context.Context, kind, what, label, spaceName string) admission.Response {
	resp := admission.Denied(fmt.Sprintf("%s has %s=%s but its namespace is space %s; set the label to %s or move the object to namespace %s",
		what, space.LabelSpace, label, spaceName, spaceName, label))
	resp.Result.Reason = metav1.StatusReason("decco." + string(inject.WrongSpace))
	return observe(ctx, kind, resp, "", string(inject.WrongSpace))
}

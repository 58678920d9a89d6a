package webhook

import (
	"context"
	"fmt"
	"net/http"

	gojson "github.com/goccy/go-json"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/decco-dev/decco/inject"
)

// podUpdateValidator checks updates of pods in spaces, and of their
// ephemeral containers: decco checks a pod when it is created, so an
// update must not move it into a space (kubectl label), touch what decco
// injected, or add a debug container that reaches the sidecar's key.
type podUpdateValidator struct {
	cfg inject.Config
}

func (h *podUpdateValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	kind := "PodUpdate"
	if req.SubResource == "ephemeralcontainers" {
		kind = "EphemeralContainers"
	}
	var pod, old corev1.Pod
	if err := gojson.Unmarshal(req.Object.Raw, &pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err))
	}
	if err := gojson.Unmarshal(req.OldObject.Raw, &old); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod's previous version: %w", err))
	}
	pod.Namespace = req.Namespace
	if err := inject.PodUpdate(&old, &pod, h.cfg); err != nil {
		return refused(ctx, kind, err)
	}
	return observe(ctx, kind, admission.Allowed("nothing decco checks changed"), "Valid", "")
}

package inject

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/decco-dev/decco/space"
)

// PodUpdate checks an update of a pod in a space (the pod itself, or its
// ephemeralcontainers subresource). decco checks and injects pods when
// they are created, so an update may not move a pod into or out of a
// space, touch what decco injected, or add an ephemeral container that
// could read the sidecar's key or reroute the pod's traffic. Errors are
// *Refusal.
func PodUpdate(old, pod *corev1.Pod, cfg Config) error {
	if err := checkUnchangedLabel(old, pod, space.LabelSpace,
		"decco checks and injects a pod when it is created, so the space label can only be set then; create the pod with it (in its Deployment's pod template, say), or leave it off"); err != nil {
		return err
	}
	if err := checkUnchangedLabel(old, pod, space.LabelInjected,
		"decco sets it on pods it injected, and the space's NetworkPolicy opens the pods carrying it; leave it as decco wrote it"); err != nil {
		return err
	}
	if err := checkUnchangedLabel(old, pod, space.LabelInterception,
		"decco sets it on pods it injected for cni interception, and the space's NetworkPolicy opens only the pods of the cluster's mode; leave it as decco wrote it"); err != nil {
		return err
	}
	for _, k := range []string{space.AnnotationInjected, space.AnnotationInterception} {
		// The plan is read again whenever the pod's sandbox is recreated.
		if old.Annotations[k] != pod.Annotations[k] {
			return refuse(pod, Immutable, "annotation %s records what decco injected and is decco's alone; leave it as decco wrote it", k)
		}
	}
	if !equality.Semantic.DeepEqual(sidecarOf(old), sidecarOf(pod)) {
		return refuse(pod, Immutable,
			"container %q is decco's TLS sidecar and holds the space's key; it can't be changed in a running pod (a new injection replaces it when the pod is recreated)", SidecarName)
	}
	return EphemeralContainers(pod, cfg)
}

// checkUnchangedLabel refuses adding, changing or removing label key.
func checkUnchangedLabel(old, pod *corev1.Pod, key, why string) error {
	was, had := old.Labels[key]
	is, has := pod.Labels[key]
	if had == has && was == is {
		return nil
	}
	switch {
	case !had:
		return refuse(pod, Immutable, "adding label %s=%s to an existing pod is refused: %s", key, is, why)
	case !has:
		return refuse(pod, Immutable, "removing label %s from an existing pod is refused: %s", key, why)
	default:
		return refuse(pod, Immutable, "changing label %s from %q to %q is refused: %s", key, was, is, why)
	}
}

// sidecarOf is decco's sidecar in pod, or nil.
func sidecarOf(pod *corev1.Pod) *corev1.Container {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		if i := slices.IndexFunc(cs, isSidecar); i >= 0 {
			return &cs[i]
		}
	}
	return nil
}

// EphemeralContainers checks a pod's ephemeral containers (kubectl debug)
// like its other containers: no privileges past the container, not the
// sidecar's UID, no mount of decco's volumes, and no debugging of the
// sidecar itself, whose process namespace holds the space's key.
func EphemeralContainers(pod *corev1.Pod, cfg Config) error {
	for i := range pod.Spec.EphemeralContainers {
		ec := &pod.Spec.EphemeralContainers[i]
		if ec.TargetContainerName == SidecarName {
			return refuse(pod, DebugSidecar,
				"ephemeral container %q targets %q, decco's TLS sidecar, whose processes hold the space's key; target the app's container instead", ec.Name, SidecarName)
		}
		c := (*corev1.Container)(&ec.EphemeralContainerCommon)
		if err := checkPrivileges(pod, c); err != nil {
			return err
		}
		if err := checkContainer(pod, c, cfg.uid()); err != nil {
			return err
		}
	}
	return nil
}

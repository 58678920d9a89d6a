package inject

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// writableCopy returns a copy of pod that Pod may change, sharing with pod
// every part Pod only reads. A deep copy of a 10 KB pod was the largest
// single cost of an admission, and most of it (environment, mounts,
// resources, command lines) is never written; shared parts also let the
// webhook's patch walk see them unchanged by address rather than compare
// them element by element.
//
// What is copied is exactly what Pod writes: the labels and annotations;
// the container and volume lists (the sidecar and decco's volumes are
// removed and added); and in each app container, the ports (renamed when
// taken over) and the probes and lifecycle hooks (their ports and handlers
// are rewritten). A new write to any other part of the pod must copy that
// part here first: TestPropertyIdempotent fails if any call of Pod changes
// its input.
func writableCopy(pod *corev1.Pod) *corev1.Pod {
	out := *pod
	out.Labels = maps.Clone(pod.Labels)
	out.Annotations = maps.Clone(pod.Annotations)
	out.Spec.InitContainers = slices.Clone(pod.Spec.InitContainers)
	out.Spec.Containers = slices.Clone(pod.Spec.Containers)
	for i := range out.Spec.Containers {
		c := &out.Spec.Containers[i]
		c.Ports = slices.Clone(c.Ports)
		c.LivenessProbe = c.LivenessProbe.DeepCopy()
		c.ReadinessProbe = c.ReadinessProbe.DeepCopy()
		c.StartupProbe = c.StartupProbe.DeepCopy()
		c.Lifecycle = c.Lifecycle.DeepCopy()
	}
	out.Spec.Volumes = slices.Clone(pod.Spec.Volumes)
	return &out
}

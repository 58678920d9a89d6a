package inject

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
)

// takeOverPorts renames every exposed app port to app-<port> (the sidecar
// declares the original name on the listener) and rewrites the container's
// probes and lifecycle hooks that named it to the number: the kubelet
// resolves a named probe port against the container's own ports, so the
// old name would no longer resolve.
func takeOverPorts(pod *corev1.Pod, ls []sidecar.Listener) {
	moved := map[int32]bool{}
	for _, l := range ls {
		moved[l.AppPort] = true
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		var renamed map[string]int32
		for j := range c.Ports {
			p := &c.Ports[j]
			if !isTCP(*p) || !moved[p.ContainerPort] {
				continue
			}
			if p.Name != "" {
				if renamed == nil {
					renamed = map[string]int32{}
				}
				renamed[p.Name] = p.ContainerPort
			}
			p.Name = renamedAppPort(p.ContainerPort)
		}
		if renamed != nil {
			rewriteHandlers(c, renamed)
		}
	}
}

// rewriteHandlers replaces named ports in c's probes and lifecycle hooks.
func rewriteHandlers(c *corev1.Container, renamed map[string]int32) {
	for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if pr != nil {
			rewriteHandler(pr.HTTPGet, pr.TCPSocket, renamed)
		}
	}
	if c.Lifecycle != nil {
		for _, h := range []*corev1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if h != nil {
				rewriteHandler(h.HTTPGet, h.TCPSocket, renamed)
			}
		}
	}
}

func rewriteHandler(h *corev1.HTTPGetAction, t *corev1.TCPSocketAction, renamed map[string]int32) {
	if h != nil {
		rewritePort(&h.Port, renamed)
	}
	if t != nil {
		rewritePort(&t.Port, renamed)
	}
}

func rewritePort(p *intstr.IntOrString, renamed map[string]int32) {
	if p.Type != intstr.String {
		return
	}
	if n, ok := renamed[p.StrVal]; ok {
		*p = intstr.FromInt32(n)
	}
}

// removeInjection undoes a previous injection in place: the sidecar (from
// either container list), decco's volumes, the annotation, and the app
// port renames. Original names are read back from the old sidecar's
// declared ports rather than its arguments, so a change of the argument
// format can't strand a pod. Probe rewrites are kept: numeric probe ports
// are what a new injection would produce anyway.
func removeInjection(pod *corev1.Pod) {
	var old []corev1.Container
	pod.Spec.Containers, old = cut(pod.Spec.Containers, old)
	pod.Spec.InitContainers, old = cut(pod.Spec.InitContainers, old)
	pod.Spec.Volumes = nilIfEmpty(slices.DeleteFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == CertVolume || v.Name == TmpVolume
	}))
	delete(pod.Annotations, space.AnnotationInjected)
	delete(pod.Annotations, space.AnnotationInterception)
	delete(pod.Labels, space.LabelInjected)
	delete(pod.Labels, space.LabelInterception)
	restoreProbes(pod)
	names := map[int32]string{} // listener port -> original app port name
	for _, c := range old {
		for _, p := range c.Ports {
			if p.Name != HealthName {
				names[p.ContainerPort] = p.Name
			}
		}
	}
	for i := range pod.Spec.Containers {
		restoreNames(pod.Spec.Containers[i].Ports, names)
	}
}

// cut removes decco's sidecar from cs, appending it to removed.
func cut(cs, removed []corev1.Container) ([]corev1.Container, []corev1.Container) {
	i := slices.IndexFunc(cs, isSidecar)
	if i < 0 {
		return cs, removed
	}
	removed = append(removed, cs[i])
	return nilIfEmpty(slices.Delete(cs, i, i+1)), removed
}

// nilIfEmpty keeps removal an exact inverse of insertion into a nil list.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// restoreNames gives app-<n> ports back the name the sidecar held for
// listener ListenerPort(n); tls-<n> stands for "had no name".
func restoreNames(ports []corev1.ContainerPort, names map[int32]string) {
	for j := range ports {
		p := &ports[j]
		if p.Name != renamedAppPort(p.ContainerPort) {
			continue
		}
		orig, ok := names[ListenerPort(p.ContainerPort)]
		if !ok {
			continue
		}
		if orig == "tls-"+strconv.Itoa(int(p.ContainerPort)) {
			orig = ""
		}
		p.Name = orig
	}
}

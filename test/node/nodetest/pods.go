package nodetest

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// PodReady reports whether p's Ready condition is true.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// PodStates sums up pods' phases and their containers' states, init
// containers (the sidecar) first, for a failure message.
func PodStates(pods []corev1.Pod) string {
	var parts []string
	for _, p := range pods {
		var cs []string
		for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			cs = append(cs, s.Name+"="+containerState(s))
		}
		parts = append(parts, fmt.Sprintf("%s %s [%s]", p.Name, p.Status.Phase, strings.Join(cs, ", ")))
	}
	return strings.Join(parts, "; ")
}

func containerState(s corev1.ContainerStatus) string {
	switch {
	case s.State.Running != nil:
		return fmt.Sprintf("running(ready=%t)", s.Ready)
	case s.State.Waiting != nil:
		return "waiting:" + s.State.Waiting.Reason + " " + s.State.Waiting.Message
	case s.State.Terminated != nil:
		return fmt.Sprintf("terminated:%s(%d)", s.State.Terminated.Reason, s.State.Terminated.ExitCode)
	}
	return "?"
}

// SplitImage splits "repository:tag" at its last colon, so a registry
// port stays in the repository; a reference without a tag has an empty one.
func SplitImage(ref string) (repository, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, ""
	}
	return ref[:i], ref[i+1:]
}

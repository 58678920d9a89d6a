package inject

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/space"
)

// checkPod refuses pods whose runtime the sidecar can't vouch for (the
// network and the node were checked by checkIsolation).
func checkPod(pod *corev1.Pod, sp space.Space) error {
	return checkRuntimeClass(pod, sp)
}

func runtimeClass(pod *corev1.Pod) string {
	if pod.Spec.RuntimeClassName == nil {
		return ""
	}
	return *pod.Spec.RuntimeClassName
}

// checkRuntimeClass refuses a pod asking for another RuntimeClass than the
// one its space forces; a pod asking for none gets the space's.
func checkRuntimeClass(pod *corev1.Pod, sp space.Space) error {
	rc := runtimeClass(pod)
	if sp.RuntimeClass == "" || rc == "" || rc == sp.RuntimeClass {
		return nil
	}
	return refuse(pod, RuntimeClassMismatch,
		"runtimeClassName is %q but space %q runs every pod under RuntimeClass %q (namespace annotation %s); remove runtimeClassName or set it to %q",
		rc, sp.Name, sp.RuntimeClass, space.AnnotationRuntimeClass, sp.RuntimeClass)
}

func setRuntimeClass(pod *corev1.Pod, sp space.Space) {
	if sp.RuntimeClass != "" && runtimeClass(pod) == "" {
		rc := sp.RuntimeClass
		pod.Spec.RuntimeClassName = &rc
	}
}

// checkReservedNames refuses a pod that was not injected by decco but
// already uses the sidecar's container or volume names: they would be
// mistaken for decco's own on the next run.
func checkReservedNames(pod *corev1.Pod) error {
	var err error
	eachContainer(pod, func(c *corev1.Container) bool {
		if c.Name == SidecarName {
			err = refuse(pod, ContainerConflict,
				"container name %q is reserved for decco's TLS sidecar; rename the container", SidecarName)
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name == CertVolume || v.Name == TmpVolume {
			return refuse(pod, VolumeConflict,
				"volume name %q is reserved for decco's TLS sidecar; rename the volume", v.Name)
		}
	}
	return nil
}

// checkContainers checks every app container (the sidecar is already
// removed from pod): no mount of decco's volumes, not the sidecar's UID
// (privileges were checked by checkIsolation).
func checkContainers(pod *corev1.Pod, uid int64) error {
	var err error
	eachContainer(pod, func(c *corev1.Container) bool {
		err = checkContainer(pod, c, uid)
		return err == nil
	})
	return err
}

func checkContainer(pod *corev1.Pod, c *corev1.Container, uid int64) error {
	for _, m := range c.VolumeMounts {
		if m.Name == CertVolume || m.Name == TmpVolume {
			return refuse(pod, VolumeConflict,
				"container %q mounts volume %q, which only decco's sidecar may mount (it holds the space's TLS key); remove the volumeMount", c.Name, m.Name)
		}
	}
	if got, field := effectiveUID(pod, c); got == uid {
		return refuse(pod, ReservedUID,
			"container %q runs as UID %d (%s), which is reserved for decco's TLS sidecar: the same UID could read the sidecar's private key, and with cni interception its connections would skip the sidecar and fail at the peers' TLS listeners; set %s to another UID, or have the platform run the sidecar as another UID (manager flag --sidecar-uid, chart value sidecar.uid)",
			c.Name, uid, field, field)
	}
	return nil
}

// normCap normalizes a capability the way container runtimes read it:
// case-insensitive, CAP_ prefix optional.
func normCap(c corev1.Capability) string {
	return strings.TrimPrefix(strings.ToUpper(string(c)), "CAP_")
}

// effectiveUID is the UID a container runs as when one is set in the spec
// (container level overrides pod level), with the field that sets it; -1
// when the image decides, which admission can't see (the image's USER is
// in its config, not the pod).
func effectiveUID(pod *corev1.Pod, c *corev1.Container) (int64, string) {
	if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
		return *c.SecurityContext.RunAsUser, "its securityContext.runAsUser"
	}
	if pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.RunAsUser != nil {
		return *pod.Spec.SecurityContext.RunAsUser, "the pod's spec.securityContext.runAsUser"
	}
	return -1, ""
}

// eachContainer calls f on every init and regular container, in spec
// order, until f returns false.
func eachContainer(pod *corev1.Pod, f func(*corev1.Container) bool) {
	for i := range pod.Spec.InitContainers {
		if !f(&pod.Spec.InitContainers[i]) {
			return
		}
	}
	for i := range pod.Spec.Containers {
		if !f(&pod.Spec.Containers[i]) {
			return
		}
	}
}

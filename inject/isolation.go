package inject

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/space"
)

// allowedCaps are the capabilities a container in a space may add: Pod
// Security baseline's list, none of which reaches another process, the
// node or the pod's network.
var allowedCaps = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// checkIsolation refuses what would let a pod of a space reach past its
// own containers: the node's network, processes, IPC or filesystem (where
// every space's mounted keys live), other processes' memory, or the whole
// kernel. It runs on every pod created in a space namespace, labeled or
// not, opted out or not: a pod that skips injection still shares the node
// with other tenants' sidecars.
func checkIsolation(pod *corev1.Pod) error {
	s := &pod.Spec
	switch {
	case s.HostNetwork:
		return refuse(pod, HostNetwork,
			"hostNetwork: true puts the app on the node's network, outside decco's TLS listeners and network policies; remove hostNetwork from the pod spec")
	case s.HostPID:
		return refuse(pod, HostAccess,
			"hostPID: true shows the pod every process on the node, and through /proc the TLS keys of every space's sidecars there; remove hostPID")
	case s.HostIPC:
		return refuse(pod, HostAccess,
			"hostIPC: true shares the node's IPC namespace with other tenants' pods; remove hostIPC")
	}
	for _, v := range s.Volumes {
		if v.HostPath != nil {
			return refuse(pod, HostAccess,
				"volume %q is a hostPath (%s): the node's filesystem holds every space's mounted keys; use an emptyDir, a ConfigMap, a Secret or a PersistentVolumeClaim",
				v.Name, v.HostPath.Path)
		}
	}
	if unconfined(s.SecurityContext) {
		return refuse(pod, Unconfined, "securityContext.seccompProfile is Unconfined, which opens every system call of the node's kernel to the app; use RuntimeDefault or a Localhost profile")
	}
	var err error
	eachContainer(pod, func(c *corev1.Container) bool {
		err = checkPrivileges(pod, c)
		return err == nil
	})
	return err
}

// checkPrivileges refuses a container (regular, init or ephemeral) that
// could leave its sandbox or reroute the pod's traffic.
func checkPrivileges(pod *corev1.Pod, c *corev1.Container) error {
	for _, p := range c.Ports {
		if p.HostPort != 0 {
			return refuse(pod, HostNetwork,
				"container %q port %d has hostPort %d, a plaintext path into the pod from the node; remove hostPort and expose the port through a Service",
				c.Name, p.ContainerPort, p.HostPort)
		}
	}
	sc := c.SecurityContext
	if sc == nil {
		return nil
	}
	if sc.Privileged != nil && *sc.Privileged {
		return refuse(pod, NetAdmin,
			"container %q is privileged: it reaches the node and could reroute the pod's traffic around decco's TLS sidecar; remove securityContext.privileged", c.Name)
	}
	if sc.Capabilities != nil {
		for _, cp := range sc.Capabilities.Add {
			switch n := normCap(cp); {
			case n == "NET_ADMIN" || n == "ALL":
				return refuse(pod, NetAdmin,
					"container %q adds capability %s, which could reroute the pod's traffic around decco's TLS sidecar; remove it from securityContext.capabilities.add", c.Name, cp)
			case n == "SYS_PTRACE":
				return refuse(pod, Capability,
					"container %q adds capability %s, which reads other processes' memory and files through /proc (with shareProcessNamespace or hostPID, the TLS sidecar's key); remove it from securityContext.capabilities.add", c.Name, cp)
			case !slices.Contains(allowedCaps, n):
				return refuse(pod, Capability,
					"container %q adds capability %s, which reaches past the container (Pod Security baseline forbids it); remove it from securityContext.capabilities.add", c.Name, cp)
			}
		}
	}
	if sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
		return refuse(pod, Unconfined,
			"container %q has seccompProfile Unconfined, which opens every system call of the node's kernel to the app; use RuntimeDefault or a Localhost profile", c.Name)
	}
	return nil
}

func unconfined(sc *corev1.PodSecurityContext) bool {
	return sc != nil && sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined
}

// checkInjectedLabel refuses decco's marks on a pod decco did not inject
// (in cni mode, for decco.io/interception): the listener policy opens the
// pods that carry them. On a pod decco injects they are decco's output,
// the user's values already replaced.
func checkInjectedLabel(pod *corev1.Pod, d Decision) error {
	injected := d == Injected || d == Reinjected || d == UpToDate
	if _, set := pod.Annotations[space.AnnotationInterception]; set && !injected {
		return refuse(pod, ReservedLabel,
			"annotation %s is decco's: it tells the node which of the pod's traffic to hand to decco's sidecar; remove the annotation",
			space.AnnotationInterception)
	}
	if _, set := pod.Labels[space.LabelInjected]; set && !injected {
		return refuse(pod, ReservedLabel,
			"label %s is decco's: it marks pods decco injected with its TLS sidecar, whose listener ports the space's NetworkPolicy opens; remove the label",
			space.LabelInjected)
	}
	// Injected pods get it from apply, in cni mode only.
	if _, set := pod.Labels[space.LabelInterception]; set && !injected {
		return refuse(pod, ReservedLabel,
			"label %s is decco's: it marks pods decco injected for cni interception, which the space's NetworkPolicy opens on every port the sidecar serves; remove the label",
			space.LabelInterception)
	}
	return nil
}

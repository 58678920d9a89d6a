package inject

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/space"
)

// Reason says why a pod was refused, as a stable machine-readable string.
type Reason string

// Refusal reasons.
const (
	// WrongSpace: the pod's space label names another space than its
	// namespace.
	WrongSpace Reason = "WrongSpace"
	// HostNetwork: the pod uses the host's network (hostNetwork or a
	// hostPort), which bypasses the TLS listeners and network policies.
	HostNetwork Reason = "HostNetwork"
	// InvalidAnnotation: a decco.io/ annotation is malformed or names a port
	// the pod doesn't declare.
	InvalidAnnotation Reason = "InvalidAnnotation"
	// RuntimeClassMismatch: the space forces a RuntimeClass and the pod asks
	// for another.
	RuntimeClassMismatch Reason = "RuntimeClassMismatch"
	// PortConflict: a port or port name the sidecar needs is taken.
	PortConflict Reason = "PortConflict"
	// VolumeConflict: the pod already has a volume (or mount) named like
	// one of decco's.
	VolumeConflict Reason = "VolumeConflict"
	// ContainerConflict: the pod already has a container named decco-tls
	// that decco did not inject.
	ContainerConflict Reason = "ContainerConflict"
	// ReservedUID: an app container runs as the sidecar's UID and could
	// read its key through /proc.
	ReservedUID Reason = "ReservedUID"
	// NetAdmin: an app container can rewrite the pod's network (NET_ADMIN,
	// ALL capabilities, or privileged) and so route around the sidecar.
	NetAdmin Reason = "NetAdmin"
	// HostAccess: the pod shares the node's processes, IPC or filesystem,
	// where every space's keys are (hostPID, hostIPC, hostPath).
	HostAccess Reason = "HostAccess"
	// Capability: a container adds a capability that reaches past it
	// (SYS_PTRACE, SYS_ADMIN, SYS_MODULE, BPF, ...).
	Capability Reason = "Capability"
	// Unconfined: seccomp is off for the pod or a container.
	Unconfined Reason = "Unconfined"
	// ReservedLabel: the pod carries decco.io/injected without decco
	// having injected it.
	ReservedLabel Reason = "ReservedLabel"
	// Immutable: a pod update changes what only a pod's creation may set
	// (its space label) or what decco injected.
	Immutable Reason = "Immutable"
	// DebugSidecar: an ephemeral container targets decco's sidecar.
	DebugSidecar Reason = "DebugSidecar"
)

// Refusal is the error Pod returns for a pod it will not admit.
type Refusal struct {
	Reason  Reason
	Message string
	// err is the underlying error, e.g. the space.FieldError of an
	// InvalidAnnotation refusal, for errors.As.
	err error
}

func (r *Refusal) Error() string { return r.Message }

// Unwrap exposes the underlying error, if any.
func (r *Refusal) Unwrap() error { return r.err }

// refuse builds a Refusal whose message starts with the pod's name.
func refuse(pod *corev1.Pod, reason Reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Message: "pod " + podName(pod) + ": " + fmt.Sprintf(format, args...)}
}

// podName is the pod as messages name it, quoted (see space.ObjectName:
// namespace/generateName* for pods the apiserver has not named yet, as
// every Deployment pod at admission).
func podName(pod *corev1.Pod) string { return strconv.Quote(space.ObjectName(pod)) }

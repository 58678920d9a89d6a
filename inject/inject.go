package inject

import (
	"errors"

	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/space"
)

// Names of what decco adds to a pod. They are reserved: a pod that already
// uses one without decco.io/injected is refused.
const (
	SidecarName = "decco-tls"
	CertVolume  = "decco-tls"
	TmpVolume   = "decco-tmp"
	HealthName  = "decco-health"
	// DefaultUID is the sidecar's user unless --sidecar-uid says
	// otherwise: a dedicated proxy UID, as Istio's 1337, rather than a
	// UID images ship as their USER (65532 is distroless' nonroot, 65534
	// nobody, 1000 and 1001 the usual first users). An app running as the
	// sidecar's UID shares its identity: in cni interception its
	// connections are exempt from the outbound rules and arrive in
	// plaintext at TLS listeners.
	DefaultUID   = int64(1337)
	tmpMountPath = "/tmp"
)

// Config is the installation's sidecar settings (from the chart), the same
// for every pod.
type Config struct {
	// Image is the sidecar image (decco-sidecar with stunnel).
	Image string
	// Resources of the sidecar container.
	Resources corev1.ResourceRequirements
	// NativeSidecar injects a native sidecar (init container with
	// restartPolicy Always, Kubernetes >= 1.29) instead of a regular
	// container.
	NativeSidecar bool
	// SidecarUID is the sidecar's user and group; 0 means DefaultUID.
	// App containers may not run as it.
	SidecarUID int64
	// PullPolicy of the sidecar image; empty leaves the cluster default.
	PullPolicy corev1.PullPolicy
	// Interception is how the sidecar gets the traffic; empty means
	// InterceptPorts.
	Interception Interception
	// Ranges are the cluster's pod and Service ranges, for InterceptCNI.
	Ranges intercept.Ranges
}

func (c Config) uid() int64 {
	if c.SidecarUID == 0 {
		return DefaultUID
	}
	return c.SidecarUID
}

// Decision is what Pod did, as a stable machine-readable string.
type Decision string

// Decisions.
const (
	// Injected: the sidecar was added.
	Injected Decision = "Injected"
	// UpToDate: the pod already carries this exact injection; unchanged.
	UpToDate Decision = "UpToDate"
	// Reinjected: an outdated injection was replaced.
	Reinjected Decision = "Reinjected"
	// SkippedNoLabel: the pod has no decco.io/space label.
	SkippedNoLabel Decision = "SkippedNoLabel"
	// SkippedOptOut: the pod says decco.io/inject: "false".
	SkippedOptOut Decision = "SkippedOptOut"
	// SkippedNoPorts: no exposed port and no egress; a sidecar would do
	// nothing but hold the space's key.
	SkippedNoPorts Decision = "SkippedNoPorts"
)

// Result is Pod's output.
type Result struct {
	// Pod is the pod to admit. When nothing changed it is the input pointer
	// itself, else a copy sharing what did not change with the input;
	// callers must treat it as read-only.
	Pod      *corev1.Pod
	Decision Decision
}

// Pod injects the decco sidecar into pod for space sp. It never modifies
// pod; the result shares with pod the parts it did not change, so neither
// may be changed in place while the other is in use. Errors are *Refusal.
func Pod(pod *corev1.Pod, sp space.Space, cfg Config) (Result, error) {
	if err := checkIsolation(pod); err != nil {
		return Result{}, err
	}
	res, err := decide(pod, sp, cfg)
	if err != nil {
		return Result{}, err
	}
	if err := checkInjectedLabel(res.Pod, res.Decision); err != nil {
		return Result{}, err
	}
	return res, nil
}

// decide injects, skips or refuses a pod that passed checkIsolation.
func decide(pod *corev1.Pod, sp space.Space, cfg Config) (Result, error) {
	label, ok := pod.Labels[space.LabelSpace]
	if !ok {
		return skip(pod, sp, SkippedNoLabel)
	}
	if label != sp.Name {
		return Result{}, refuse(pod, WrongSpace,
			"label %s is %q but the pod is in space %q; set the label to %q (a pod can only join its own namespace's space)",
			space.LabelSpace, label, sp.Name, sp.Name)
	}
	w, err := space.WorkloadFromPod(pod)
	if err != nil {
		r := refuse(pod, InvalidAnnotation, "%s", invalidText(err))
		r.err = err
		return Result{}, r
	}
	if w.OptOut {
		return optOut(pod, sp)
	}
	if err := checkPod(pod, sp); err != nil {
		return Result{}, err
	}
	return inject(pod, sp, w, cfg)
}

// inject does the work for a pod that is in the space and opted in.
func inject(pod *corev1.Pod, sp space.Space, w space.Workload, cfg Config) (Result, error) {
	out := writableCopy(pod)
	_, previous := pod.Annotations[space.AnnotationInjected]
	if previous {
		removeInjection(out)
	} else if err := checkReservedNames(out); err != nil {
		return Result{}, err
	}
	if err := checkContainers(out, cfg.uid()); err != nil {
		return Result{}, err
	}
	p, err := makePlan(out, w, sp, cfg)
	if err != nil {
		return Result{}, err
	}
	if len(p.listeners) == 0 && len(p.egress) == 0 && !p.cni {
		if !previous {
			return skip(pod, sp, SkippedNoPorts) // input itself when unchanged
		}
		setRuntimeClass(out, sp)
		return Result{Pod: out, Decision: SkippedNoPorts}, nil
	}
	setRuntimeClass(out, sp)
	if previous && upToDate(pod, p, sp) {
		return Result{Pod: pod, Decision: UpToDate}, nil
	}
	apply(out, p)
	if previous {
		return Result{Pod: out, Decision: Reinjected}, nil
	}
	return Result{Pod: out, Decision: Injected}, nil
}

// skip leaves the pod without a sidecar but still enforces the space's
// RuntimeClass: VM isolation must not depend on opting into TLS.
func skip(pod *corev1.Pod, sp space.Space, d Decision) (Result, error) {
	if err := checkRuntimeClass(pod, sp); err != nil {
		return Result{}, err
	}
	if sp.RuntimeClass == "" || runtimeClass(pod) == sp.RuntimeClass {
		return Result{Pod: pod, Decision: d}, nil
	}
	out := writableCopy(pod)
	setRuntimeClass(out, sp)
	return Result{Pod: out, Decision: d}, nil
}

// optOut skips the pod; one that carries a previous injection (a spec
// copied from a running pod, say) has it removed, since opting out means
// no sidecar.
func optOut(pod *corev1.Pod, sp space.Space) (Result, error) {
	if _, previous := pod.Annotations[space.AnnotationInjected]; !previous {
		return skip(pod, sp, SkippedOptOut)
	}
	if err := checkRuntimeClass(pod, sp); err != nil {
		return Result{}, err
	}
	out := writableCopy(pod)
	removeInjection(out)
	setRuntimeClass(out, sp)
	return Result{Pod: out, Decision: SkippedOptOut}, nil
}

// invalidText renders the space package's joined field errors on one line.
func invalidText(err error) string {
	fes := space.FieldErrors(err)
	if len(fes) == 0 {
		return err.Error()
	}
	msg := ""
	for i, fe := range fes {
		if i > 0 {
			msg += "; and "
		}
		msg += fe.Error()
	}
	return msg
}

// IsRefusal reports whether err is a *Refusal and returns it.
func IsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}

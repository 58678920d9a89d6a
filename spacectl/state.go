package spacectl

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// Injection states of a pod, as `get` counts and `describe` lists them.
const (
	// PodInjected: carries exactly the injection decco would give it now.
	PodInjected = "Injected"
	// PodMissing: should carry the sidecar and does not.
	PodMissing = "Missing"
	// PodOutdated: carries an injection from another configuration (older
	// image, changed annotations or space), or one it should no longer
	// have.
	PodOutdated = "Outdated"
	// PodRefused: the webhook would refuse this pod now.
	PodRefused = "Refused"
	// PodNotInjected: decco leaves it without a sidecar on purpose
	// (unlabeled, opted out, nothing to expose).
	PodNotInjected = "NotInjected"
)

// PodInjection is one pod's injection state.
type PodInjection struct {
	Pod    string `json:"pod"`
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
}

// PodCounts tallies PodInjection states.
type PodCounts struct {
	Injected    int `json:"injected"`
	Missing     int `json:"missing"`
	Outdated    int `json:"outdated"`
	Refused     int `json:"refused"`
	NotInjected int `json:"notInjected"`
}

func (c *PodCounts) add(state string) {
	switch state {
	case PodInjected:
		c.Injected++
	case PodMissing:
		c.Missing++
	case PodOutdated:
		c.Outdated++
	case PodRefused:
		c.Refused++
	default:
		c.NotInjected++
	}
}

// Cell is "injected/should be", with the problems named, for a table.
func (c PodCounts) Cell() string {
	want := c.Injected + c.Missing + c.Outdated + c.Refused
	s := fmt.Sprintf("%d/%d", c.Injected, want)
	var problems []string
	for _, p := range []struct {
		n    int
		what string
	}{{c.Missing, "missing"}, {c.Outdated, "outdated"}, {c.Refused, "refused"}} {
		if p.n > 0 {
			problems = append(problems, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(problems) > 0 {
		s += " (" + strings.Join(problems, ", ") + ")"
	}
	return s
}

// classifyPod runs injection on a pod as it is stored and reads the
// decision: UpToDate means its injection is current; Injected means it
// never got one; Reinjected means it got another. Finished pods don't
// matter and count as not injected.
func classifyPod(pod *corev1.Pod, sp space.Space, cfg inject.Config) PodInjection {
	pi := PodInjection{Pod: pod.Name}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		pi.State, pi.Detail = PodNotInjected, "finished ("+string(pod.Status.Phase)+")"
		return pi
	}
	res, err := inject.Pod(pod, sp, cfg)
	if err != nil {
		pi.State, pi.Detail = PodRefused, err.Error()
		if r, ok := inject.IsRefusal(err); ok {
			pi.Detail = string(r.Reason) + ": " + r.Message
		}
		return pi
	}
	recreate := fmt.Sprintf("; recreate it (kubectl rollout restart its workload, or kubectl delete pod -n %s %s)", pod.Namespace, pod.Name)
	switch res.Decision {
	case inject.UpToDate:
		pi.State = PodInjected
	case inject.Injected:
		pi.State = PodMissing
		pi.Detail = "has no sidecar: it was admitted without decco's webhook (created while the webhook was not registered, or labeled before its namespace became a space under a decco release that let such pods through), so the space's NetworkPolicy keeps it closed to other pods" + recreate
	case inject.Reinjected:
		pi.State = PodOutdated
		pi.Detail = outdatedDetail(pod, cfg) + recreate
	default:
		pi.State, pi.Detail = PodNotInjected, string(res.Decision)+": no sidecar, so the space's NetworkPolicy keeps it closed to other pods"
		if res.Pod != pod {
			pi.State = PodOutdated
			pi.Detail = string(res.Decision) + ": decco would change it now (remove an old sidecar, or set the space's RuntimeClass)" + recreate
		}
	}
	return pi
}

// outdatedDetail says what differs: the data plane (a cluster that
// switched interception modes, whose listener policy leaves the pod
// closed), or the image, the most common cause (an upgraded
// installation).
func outdatedDetail(pod *corev1.Pod, cfg inject.Config) string {
	want, _ := inject.ParseInterception(string(cfg.Interception))
	if got, ok := inject.InjectedMode(pod); ok && got != want {
		return fmt.Sprintf("injected for %s interception, but the installation runs %s: the space's NetworkPolicy keeps it closed to other pods (never open in plaintext) until its workload is rolled", got, want)
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == inject.SidecarName && c.Image != cfg.Image {
				return fmt.Sprintf("sidecar image is %s, the installation injects %s", c.Image, cfg.Image)
			}
		}
	}
	return "injected with other settings than decco would use now (its decco.io/ annotations, the space or the installation changed)"
}

// partState is a status part as one table cell: Ready, its reason when
// not ready, or Unknown before the reconciler reported.
func partState(st space.Status, part string) string {
	c, ok := st.Parts[part]
	switch {
	case !ok:
		return "Unknown"
	case c.Ready:
		return "Ready"
	case c.Reason != "":
		return c.Reason
	}
	return "NotReady"
}

// ObjectState is what one object decco made is doing.
type ObjectState struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Object states. Kinds without a status are Created once they exist.
const (
	StateReady       = "Ready"
	StateNotReady    = "NotReady"
	StateAccepted    = "Accepted"
	StateNotAccepted = "NotAccepted"
	StatePending     = "Pending"
	StateCreated     = "Created"
)

// objectState reads an object's state from its status, whatever its kind:
// cert-manager's Ready condition; a Gateway API route's or policy's
// Accepted condition per parent; a ListenerSet's or a space's Gateway's
// Programmed or Accepted condition; otherwise it is Created.
func objectState(u *unstructured.Unstructured) ObjectState {
	st := ObjectState{Kind: u.GetKind(), Name: u.GetName(), State: StateCreated}
	conds := conditions(u.Object, "status", "conditions")
	if c, ok := findCondition(conds, "Ready", "Programmed", "Accepted"); ok {
		return conditionState(st, c)
	}
	for _, key := range []string{"parents", "ancestors"} {
		if parents, found, _ := unstructured.NestedSlice(u.Object, "status", key); found {
			return parentsState(st, parents)
		}
	}
	if isRouteLike(u.GetKind()) {
		st.State, st.Message = StatePending, "no gateway controller has accepted it yet"
	}
	return st
}

// isRouteLike: kinds a Gateway controller must accept before they work.
func isRouteLike(kind string) bool {
	return slices.Contains([]string{"HTTPRoute", "TLSRoute", "ListenerSet", "Gateway", "BackendTLSPolicy"}, kind)
}

// conditionState maps a condition to a state: Ready is Ready/NotReady,
// Accepted and Programmed are Accepted/NotAccepted, and Unknown (a CRD's
// default before any controller looked) is Pending.
func conditionState(st ObjectState, c map[string]any) ObjectState {
	ok := c["status"] == "True"
	st.Reason, _ = c["reason"].(string)
	st.Message, _ = c["message"].(string)
	switch {
	case c["status"] == "Unknown":
		st.State = StatePending
	case c["type"] == "Ready" && ok:
		st.State = StateReady
	case c["type"] == "Ready":
		st.State = StateNotReady
	case ok:
		st.State = StateAccepted
	default:
		st.State = StateNotAccepted
	}
	if ok {
		st.Message = "" // a healthy object's message is noise in a table
	}
	return st
}

// parentsState: accepted when every parent accepted it; the first refusal
// otherwise; pending with no parent yet.
func parentsState(st ObjectState, parents []any) ObjectState {
	st.State, st.Message = StatePending, "no gateway controller has accepted it yet"
	for _, p := range parents {
		pm, _ := p.(map[string]any)
		c, found := findCondition(conditions(pm, "conditions"), "Accepted")
		if !found {
			continue
		}
		s := conditionState(st, c)
		if s.State == StateNotAccepted {
			return s
		}
		st = s
	}
	return st
}

func conditions(obj map[string]any, path ...string) []any {
	c, _, _ := unstructured.NestedSlice(obj, path...)
	return c
}

// findCondition returns the first condition of the first type present.
func findCondition(conds []any, types ...string) (map[string]any, bool) {
	for _, t := range types {
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == t {
				return m, true
			}
		}
	}
	return nil, false
}

// refersToService reports whether a route object sends traffic to the
// Service named svc: a Gateway API route's backendRefs, or an Ingress's
// backends.
func refersToService(u *unstructured.Unstructured, svc string) bool {
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, r := range rules {
		rm, _ := r.(map[string]any)
		refs, _, _ := unstructured.NestedSlice(rm, "backendRefs")
		for _, ref := range refs {
			if m, _ := ref.(map[string]any); m["name"] == svc && (m["kind"] == nil || m["kind"] == "Service") {
				return true
			}
		}
		paths, _, _ := unstructured.NestedSlice(rm, "http", "paths")
		for _, p := range paths {
			pm, _ := p.(map[string]any)
			if name, _, _ := unstructured.NestedString(pm, "backend", "service", "name"); name == svc {
				return true
			}
		}
	}
	return false
}

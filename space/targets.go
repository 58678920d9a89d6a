package space

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PortMismatch is a Service port whose target decco can't tell is served
// by the pods the Service selects: no container of some of them declares
// it. Kubernetes sends no traffic to a pod for a named target it doesn't
// declare, and decco gives a port no container declares no TLS listener
// (in the ports data plane the Service was still pointed at the listener
// number, where nothing listens), so the port silently doesn't work. It
// is reported, never fixed by guessing.
type PortMismatch struct {
	// Service is the Service's name (in the space's namespace).
	Service string `json:"service"`
	// Port is the Service port's number.
	Port int32 `json:"port"`
	// Target is the target port as the user wrote it: a name, or the
	// number before decco's rewrite.
	Target string `json:"target"`
	// Missing and Selected count the selected pods that don't declare the
	// target, and all the selected pods.
	Missing  int `json:"missing"`
	Selected int `json:"selected"`
}

// Message says what is wrong and how to fix it, for an admission warning,
// the space's status and spacectl.
func (m PortMismatch) Message() string {
	which := fmt.Sprintf("none of its %d selected pods declares", m.Selected)
	if m.Missing < m.Selected {
		which = fmt.Sprintf("%d of its %d selected pods don't declare", m.Missing, m.Selected)
	}
	declare := fmt.Sprintf("ports: [{name: %s, containerPort: <the app's port>}]", m.Target)
	if v := intstr.Parse(m.Target); v.Type == intstr.Int {
		declare = fmt.Sprintf("ports: [{containerPort: %d}]", v.IntVal)
	}
	return fmt.Sprintf("Service %s port %d targets %s, which %s: decco gives it no TLS listener there and connections to it fail; declare the port in the pod template (%s) or point targetPort at a port the pods declare",
		m.Service, m.Port, m.Target, which, declare)
}

// TargetedBy returns the container port of pod that Service port p's
// target reaches, and the container declaring it: a named target by its
// name, a numeric one (absent: the Service port's number) by its number,
// on any container, init containers (decco's native sidecar) included.
// ok is false when no container declares it.
func TargetedBy(pod *corev1.Pod, p corev1.ServicePort) (container string, port corev1.ContainerPort, ok bool) {
	target := p.TargetPort
	if target.Type == intstr.Int && target.IntVal == 0 {
		target = intstr.FromInt32(p.Port)
	}
	proto := p.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, cp := range c.Ports {
				cpProto := cp.Protocol
				if cpProto == "" {
					cpProto = corev1.ProtocolTCP
				}
				if cpProto != proto {
					continue
				}
				if target.Type == intstr.String && cp.Name == target.StrVal || target.Type == intstr.Int && cp.ContainerPort == target.IntVal {
					return c.Name, cp, true
				}
			}
		}
	}
	return "", corev1.ContainerPort{}, false
}

// PortMismatches returns the TCP ports of svc whose target some of the
// pods it selects (among pods, the admitted pods of its namespace) don't
// declare, in Service port order. A Service labeled with no space, without
// a selector or of type ExternalName has none, and so has a Service that
// selects no pod yet: there is nothing to compare. A numeric target that
// decco rewrote to a TLS listener (decco.io/rewritten-ports) is reported
// by its original number, the one the user wrote.
func PortMismatches(svc *corev1.Service, pods []corev1.Pod) []PortMismatch {
	if svc.Labels[LabelSpace] == "" || len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var selected []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if p.Namespace == svc.Namespace && p.DeletionTimestamp == nil && sel.Matches(labels.Set(p.Labels)) {
			selected = append(selected, p)
		}
	}
	if len(selected) == 0 {
		return nil
	}
	rewritten, _ := ParseRewrittenPorts(svc.Annotations[AnnotationRewrittenPorts]) // unparsable: report targets as stored
	var out []PortMismatch
	for _, sp := range svc.Spec.Ports {
		if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
			continue
		}
		missing := 0
		for _, pod := range selected {
			if _, _, ok := TargetedBy(pod, sp); !ok {
				missing++
			}
		}
		if missing > 0 {
			out = append(out, PortMismatch{Service: svc.Name, Port: sp.Port, Target: writtenTarget(sp, rewritten), Missing: missing, Selected: len(selected)})
		}
	}
	return out
}

// writtenTarget is sp's target as the user wrote it.
func writtenTarget(sp corev1.ServicePort, rewritten map[int32]int32) string {
	if orig, ok := rewritten[sp.Port]; ok {
		return fmt.Sprint(orig)
	}
	if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == 0 {
		return fmt.Sprint(sp.Port)
	}
	return sp.TargetPort.String()
}

// SortMismatches orders ms by Service and port, so equal sets format
// equal.
func SortMismatches(ms []PortMismatch) {
	slices.SortFunc(ms, func(a, b PortMismatch) int {
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		return int(a.Port - b.Port)
	})
}

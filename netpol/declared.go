package netpol

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/space"
)

// DeclaredPorts returns, for cni interception, the TCP ports the space's
// injected pods declare that their interception plan carries over TLS,
// for Input.PeerPorts: clustered apps dial each other's pod IPs on ports
// no Service lists (Keycloak's JGroups on 7800, Elasticsearch's
// transport), and TransparentPorts opens only Service targets.
//
// A port counts only on a pod the cni listener policy selects (labeled
// with the space, decco.io/injected and decco.io/interception=cni) whose
// decco.io/interception plan parses, and only when that plan
// redirects it to the sidecar: ports the plan excludes
// (decco.io/plaintext-ports, the sidecar's own) reach the app in
// plaintext and stay closed. decco's sidecar container is skipped; a
// user's native sidecar (an init container that keeps running) serves its
// ports like any container. Numbers come back sorted, without repeats.
func DeclaredPorts(sp space.Space, pods []corev1.Pod) []intstr.IntOrString {
	var nums []int32
	for i := range pods {
		nums = append(nums, podTLSPorts(sp, &pods[i])...)
	}
	slices.Sort(nums)
	var out []intstr.IntOrString
	for _, n := range slices.Compact(nums) {
		out = append(out, intstr.FromInt32(n))
	}
	return out
}

// podTLSPorts are the declared TCP ports of one pod that its plan sends
// to the sidecar's TLS listeners.
func podTLSPorts(sp space.Space, pod *corev1.Pod) []int32 {
	if pod.Namespace != sp.Name || pod.Labels[space.LabelSpace] != sp.Name || pod.Labels[space.LabelInjected] != "true" ||
		pod.Labels[space.LabelInterception] != string(inject.InterceptCNI) {
		return nil
	}
	plan, err := intercept.Parse(pod.Annotations[space.AnnotationInterception])
	if err != nil {
		return nil // not intercepted (ports mode, or a pod decco never planned): every port is the app's own
	}
	var out []int32
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == inject.SidecarName {
				continue
			}
			for _, p := range c.Ports {
				if (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) && plan.Intercepts(p.ContainerPort) {
					out = append(out, p.ContainerPort)
				}
			}
		}
	}
	return out
}

package netpol_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/space"
)

// cniPlan is the plan the webhook writes, excluding the plaintext ports.
func cniPlan(plaintext ...int32) string {
	return intercept.Plan{Version: intercept.Version, SidecarUID: 1337,
		Inbound:   intercept.Inbound{Port: 15006, Exclude: plaintext},
		Outbound:  intercept.Outbound{Port: 15001, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}},
		CheckPort: 15020, HealthPort: 15021}.Encode()
}

// cniPod is a pod of space ns as the webhook injected it in cni mode (no
// plan: as in ports mode), its app container declaring ports.
func cniPod(ns, plan string, ports ...corev1.ContainerPort) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p", Labels: map[string]string{space.LabelSpace: ns, space.LabelInjected: "true", space.LabelInterception: "cni"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: inject.SidecarName, Ports: []corev1.ContainerPort{{Name: inject.HealthName, ContainerPort: 15021}}}},
			Containers:     []corev1.Container{{Name: "app", Ports: ports}},
		},
	}
	if plan != "" {
		p.Annotations = map[string]string{space.AnnotationInterception: plan}
	}
	return p
}

func cport(n int32, proto corev1.Protocol) corev1.ContainerPort {
	return corev1.ContainerPort{ContainerPort: n, Protocol: proto}
}

func TestDeclaredPorts(t *testing.T) {
	sp := space.Space{Name: "acme", Domain: "example.com"}
	i := intstr.FromInt32
	edit := func(p corev1.Pod, f func(*corev1.Pod)) corev1.Pod { f(&p); return p }
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		want []intstr.IntOrString
	}{
		{"every declared TCP port of an intercepted pod, sorted and once",
			[]corev1.Pod{
				cniPod("acme", cniPlan(), cport(7800, ""), cport(8080, corev1.ProtocolTCP)),
				cniPod("acme", cniPlan(), cport(9300, corev1.ProtocolTCP), cport(7800, corev1.ProtocolTCP)),
			},
			[]intstr.IntOrString{i(7800), i(8080), i(9300)}},
		{"UDP and SCTP are not intercepted", []corev1.Pod{cniPod("acme", cniPlan(), cport(7800, corev1.ProtocolUDP), cport(9, corev1.ProtocolSCTP))}, nil},
		{"plaintext ports (excluded by the plan) stay closed", []corev1.Pod{cniPod("acme", cniPlan(9121), cport(9121, ""), cport(7800, ""))}, []intstr.IntOrString{i(7800)}},
		{"decco's sidecar's ports never count", []corev1.Pod{cniPod("acme", cniPlan())}, nil},
		{"a user's native sidecar serves its ports like any container",
			[]corev1.Pod{edit(cniPod("acme", cniPlan()), func(p *corev1.Pod) {
				p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "proxy", Ports: []corev1.ContainerPort{cport(4000, "")}})
			})},
			[]intstr.IntOrString{i(4000)}},
		{"a pod without a plan is not intercepted: its ports are plaintext", []corev1.Pod{cniPod("acme", "", cport(7800, ""))}, nil},
		{"a plan that doesn't parse counts as none", []corev1.Pod{cniPod("acme", `{"v":1}`, cport(7800, ""))}, nil},
		{"a pod without the cni label is not opened by the cni policy, so its ports don't count",
			[]corev1.Pod{edit(cniPod("acme", cniPlan(), cport(7800, "")), func(p *corev1.Pod) { delete(p.Labels, space.LabelInterception) })}, nil},
		{"a pod not injected is not opened", []corev1.Pod{edit(cniPod("acme", cniPlan(), cport(7800, "")), func(p *corev1.Pod) { delete(p.Labels, space.LabelInjected) })}, nil},
		{"a pod of another space, or in another namespace, is not this space's",
			[]corev1.Pod{
				edit(cniPod("acme", cniPlan(), cport(7800, "")), func(p *corev1.Pod) { p.Labels[space.LabelSpace] = "other" }),
				cniPod("other", cniPlan(), cport(7801, "")),
			}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, netpol.DeclaredPorts(sp, tc.pods))
		})
	}
}

package space

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPortMismatches(t *testing.T) {
	app := map[string]string{"app": "zk"}
	pod := func(name string, lbls map[string]string, ports ...corev1.ContainerPort) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: lbls},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: ports}}}}
	}
	// An injected pod as the ports data plane admits it: the sidecar (an
	// init container) owns the listener and the name, the app keeps 8080.
	injected := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: app},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "decco-tls", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 18080}}}},
			Containers:     []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "app-8080", ContainerPort: 8080}}}},
		}}
	named := func(n string) corev1.ContainerPort { return corev1.ContainerPort{Name: n, ContainerPort: 2888} }
	svc := func(ann map[string]string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "zk", Namespace: "shop", Labels: map[string]string{LabelSpace: "shop"}, Annotations: ann},
			Spec: corev1.ServiceSpec{Selector: app, Ports: ports}}
	}
	byName := func(port int32, target string) corev1.ServicePort {
		return corev1.ServicePort{Port: port, TargetPort: intstr.FromString(target)}
	}
	byNumber := func(port, target int32) corev1.ServicePort {
		return corev1.ServicePort{Port: port, TargetPort: intstr.FromInt32(target)}
	}
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []corev1.Pod
		want []PortMismatch
	}{
		{"named target every pod declares", svc(nil, byName(2888, "follower")),
			[]corev1.Pod{pod("zk-0", app, named("follower")), pod("zk-1", app, named("follower"))}, nil},
		{"named target no pod declares (zookeeper with one replica)", svc(nil, byName(2888, "follower"), byName(3888, "election")),
			[]corev1.Pod{pod("zk-0", app)},
			[]PortMismatch{{Service: "zk", Port: 2888, Target: "follower", Missing: 1, Selected: 1}, {Service: "zk", Port: 3888, Target: "election", Missing: 1, Selected: 1}}},
		{"named target some pods don't declare", svc(nil, byName(2888, "follower")),
			[]corev1.Pod{pod("zk-0", app, named("follower")), pod("zk-1", app), pod("zk-2", app)},
			[]PortMismatch{{Service: "zk", Port: 2888, Target: "follower", Missing: 2, Selected: 3}}},
		{"pods of other Services don't count", svc(nil, byName(2888, "follower")),
			[]corev1.Pod{pod("zk-0", app, named("follower")), pod("web", map[string]string{"app": "web"})}, nil},
		{"no pod selected yet: nothing to compare", svc(nil, byName(2888, "follower")), nil, nil},
		{"numeric target rewritten to a listener the sidecar declares", svc(map[string]string{AnnotationRewrittenPorts: "80=8080"}, byNumber(80, 18080)),
			[]corev1.Pod{injected}, nil},
		{"numeric target no container declares, rewritten: reported by the number written", svc(map[string]string{AnnotationRewrittenPorts: "80=9090"}, byNumber(80, 19090)),
			[]corev1.Pod{injected}, []PortMismatch{{Service: "zk", Port: 80, Target: "9090", Missing: 1, Selected: 1}}},
		{"absent target means the Service port", svc(nil, corev1.ServicePort{Port: 7000}),
			[]corev1.Pod{injected}, []PortMismatch{{Service: "zk", Port: 7000, Target: "7000", Missing: 1, Selected: 1}}},
		{"named target the sidecar took over", svc(nil, byName(80, "http")), []corev1.Pod{injected}, nil},
		{"a plaintext port the app declares is served", svc(nil, byNumber(8080, 8080)), []corev1.Pod{injected}, nil},
		{"UDP is not compared", svc(nil, corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolUDP}), []corev1.Pod{injected}, nil},
		{"a TCP target a UDP port declares is not served", svc(nil, byNumber(53, 53)),
			[]corev1.Pod{pod("dns", app, corev1.ContainerPort{ContainerPort: 53, Protocol: corev1.ProtocolUDP})},
			[]PortMismatch{{Service: "zk", Port: 53, Target: "53", Missing: 1, Selected: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, PortMismatches(tt.svc, tt.pods))
		})
	}
}

func TestPortMismatchesIgnoresServicesOutsideTheContract(t *testing.T) {
	pods := []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "shop", Labels: map[string]string{"app": "a"}}}}
	ports := []corev1.ServicePort{{Port: 80}}
	for name, svc := range map[string]*corev1.Service{
		"no space label": {ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "a"}, Ports: ports}},
		"no selector":    {ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "shop", Labels: map[string]string{LabelSpace: "shop"}}, Spec: corev1.ServiceSpec{Ports: ports}},
		"ExternalName": {ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "shop", Labels: map[string]string{LabelSpace: "shop"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, Selector: map[string]string{"app": "a"}, Ports: ports}},
	} {
		assert.Empty(t, PortMismatches(svc, pods), name)
	}
}

func TestPortMismatchMessage(t *testing.T) {
	tests := []struct {
		m    PortMismatch
		want string
	}{
		{PortMismatch{Service: "zk", Port: 2888, Target: "follower", Missing: 1, Selected: 1},
			"Service zk port 2888 targets follower, which none of its 1 selected pods declares: decco gives it no TLS listener there and connections to it fail; declare the port in the pod template (ports: [{name: follower, containerPort: <the app's port>}]) or point targetPort at a port the pods declare"},
		{PortMismatch{Service: "web", Port: 80, Target: "8080", Missing: 2, Selected: 3},
			"Service web port 80 targets 8080, which 2 of its 3 selected pods don't declare: decco gives it no TLS listener there and connections to it fail; declare the port in the pod template (ports: [{containerPort: 8080}]) or point targetPort at a port the pods declare"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.m.Message())
	}
}

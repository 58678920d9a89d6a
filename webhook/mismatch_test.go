package webhook

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/inject"
)

func TestUnlabeledServiceOnTakenOverPortIsWarned(t *testing.T) {
	// A pod as the ports data plane admits it.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-server", Namespace: "mon"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: inject.SidecarName, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 19090}}}},
			Containers: []corev1.Container{{Name: "prometheus", Ports: []corev1.ContainerPort{
				{Name: "app-9090", ContainerPort: 9090}, {Name: "metrics", ContainerPort: 9100},
			}}},
		}}
	svc := func(ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-server", Namespace: "mon"}, Spec: corev1.ServiceSpec{Ports: ports}}
	}
	tests := []struct {
		name string
		svc  *corev1.Service
		want []string
	}{
		{"numeric target on the taken-over port", svc(corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(9090)}),
			[]string{"Service prometheus-server port 80 targets the app's plaintext port 9090, which decco closes to other pods: the Service has no decco.io/space label, so decco doesn't point it at the TLS listener; label it decco.io/space=mon"}},
		{"absent target is the Service port", svc(corev1.ServicePort{Port: 9090}),
			[]string{"Service prometheus-server port 9090 targets the app's plaintext port 9090, which decco closes to other pods: the Service has no decco.io/space label, so decco doesn't point it at the TLS listener; label it decco.io/space=mon"}},
		{"named target follows the listener", svc(corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}), nil},
		{"a port decco left alone", svc(corev1.ServicePort{Port: 9100, TargetPort: intstr.FromString("metrics")}), nil},
		{"UDP", svc(corev1.ServicePort{Port: 9090, Protocol: corev1.ProtocolUDP}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, unlabeledTargets(tt.svc, pod))
		})
	}
}

func TestControllersObjectsGetNoMismatchLookup(t *testing.T) {
	yes, no := true, false
	assert.False(t, controlled(nil), "applied by a user")
	assert.False(t, controlled([]metav1.OwnerReference{{Kind: "Application", Controller: &no}}), "owned, not controlled")
	assert.True(t, controlled([]metav1.OwnerReference{{Kind: "Deployment", Controller: &yes}}), "a Deployment's ReplicaSet")
}

package nodetest

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/node"
)

// AppUID is the apps' user: not root, and not the sidecar's UID, which
// decco reserves so that only the sidecar can read the space's key.
const AppUID = 10001

// App is a pod template running testapp with args, in space ns, labelled
// app=name.
func App(ns, name string, annotations map[string]string, ports []corev1.ContainerPort, args ...string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{"app": name, space.LabelSpace: ns},
			Annotations: annotations,
		},
		Spec: Restricted(corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:            "app",
				Image:           node.AppImage,
				ImagePullPolicy: corev1.PullNever,
				Args:            args,
				Ports:           ports,
			}},
		}),
	}
}

// Restricted makes spec pass Pod Security "restricted", the level decco
// sets on every space by default.
func Restricted(spec corev1.PodSpec) corev1.PodSpec {
	spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   new(true),
		RunAsUser:      new(int64(AppUID)),
		RunAsGroup:     new(int64(AppUID)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	for i := range spec.Containers {
		spec.Containers[i].SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: new(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
	}
	return spec
}

// Deployment runs tmpl in ns, selecting its pods by app=name.
func Deployment(ns, name string, tmpl corev1.PodTemplateSpec) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: tmpl,
		},
	}
}

// Service is a Service of space ns selecting app=name, with ports.
func Service(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{space.LabelSpace: ns}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: ports},
	}
}

// ServicePort is a Service port named name, port -> target.
func ServicePort(name string, port, target int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, TargetPort: intstr.FromInt32(target)}
}

// TCPPort is a container port named name.
func TCPPort(name string, n int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: n, Protocol: corev1.ProtocolTCP}
}

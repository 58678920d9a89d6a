// Package corpus makes the realistic Pods and AdmissionReviews that the
// webhook's tests and the benchmarks share, so every measurement runs on
// the same input.
package corpus

import (
	"encoding/json"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/space"
)

// Pod is a realistic pod of about size bytes of JSON: an app with
// env, probes, resources and mounts, a metrics sidecar, an init
// container, labels and annotations as Helm charts write them.
func Pod(size int) *corev1.Pod {
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "shop-api-7c9d8f6b5-",
			Namespace:    "acme",
			Labels: map[string]string{
				space.LabelSpace: "acme", "app.kubernetes.io/name": "shop-api",
				"app.kubernetes.io/instance": "shop", "app.kubernetes.io/version": "2.4.1",
				"helm.sh/chart": "shop-api-2.4.1", "pod-template-hash": "7c9d8f6b5",
			},
			Annotations: map[string]string{
				"checksum/config":              "9f2c4b1e7d3a5f6e8b0c2d4e6f8a0b1c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a",
				space.AnnotationEgress:         "3306=db.acme.example.com:443,5672=mq.acme.example.com:443",
				space.AnnotationPlaintextPorts: "metrics",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "shop-api-7c9d8f6b5", UID: "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "shop-api",
			InitContainers:     []corev1.Container{{Name: "migrate", Image: "registry.example.com/shop/api:2.4.1", Command: []string{"/app/migrate", "--wait"}}},
			Containers: []corev1.Container{
				appContainer("api", 8080, 9090),
				{Name: "log-shipper", Image: "registry.example.com/infra/fluent-bit:3.1", Resources: resources("50m", "64Mi")},
			},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "shop-api"}}}},
				{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
	// Pad with environment variables, as real apps carry many, up to size.
	for i := 0; jsonSize(pod) < size; i++ {
		c := &pod.Spec.Containers[0]
		c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("SHOP_FEATURE_FLAG_%03d", i), Value: fmt.Sprintf("enabled-for-tenant-segment-%03d", i)})
	}
	return pod
}

func appContainer(name string, port, metrics int32) corev1.Container {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 10}
	return corev1.Container{
		Name: name, Image: "registry.example.com/shop/api:2.4.1",
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", ContainerPort: metrics, Protocol: corev1.ProtocolTCP},
		},
		ReadinessProbe: probe, LivenessProbe: probe.DeepCopy(),
		Resources:    resources("250m", "256Mi"),
		VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/shop"}, {Name: "cache", MountPath: "/var/cache/shop"}},
	}
}

func resources(cpu, mem string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(mem)},
	}
}

func jsonSize(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}

// AdmissionReview wraps pod in a CREATE request as the apiserver sends it.
func AdmissionReview(pod *corev1.Pod) []byte {
	raw, err := json.Marshal(pod)
	if err != nil {
		panic(err)
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "705ab4f5-6393-11e8-b7cc-42010a800002",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: pod.Namespace,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	b, err := json.Marshal(review)
	if err != nil {
		panic(err)
	}
	return b
}

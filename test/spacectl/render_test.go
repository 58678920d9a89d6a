package spacectl_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
)

// shop is a Helm-style manifest set for space sc-render: its Namespace, a
// Deployment with an init container, a plaintext metrics port, probes by
// port name and a volume; a StatefulSet; a Job with an egress tunnel; a
// CronJob; two bare Pods, one outside decco; a TCP Service; a ConfigMap.
// No object names its namespace, as in `helm template` output.
const shop = `---
# Source: shop/templates/namespace.yaml
apiVersion: v1
kind: Namespace
metadata:
  name: sc-render
  labels: {decco.io/space: sc-render}
  annotations: {decco.io/domain: example.com, decco.io/project: retail}
---
# Source: shop/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web, decco.io/space: sc-render}
      annotations: {decco.io/plaintext-ports: metrics}
    spec:
      initContainers:
      - {name: migrate, image: migrate:1}
      containers:
      - name: web
        image: web:1
        ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}]
        readinessProbe: {httpGet: {path: /healthz, port: http}}
        livenessProbe: {tcpSocket: {port: http}}
        volumeMounts: [{name: config, mountPath: /etc/web}]
      volumes: [{name: config, emptyDir: {}}]
---
# Source: shop/templates/db.yaml
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db, decco.io/space: sc-render}}
    spec:
      containers:
      - {name: db, image: mysql:8.4, ports: [{containerPort: 3306}]}
---
apiVersion: v1
kind: Service
metadata:
  name: db
  labels: {decco.io/space: sc-render}
  annotations: {decco.io/dns: "true"}
spec:
  selector: {app: db}
  ports: [{name: mysql, port: 3306, targetPort: 3306}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: report}
spec:
  template:
    metadata:
      labels: {decco.io/space: sc-render}
      annotations: {decco.io/egress: "13306=db.sc-render.example.com:443"}
    spec:
      restartPolicy: Never
      containers: [{name: report, image: report:1}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {decco.io/space: sc-render}}
        spec:
          restartPolicy: OnFailure
          containers: [{name: nightly, image: nightly:1, ports: [{containerPort: 8000}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: debug, labels: {decco.io/space: sc-render}}
spec:
  containers: [{name: shell, image: busybox:1, ports: [{containerPort: 7000}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  containers: [{name: shell, image: busybox:1}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {color: blue}
`

// render's output for a manifest set is what the webhook does to the same
// manifests applied to the cluster: every Pod made from a rendered pod
// template, every bare Pod and the Service carry exactly what render
// printed (plus only what the apiserver and controllers add themselves).
func TestRenderMatchesWebhook(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	r := cli(t, shop, "render", "-f", "-", sidecarImage())
	require.Equal(t, 0, r.code, "%s", r)
	rendered := decodeAll(t, r.out)
	require.Len(t, rendered, 9, "every document comes out, in order")
	assert.Contains(t, r.out, "# Source: shop/templates/web.yaml\n", "Helm's source comments survive")
	assert.Contains(t, r.out, "kind: ConfigMap\nmetadata: {name: settings}\ndata: {color: blue}\n", "untouched objects come out as written")

	applyManifests(t, shop, "sc-render")
	cron := rendered[5]
	job := jobFromCronJob(t, "sc-render", "nightly-manual")

	for _, tc := range []struct {
		name     string
		rendered map[string]any
		pod      func() *corev1.Pod
	}{
		{"Deployment web", template(t, rendered[1], "spec", "template"), func() *corev1.Pod { return &podsOf(t, "sc-render", "app=web", 1)[0] }},
		{"StatefulSet db", template(t, rendered[2], "spec", "template"), func() *corev1.Pod { return &podsOf(t, "sc-render", "app=db", 1)[0] }},
		{"Job report", template(t, rendered[4], "spec", "template"), func() *corev1.Pod { return &podsOf(t, "sc-render", "job-name=report", 1)[0] }},
		{"CronJob nightly", template(t, cron, "spec", "jobTemplate", "spec", "template"), func() *corev1.Pod { return &podsOf(t, "sc-render", "job-name="+job, 1)[0] }},
		{"Pod debug", podPart(rendered[6]), func() *corev1.Pod { return getPod(t, "sc-render", "debug") }},
		{"Pod plain", podPart(rendered[7]), func() *corev1.Pod { return getPod(t, "sc-render", "plain") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := tc.pod()
			got := podPart(toMap(t, withoutServiceAccountToken(pod)))
			diffs := subset(tc.rendered, got, "")
			assert.Empty(t, diffs, "rendered vs admitted pod %s", pod.Name)
		})
	}
	t.Run("the webhook injected what render printed", func(t *testing.T) {
		// Guard against a vacuous comparison: the rendered web pod has the
		// sidecar first, the user's init container next.
		inits, _, _ := unstructured.NestedSlice(template(t, rendered[1], "spec", "template"), "spec", "initContainers")
		require.Len(t, inits, 2)
		assert.Equal(t, "decco-tls", inits[0].(map[string]any)["name"])
		assert.Equal(t, "migrate", inits[1].(map[string]any)["name"])
	})
	t.Run("Service db", func(t *testing.T) {
		svc := &corev1.Service{}
		require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "sc-render", Name: "db"}, svc))
		want := rendered[3].Object
		got := toMap(t, svc)
		assert.Empty(t, subset(want["spec"], got["spec"], "spec"))
		assert.Empty(t, subset(want["metadata"], got["metadata"], "metadata"))
		assert.Equal(t, "3306=3306", svc.Annotations[space.AnnotationRewrittenPorts])
	})
}

// applyManifests creates the manifests' objects in ns as kubectl apply
// would, the Namespace first and once the webhook sees it as a space.
func applyManifests(t *testing.T, manifests, ns string) {
	t.Helper()
	ctx := context.Background()
	objs := decodeAll(t, manifests)
	require.Equal(t, "Namespace", objs[0].GetKind())
	require.NoError(t, k8s.Create(ctx, objs[0]))
	deleteAfter(t, ns)
	eventually(t, 30*time.Second, "the webhook sees space "+ns, func() error {
		probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe", Labels: map[string]string{space.LabelSpace: ns}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "p", Image: "p", Ports: []corev1.ContainerPort{{ContainerPort: 1000}}}}}}
		if err := k8s.Create(ctx, probe, client.DryRunAll); err != nil {
			return err
		}
		if probe.Annotations[space.AnnotationInjected] == "" {
			return errors.New("not injected yet")
		}
		return nil
	})
	for _, o := range objs[1:] {
		o.SetNamespace(ns)
		require.NoError(t, k8s.Create(ctx, o), "creating %s %s", o.GetKind(), o.GetName())
	}
}

// jobFromCronJob starts a Job from a CronJob's template, as
// `kubectl create job --from=cronjob/...` does.
func jobFromCronJob(t *testing.T, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	cj := &batchv1.CronJob{}
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nightly"}, cj))
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: cj.Spec.JobTemplate.Spec}
	require.NoError(t, k8s.Create(ctx, job))
	return name
}

func getPod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{}
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, p))
	return p
}

// decodeAll reads a multi-document YAML stream into objects.
func decodeAll(t *testing.T, s string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(s), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

func template(t *testing.T, u *unstructured.Unstructured, path ...string) map[string]any {
	t.Helper()
	m, found, err := unstructured.NestedMap(u.Object, path...)
	require.NoError(t, err)
	require.True(t, found, "%s has no %s", u.GetName(), strings.Join(path, "."))
	return m
}

// podPart keeps what a pod template also has: metadata (labels and
// annotations) and spec.
func podPart(u any) map[string]any {
	var m map[string]any
	switch o := u.(type) {
	case *unstructured.Unstructured:
		m = o.Object
	case map[string]any:
		m = o
	}
	meta, _ := m["metadata"].(map[string]any)
	out := map[string]any{"spec": m["spec"], "metadata": map[string]any{}}
	for _, k := range []string{"labels", "annotations"} {
		if v, ok := meta[k]; ok {
			out["metadata"].(map[string]any)[k] = v
		}
	}
	return out
}

func toMap(t *testing.T, obj any) map[string]any {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	require.NoError(t, err)
	return m
}

// withoutServiceAccountToken removes the API token volume the
// ServiceAccount admission plugin adds to every pod.
func withoutServiceAccountToken(pod *corev1.Pod) *corev1.Pod {
	p := pod.DeepCopy()
	isToken := func(name string) bool { return strings.HasPrefix(name, "kube-api-access-") }
	var vols []corev1.Volume
	for _, v := range p.Spec.Volumes {
		if !isToken(v.Name) {
			vols = append(vols, v)
		}
	}
	p.Spec.Volumes = vols
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			var mounts []corev1.VolumeMount
			for _, m := range cs[i].VolumeMounts {
				if !isToken(m.Name) {
					mounts = append(mounts, m)
				}
			}
			cs[i].VolumeMounts = mounts
		}
	}
	return p
}

// subset lists where want is not contained in got: every key of a map
// present with a contained value, lists of equal length with contained
// elements, equal scalars. What the apiserver adds (defaults, controller
// labels) is allowed; anything render printed must be there.
func subset(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, got)}
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var diffs []string
		for _, k := range keys {
			diffs = append(diffs, subset(w[k], g[k], path+"."+k)...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %d elements %v, got %v", path, len(w), w, got)}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, subset(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return diffs
	}
	if fmt.Sprint(want) != fmt.Sprint(got) {
		return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
	}
	return nil
}

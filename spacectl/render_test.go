package spacectl

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/inject/injecttest"
	"github.com/decco-dev/decco/space"
)

var testConfig = inject.Config{Image: "sidecar:test", NativeSidecar: true, Resources: corev1.ResourceRequirements{
	Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")},
}}

// manifests is a helm-template-like stream: comments, an empty document,
// the space's Namespace, workloads, a Service and an untouched ConfigMap.
const manifests = `---
# Source: shop/templates/namespace.yaml
apiVersion: v1
kind: Namespace
metadata:
  name: acme
  labels: {decco.io/space: acme}
  annotations: {decco.io/domain: example.com}
---
# Source: shop/templates/config.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: acme}
data: {color: blue}   # kept verbatim
---
---
# Source: shop/templates/web.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: acme}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web, decco.io/space: acme}
    spec:
      containers:
      - name: web
        image: web:1
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: http}}
      volumes:
      - name: scratch
        emptyDir: {}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: acme
  labels: {decco.io/space: acme}
  annotations: {decco.io/http-path: /shop}
spec:
  selector: {app: web}
  ports: [{name: admin, port: 9000, targetPort: 9000}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: acme}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        metadata:
          labels: {decco.io/space: acme}
          annotations: {decco.io/egress: "3306=db.acme.example.com:443"}
        spec:
          restartPolicy: Never
          containers: [{name: report, image: report:1}]
`

func render(t *testing.T, in string, opts RenderOptions) []Document {
	t.Helper()
	if opts.Inject.Image == "" {
		opts.Inject = testConfig
	}
	docs, err := Render(strings.NewReader(in), opts)
	require.NoError(t, err)
	return docs
}

func writeYAML(t *testing.T, docs []Document) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, WriteYAML(&b, docs))
	return b.String()
}

func decodeInto(t *testing.T, u *unstructured.Unstructured, into runtime.Object) {
	t.Helper()
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true))
}

func TestRenderInjectsTemplatesAndRewritesServices(t *testing.T) {
	docs := render(t, manifests, RenderOptions{})
	var kinds []string
	for _, d := range docs {
		if d.Object != nil {
			kinds = append(kinds, d.Object.GetKind())
		}
	}
	assert.Equal(t, []string{"Namespace", "ConfigMap", "Deployment", "Service", "CronJob"}, kinds, "same order, empty documents dropped")

	dep := &appsv1.Deployment{}
	decodeInto(t, docs[2].Object, dep)
	assert.Equal(t, string(inject.Injected), docs[2].Decision)
	require.NotEmpty(t, dep.Spec.Template.Spec.InitContainers)
	assert.Equal(t, inject.SidecarName, dep.Spec.Template.Spec.InitContainers[0].Name)
	assert.Equal(t, "app-8080", dep.Spec.Template.Spec.Containers[0].Ports[0].Name)
	assert.NotEmpty(t, dep.Spec.Template.Annotations[space.AnnotationInjected])

	svc := &corev1.Service{}
	decodeInto(t, docs[3].Object, svc)
	assert.Equal(t, intstr.FromInt32(inject.ListenerPort(9000)), svc.Spec.Ports[0].TargetPort)

	cj := &batchv1.CronJob{}
	decodeInto(t, docs[4].Object, cj)
	assert.Equal(t, inject.SidecarName, cj.Spec.JobTemplate.Spec.Template.Spec.InitContainers[0].Name)

	out := writeYAML(t, docs)
	assert.Contains(t, out, "data: {color: blue}   # kept verbatim", "untouched documents come out as written")
	assert.Contains(t, out, "# Source: shop/templates/web.yaml\napiVersion: apps/v1", "a changed document keeps its leading comments")
	assert.NotContains(t, out, "resources: {}", "encoding noise is pruned")
	assert.NotContains(t, out, "status:", "encoding noise is pruned")
	assert.Contains(t, out, "emptyDir: {}", "the user's own empty emptyDir stays")
}

// Rendering rendered manifests changes nothing: the webhook finds its own
// output up to date (reinvocation, kubectl apply of rendered manifests).
func TestRenderIsIdempotent(t *testing.T) {
	once := writeYAML(t, render(t, manifests, RenderOptions{}))
	docs := render(t, once, RenderOptions{})
	for _, d := range docs {
		assert.False(t, d.Changed, "%s changed on the second render", describeObject(d.Object))
	}
	assert.Equal(t, once, writeYAML(t, docs))
}

// For random pods, the rendered Pod document decodes to exactly what
// inject.Pod returns: the YAML round trip and the noise pruning lose
// nothing.
func TestRenderMatchesInjectPod(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	compared := 0
	for range 300 {
		pod := injecttest.RandomPod(r)
		sp := injecttest.RandomSpace(r)
		pod.Name, pod.GenerateName = "p", ""
		want, werr := inject.Pod(pod.DeepCopy(), sp, testConfig)

		pod.APIVersion, pod.Kind = "v1", "Pod"
		raw, err := yaml.Marshal(pod)
		require.NoError(t, err)
		docs, rerr := Render(bytes.NewReader(raw), RenderOptions{Inject: testConfig, Spaces: map[string]space.Space{sp.Name: sp}})
		if werr != nil {
			require.Error(t, rerr, "render accepted what inject refuses")
			assert.Contains(t, rerr.Error(), werr.Error())
			continue
		}
		require.NoError(t, rerr)
		got := &corev1.Pod{}
		decodeInto(t, docs[0].Object, got)
		require.True(t, apiequality.Semantic.DeepEqual(want.Pod.Spec, got.Spec), "spec differs for %s", raw)
		require.True(t, apiequality.Semantic.DeepEqual(want.Pod.ObjectMeta, got.ObjectMeta), "metadata differs for %s", raw)
		compared++
	}
	assert.Greater(t, compared, 100, "too few random pods were injectable to compare")
}

func TestRenderRefusalsNameDocumentAndObject(t *testing.T) {
	in := manifests + `---
apiVersion: v1
kind: Pod
metadata: {name: rogue, namespace: acme, labels: {decco.io/space: globex}}
spec: {containers: [{name: a, image: a}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: host, namespace: acme}
spec:
  selector: {matchLabels: {app: host}}
  template:
    metadata: {labels: {app: host, decco.io/space: acme}}
    spec:
      hostNetwork: true
      containers: [{name: a, image: a, ports: [{containerPort: 80}]}]
`
	_, err := Render(strings.NewReader(in), RenderOptions{Inject: testConfig})
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, `document 6 (Pod acme/rogue)`)
	assert.Contains(t, msg, `"globex"`)
	assert.Contains(t, msg, `document 7 (Deployment acme/host): pod template:`)
	assert.Contains(t, msg, "host")
}

func TestRenderSpaceResolution(t *testing.T) {
	acme := space.Space{Name: "acme", Domain: "example.com"}
	globex := space.Space{Name: "globex", Domain: "example.org"}
	pod := func(ns, label string) string {
		s := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
		if ns != "" {
			s += "  namespace: " + ns + "\n"
		}
		if label != "" {
			s += "  labels: {decco.io/space: " + label + "}\n"
		}
		return s + "spec: {containers: [{name: a, image: a, ports: [{containerPort: 80}]}]}\n"
	}
	plainNS := "apiVersion: v1\nkind: Namespace\nmetadata: {name: plain}\n---\n"
	for _, tc := range []struct {
		name      string
		in        string
		spaces    map[string]space.Space
		namespace string
		changed   bool
		warning   string
		err       string
	}{
		{name: "own namespace", in: pod("acme", "acme"), spaces: map[string]space.Space{"acme": acme, "globex": globex}, changed: true},
		{name: "-n", in: pod("", "acme"), spaces: map[string]space.Space{"acme": acme, "globex": globex}, namespace: "acme", changed: true},
		{name: "only space known", in: pod("", "acme"), spaces: map[string]space.Space{"acme": acme}, changed: true},
		{name: "label names a known space", in: pod("", "globex"), spaces: map[string]space.Space{"acme": acme, "globex": globex}, changed: true},
		{name: "no namespace, labeled", in: pod("", "other"), spaces: map[string]space.Space{"acme": acme, "globex": globex}, err: "pass -n NAMESPACE"},
		{name: "unknown space, labeled", in: pod("other", "other"), err: `render knows no space "other"`},
		{name: "unknown namespace, unlabeled", in: pod("other", "")},
		{name: "not a space, labeled", in: plainNS + pod("plain", "plain"), warning: "namespace plain is not a space"},
		{name: "system namespace", in: pod("decco-system", "decco-system"), spaces: map[string]space.Space{"decco-system": {Name: "decco-system", Domain: "x.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := Render(strings.NewReader(tc.in), RenderOptions{Inject: testConfig, Spaces: tc.spaces, Namespace: tc.namespace, SystemNamespace: "decco-system"})
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			last := docs[len(docs)-1]
			assert.Equal(t, tc.changed, last.Changed)
			assert.Contains(t, last.Warning, tc.warning)
			if tc.changed {
				written, err := decodeDocument(last.Raw)
				require.NoError(t, err)
				assert.Equal(t, written.GetNamespace(), last.Object.GetNamespace(), "the namespace stays as written")
			}
		})
	}
}

func TestRenderRejectsBadInput(t *testing.T) {
	for _, tc := range []struct{ name, in, err string }{
		{"not yaml", "a: [", "document 1: not valid YAML"},
		{"no kind", "metadata: {name: x}\n", "apiVersion and kind are required"},
		{"unknown field", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: acme}\nspec: {containerz: []}\n", "unknown field"},
		{"invalid space", "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {decco.io/space: x}}\n", "decco.io/domain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(strings.NewReader(tc.in), RenderOptions{Inject: testConfig, Spaces: map[string]space.Space{"acme": {Name: "acme", Domain: "example.com"}}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestPruneNoise(t *testing.T) {
	for _, tc := range []struct {
		name            string
		out, orig, want string
	}{
		{"empty object under a new key", `{"a":1,"resources":{}}`, `{"a":1}`, `{"a":1}`},
		{"nested empties", `{"status":{"loadBalancer":{}}}`, `{}`, `{}`},
		{"null", `{"creationTimestamp":null,"b":2}`, `{"b":2}`, `{"b":2}`},
		{"kept when the user wrote it", `{"emptyDir":{}}`, `{"emptyDir":{}}`, `{"emptyDir":{}}`},
		{"new content kept whole", `{"v":[{"name":"n","emptyDir":{}}]}`, `{"v":[]}`, `{"v":[{"name":"n","emptyDir":{}}]}`},
		{"list matched by name", `{"c":[{"name":"side","x":{}},{"name":"app","resources":{}}]}`, `{"c":[{"name":"app"}]}`, `{"c":[{"name":"side","x":{}},{"name":"app"}]}`},
		{"no original", `{"a":{}}`, `null`, `{"a":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, orig, want any
			require.NoError(t, yaml.Unmarshal([]byte(tc.out), &out))
			require.NoError(t, yaml.Unmarshal([]byte(tc.orig), &orig))
			require.NoError(t, yaml.Unmarshal([]byte(tc.want), &want))
			assert.Equal(t, want, pruneNoise(out, orig))
		})
	}
}

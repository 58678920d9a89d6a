package chart

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
)

// kubeVersion is what rendering reports as the cluster's version: the
// version of the test control plane.
const kubeVersion = controlplane.KubeVersion

// chartDir is the chart under test.
func chartDir() string { return deccotest.ChartDir() }

var (
	loadOnce  sync.Once
	loaded    *chart.Chart
	loadError error
)

// loadChart reads charts/decco as `helm install ./charts/decco` does.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	loadOnce.Do(func() { loaded, loadError = loader.Load(chartDir()) })
	require.NoError(t, loadError, "loading the chart")
	return loaded
}

// valueSet is one way a user installs the chart.
type valueSet struct {
	name string
	// namespace is the release namespace (decco's system namespace).
	namespace string
	values    string
}

// valueSets cover every template branch: the defaults, and non-default
// values for each mode (certificate, routing, DNS, components).
var valueSets = []valueSet{
	{name: "defaults", namespace: "decco-system"},
	{name: "selfsigned-ingress-rfc2136", namespace: "decco-ingress", values: `
replicaCount: 3
image: {repository: registry.example.com/decco, tag: v9.9.9, pullPolicy: Always}
imagePullSecrets: [{name: regcred}]
serviceAccount: {name: decco-manager, annotations: {example.com/role: decco}}
webhook:
  port: 10443
  maxRequestBytes: 1048576
  certificate: {mode: selfSigned, selfSigned: {validityDays: 30}}
reconciler:
  workers: 8
  leaderElection: {leaseDuration: 30s}
  clusterDomain: corp.internal
  verifyBYOSecrets: true
defaultIssuer: ClusterIssuer/corp-ca
httpIssuer: ClusterIssuer/letsencrypt
sidecar:
  image: {repository: registry.example.com/decco-sidecar, tag: v9.9.9}
  resources: {requests: {cpu: 20m, memory: 32Mi}, limits: {memory: 128Mi}}
  uid: 70000
  native: "false"
dataPlane:
  interception: cni
  podCIDRs: [10.244.0.0/16, "fd00:10:244::/56"]
  serviceCIDRs: [10.96.0.0/12]
  excludeCIDRs: [10.96.0.1/32]
routing:
  mode: ingress
  ingress: {namespace: ingress-nginx, className: nginx, sniClassName: k8sniff}
dns:
  provider: rfc2136
  targets: [192.0.2.10, 192.0.2.11]
  ttl: 60
  ownerID: cluster-a
  rfc2136: {server: "127.0.0.1:5353", tsigSecret: decco-tsig, zones: [example.com], timeout: 5s}
metrics:
  port: 9090
  serviceMonitor: {enabled: true, interval: 15s, labels: {release: prometheus}}
healthProbePort: 9091
resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: "1", memory: 512Mi}}
podDisruptionBudget: {minAvailable: 2}
podAntiAffinity: hard
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: decco, effect: NoSchedule}]
priorityClassName: system-cluster-critical
podAnnotations: {example.com/scrape: "true"}
podLabels: {team: platform}
`},
	{name: "gateway-created-dnsendpoint", namespace: "decco-gw", values: `
webhook:
  certificate: {certManager: {issuerRef: {kind: ClusterIssuer, name: corp-ca}, duration: 720h, renewBefore: 240h}}
routing:
  gateway: {name: public, namespace: decco-gw, create: true, className: example}
dns: {provider: dnsendpoint, targets: [lb.example.net]}
metrics: {enabled: false}
defaultIssuer: space-ca
`},
	{name: "gateway-per-space", namespace: "decco-system", values: `
routing:
  mode: gateway-per-space
  gateway: {namespace: gateway, className: traefik, port: 8443, podPort: 8443}
dns: {provider: dnsendpoint}
`},
	{name: "webhook-only", namespace: "decco-webhook", values: `
replicaCount: 1
reconciler: {enabled: false, leaderElection: {enabled: false}}
`},
	{name: "reconciler-only", namespace: "decco-reconciler", values: `
webhook: {enabled: false}
`},
}

// parseValues reads a values document as `helm install -f` does.
func parseValues(t *testing.T, doc string) map[string]any {
	t.Helper()
	vals, err := chartutil.ReadValues([]byte(doc))
	require.NoError(t, err, "parsing test values")
	return vals.AsMap()
}

// render renders the chart as `helm install --dry-run` does, client side
// (schema validation, templates, NOTES), with release name "decco".
func render(t *testing.T, namespace string, vals map[string]any) (*release.Release, error) {
	t.Helper()
	return renderFor(t, kubeVersion, namespace, vals)
}

// renderFor renders for a cluster of Kubernetes version kv.
func renderFor(t *testing.T, kv, namespace string, vals map[string]any) (*release.Release, error) {
	t.Helper()
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.ClientOnly = true
	install.DryRun = true
	install.ReleaseName = "decco"
	install.Namespace = namespace
	v, err := chartutil.ParseKubeVersion(kv)
	require.NoError(t, err)
	install.KubeVersion = v
	return install.Run(loadChart(t), vals)
}

// rendered is one render's objects.
type rendered struct {
	release *release.Release
	objects []*unstructured.Unstructured
}

// mustRender renders set and decodes every object.
func mustRender(t *testing.T, set valueSet) rendered {
	t.Helper()
	rel, err := render(t, set.namespace, parseValues(t, set.values))
	require.NoError(t, err, "rendering the chart with values %q", set.name)
	objs, err := decodeManifest(rel.Manifest)
	require.NoError(t, err, "decoding the rendered manifest of %q", set.name)
	return rendered{release: rel, objects: objs}
}

// decodeManifest splits a multi-document manifest into objects.
func decodeManifest(manifest string) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		// Strict: a key written twice in a template is an error, not a
		// silent last-one-wins.
		var m map[string]any
		if err := yaml.UnmarshalStrict(doc, &m); err != nil {
			return nil, fmt.Errorf("%w in\n%s", err, doc)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// find returns the rendered object of kind and name, or nil.
func (r rendered) find(kind, name string) *unstructured.Unstructured {
	for _, o := range r.objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// ofKind returns every rendered object of kind.
func (r rendered) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// typed converts the one rendered object of kind into into, refusing
// fields the Go type doesn't have, so a misspelled field in a template
// fails here rather than being dropped by the apiserver.
func (r rendered) typed(t *testing.T, kind string, into runtime.Object) {
	t.Helper()
	objs := r.ofKind(kind)
	require.Len(t, objs, 1, "rendered %s objects", kind)
	require.NoError(t, strictConvert(objs[0], into), "%s %s", kind, objs[0].GetName())
}

func strictConvert(u *unstructured.Unstructured, into runtime.Object) error {
	data, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	return yaml.UnmarshalStrict(data, into)
}

// deployment is the rendered manager Deployment.
func (r rendered) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	r.typed(t, "Deployment", &d)
	require.Len(t, d.Spec.Template.Spec.Containers, 1, "containers of the manager Deployment")
	return &d
}

// managerContainer is the rendered Deployment's one container.
func (r rendered) managerContainer(t *testing.T) corev1.Container {
	t.Helper()
	return r.deployment(t).Spec.Template.Spec.Containers[0]
}

// managerArgs are the manager container's arguments in the rendered
// Deployment.
func (r rendered) managerArgs(t *testing.T) []string {
	t.Helper()
	return r.managerContainer(t).Args
}

package spacectl

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/space"
)

var acmeSpace = space.Space{Name: "acme", Domain: "example.com"}

func appPod(mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "web-1", Labels: map[string]string{space.LabelSpace: "acme"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

// injected is pod as the webhook admitted it under cfg.
func injected(t *testing.T, pod *corev1.Pod, cfg inject.Config) *corev1.Pod {
	t.Helper()
	res, err := inject.Pod(pod, acmeSpace, cfg)
	require.NoError(t, err)
	return res.Pod
}

func TestClassifyPod(t *testing.T) {
	old := testConfig
	old.Image = "sidecar:old"
	for _, tc := range []struct {
		name   string
		pod    func(t *testing.T) *corev1.Pod
		state  string
		detail string
	}{
		{"up to date", func(t *testing.T) *corev1.Pod { return injected(t, appPod(nil), testConfig) }, PodInjected, ""},
		{"never injected", func(*testing.T) *corev1.Pod { return appPod(nil) }, PodMissing, "has no sidecar"},
		{"older image", func(t *testing.T) *corev1.Pod { return injected(t, appPod(nil), old) }, PodOutdated, "sidecar image is sidecar:old, the installation injects sidecar:test"},
		{"annotations changed since", func(t *testing.T) *corev1.Pod {
			p := injected(t, appPod(nil), testConfig)
			p.Annotations[space.AnnotationEgress] = "3306=db.acme.example.com:443"
			return p
		}, PodOutdated, "other settings"},
		{"opted out", func(*testing.T) *corev1.Pod {
			return appPod(func(p *corev1.Pod) { p.Annotations = map[string]string{space.AnnotationInject: "false"} })
		}, PodNotInjected, "SkippedOptOut"},
		{"unlabeled", func(*testing.T) *corev1.Pod { return appPod(func(p *corev1.Pod) { p.Labels = nil }) }, PodNotInjected, "SkippedNoLabel"},
		{"would be refused", func(*testing.T) *corev1.Pod { return appPod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }) }, PodRefused, "HostNetwork"},
		{"finished", func(*testing.T) *corev1.Pod {
			return appPod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })
		}, PodNotInjected, "finished"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classifyPod(tc.pod(t), acmeSpace, testConfig)
			assert.Equal(t, tc.state, got.State)
			assert.Contains(t, got.Detail, tc.detail)
			if tc.state == PodMissing || tc.state == PodOutdated {
				assert.Contains(t, got.Detail, "recreate it", "a problem comes with its fix")
			}
		})
	}
}

// After a switch of data planes, a pod injected for the other one is
// outdated, and describe says why it is closed and that rolling fixes it.
func TestClassifyPodAfterAModeSwitch(t *testing.T) {
	cni := testConfig
	cni.Interception = inject.InterceptCNI
	cni.Ranges = intercept.Ranges{Pods: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}}
	for _, tc := range []struct {
		name       string
		was, now   inject.Config
		wasN, nowN string
	}{
		{"ports to cni", testConfig, cni, "ports", "cni"},
		{"cni to ports", cni, testConfig, "cni", "ports"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classifyPod(injected(t, appPod(nil), tc.was), acmeSpace, tc.now)
			assert.Equal(t, PodOutdated, got.State)
			assert.Contains(t, got.Detail, "injected for "+tc.wasN+" interception, but the installation runs "+tc.nowN+
				": the space's NetworkPolicy keeps it closed to other pods (never open in plaintext) until its workload is rolled")
			assert.Contains(t, got.Detail, "kubectl rollout restart its workload")
		})
	}
}

func TestPodCountsCell(t *testing.T) {
	assert.Equal(t, "0/0", PodCounts{NotInjected: 3}.Cell())
	assert.Equal(t, "2/2", PodCounts{Injected: 2}.Cell())
	assert.Equal(t, "1/4 (1 missing, 2 outdated)", PodCounts{Injected: 1, Missing: 1, Outdated: 2}.Cell())
}

func TestSummarize(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "acme",
		Labels: map[string]string{space.LabelSpace: "acme"},
		Annotations: map[string]string{space.AnnotationDomain: "example.com", space.AnnotationProject: "retail",
			space.AnnotationStatus: space.Status{Parts: map[string]space.Condition{
				space.PartPKI: {Ready: true}, space.PartPolicies: {Ready: true},
				space.PartRoutes: {Ready: false, Reason: "HostnameClaimed", Message: "taken"}, space.PartDNS: {Ready: true},
			}}.Format()}}}
	s, pods := summarize(ns, []corev1.Pod{*injected(t, appPod(nil), testConfig), *appPod(nil)}, testConfig)
	assert.Equal(t, "example.com", s.Domain)
	assert.Equal(t, "retail", s.Project)
	assert.True(t, s.Reported)
	assert.False(t, s.Ready)
	assert.Equal(t, PodCounts{Injected: 1, Missing: 1}, s.Pods)
	assert.Len(t, pods, 2)
	row := summaryRow(s, 90*time.Second)
	assert.Equal(t, []any{"acme", "example.com", "retail", "Ready", "Ready", "HostnameClaimed", "Ready", "1/2 (1 missing)", "90s"}, row)

	delete(ns.Annotations, space.AnnotationStatus)
	s, _ = summarize(ns, nil, testConfig)
	assert.False(t, s.Reported)
	assert.Equal(t, "Unknown", summaryRow(s, 0)[3])

	ns.Annotations[space.AnnotationDomain] = "nodot"
	s, _ = summarize(ns, nil, testConfig)
	assert.Contains(t, s.Error, space.AnnotationDomain)
	assert.Equal(t, "Invalid", summaryRow(s, 0)[3])
}

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(y), &u.Object))
	return u
}

func TestObjectState(t *testing.T) {
	for _, tc := range []struct {
		name, y, state, reason string
	}{
		{"certificate ready", `{kind: Certificate, metadata: {name: c}, status: {conditions: [{type: Ready, status: "True", reason: Ready, message: fine}]}}`, StateReady, "Ready"},
		{"certificate failing", `{kind: Certificate, metadata: {name: c}, status: {conditions: [{type: Issuing, status: "True"}, {type: Ready, status: "False", reason: IssuerNotReady}]}}`, StateNotReady, "IssuerNotReady"},
		{"route accepted", `{kind: HTTPRoute, metadata: {name: r}, status: {parents: [{conditions: [{type: Accepted, status: "True", reason: Accepted}]}]}}`, StateAccepted, "Accepted"},
		{"route refused by one parent", `{kind: TLSRoute, metadata: {name: r}, status: {parents: [{conditions: [{type: Accepted, status: "True"}]}, {conditions: [{type: Accepted, status: "False", reason: NotAllowedByListeners}]}]}}`, StateNotAccepted, "NotAllowedByListeners"},
		{"route without status", `{kind: HTTPRoute, metadata: {name: r}}`, StatePending, ""},
		{"listener set not programmed", `{kind: ListenerSet, metadata: {name: l}, status: {conditions: [{type: Accepted, status: "True"}, {type: Programmed, status: "False", reason: Invalid}]}}`, StateNotAccepted, "Invalid"},
		{"listener set waiting for a controller", `{kind: ListenerSet, metadata: {name: l}, status: {conditions: [{type: Accepted, status: "Unknown", reason: Pending, message: Waiting for controller}]}}`, StatePending, "Pending"},
		{"certificate unknown", `{kind: Certificate, metadata: {name: c}, status: {conditions: [{type: Ready, status: "Unknown", reason: Checking}]}}`, StatePending, "Checking"},
		{"network policy", `{kind: NetworkPolicy, metadata: {name: n}}`, StateCreated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := objectState(obj(t, tc.y))
			assert.Equal(t, tc.state, st.State)
			assert.Equal(t, tc.reason, st.Reason)
		})
	}
}

func TestRefersToService(t *testing.T) {
	http := obj(t, `{kind: HTTPRoute, spec: {rules: [{backendRefs: [{name: web, port: 80}]}]}}`)
	ing := obj(t, `{kind: Ingress, spec: {rules: [{http: {paths: [{backend: {service: {name: mysql}}}]}}]}}`)
	assert.True(t, refersToService(http, "web"))
	assert.False(t, refersToService(http, "mysql"))
	assert.True(t, refersToService(ing, "mysql"))
	assert.False(t, refersToService(ing, "web"))
}

func TestStatusProgress(t *testing.T) {
	done, state, err := statusProgress(map[string]string{}, space.Parts, "spacectl")
	require.NoError(t, err)
	assert.False(t, done)
	assert.Contains(t, state, "no status from decco's reconciler yet (if this lasts, check the manager: spacectl doctor)")

	st := space.Status{Parts: map[string]space.Condition{space.PartRoutes: {Ready: true}, space.PartDNS: {Reason: "NoTargets", Message: "the Gateway\nhas no address"}}}
	ann := map[string]string{space.AnnotationStatus: st.Format()}
	done, state, err = statusProgress(ann, []string{space.PartRoutes}, "spacectl")
	require.NoError(t, err)
	assert.True(t, done)
	assert.Empty(t, state)
	done, state, err = statusProgress(ann, []string{space.PartRoutes, space.PartDNS, space.PartPKI}, "spacectl")
	require.NoError(t, err)
	assert.False(t, done)
	assert.Equal(t, "dns not ready: NoTargets the Gateway has no address; pki not reported", state)
}

func TestLeaseState(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	lease := func(holder string, renewed time.Duration) *coordinationv1.Lease {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "decco-system", Name: "decco-reconciler"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To[int32](15)}}
		if renewed >= 0 {
			l.Spec.RenewTime = &metav1.MicroTime{Time: now.Add(-renewed)}
		}
		return l
	}
	for _, tc := range []struct {
		name   string
		lease  *coordinationv1.Lease
		fresh  bool
		detail string
	}{
		{"fresh", lease("decco-7f9", 3*time.Second), true, "held by decco-7f9, renewed 3s ago"},
		{"expired", lease("decco-7f9", time.Minute), false, "expired: last renewed 1m0s ago, lease duration 15s"},
		{"released", lease("", time.Second), false, "no holder"},
		{"never renewed", lease("decco-7f9", -1), false, "never renewed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh, detail := leaseState(tc.lease, now)
			assert.Equal(t, tc.fresh, fresh)
			assert.Contains(t, detail, tc.detail)
		})
	}
}

func TestMissingResources(t *testing.T) {
	list := &metav1.APIResourceList{APIResources: []metav1.APIResource{{Name: "gateways"}, {Name: "httproutes"}, {Name: "httproutes/status"}}}
	assert.Equal(t, []string{"tlsroutes", "listenersets"}, missingResources(list, []string{"gateways", "httproutes", "tlsroutes", "listenersets"}))
	assert.Empty(t, missingResources(list, []string{"gateways"}))
}

// The config read back from an injected sidecar is the one that injected
// it, in both sidecar modes.
func TestSidecarConfig(t *testing.T) {
	for _, native := range []bool{true, false} {
		cfg := testConfig
		cfg.NativeSidecar, cfg.SidecarUID = native, 4242
		got, ok := sidecarConfig(injected(t, appPod(nil), cfg))
		require.True(t, ok)
		assert.Equal(t, cfg.Image, got.Image)
		assert.Equal(t, native, got.NativeSidecar)
		assert.Equal(t, int64(4242), got.SidecarUID)
		res, err := inject.Pod(appPod(nil), acmeSpace, got)
		require.NoError(t, err)
		want, err := inject.Pod(appPod(nil), acmeSpace, cfg)
		require.NoError(t, err)
		assert.Equal(t, want.Pod.Annotations[space.AnnotationInjected], res.Pod.Annotations[space.AnnotationInjected], "same hash: same config")
	}
	_, ok := sidecarConfig(appPod(nil))
	assert.False(t, ok)
}

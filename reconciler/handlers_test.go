package reconciler

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

func nsMeta(labels, annotations map[string]string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: labels, Annotations: annotations, ResourceVersion: "1"}}
}

func TestMetaChanged(t *testing.T) {
	base := func() *metav1.PartialObjectMetadata {
		return nsMeta(map[string]string{space.LabelSpace: "shop"}, map[string]string{space.AnnotationDomain: "x.io", space.AnnotationStatus: "{}"})
	}
	for _, tc := range []struct {
		name    string
		mutate  func(*metav1.PartialObjectMetadata)
		changed bool
	}{
		{"resourceVersion only", func(n *metav1.PartialObjectMetadata) { n.ResourceVersion = "2" }, false},
		{"decco's own status", func(n *metav1.PartialObjectMetadata) { n.Annotations[space.AnnotationStatus] = `{"parts":{}}` }, false},
		{"a user's annotation", func(n *metav1.PartialObjectMetadata) { n.Annotations["team"] = "a" }, true},
		{"project joined", func(n *metav1.PartialObjectMetadata) { n.Annotations[space.AnnotationProject] = "p" }, true},
		{"label removed", func(n *metav1.PartialObjectMetadata) { delete(n.Labels, space.LabelSpace) }, true},
		{"deletion started", func(n *metav1.PartialObjectMetadata) { now := metav1.Now(); n.DeletionTimestamp = &now }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := base()
			tc.mutate(n)
			assert.Equal(t, tc.changed, metaChanged(base(), n))
		})
	}
}

// The spaces that can ask for a hostname are named by its first two
// labels; checked against route.Hostnames, the builder's own rule.
func TestClaimants(t *testing.T) {
	assert.Equal(t, []string{"db", "shop"}, claimants("db.shop.example.com"))
	assert.Equal(t, []string{"shop", "example"}, claimants("shop.example.com"))
	assert.Nil(t, claimants("example.com"))

	sp := space.Space{Name: "shop", Domain: "example.com"}
	for _, h := range route.Hostnames(sp, []corev1.Service{service("shop", "db", "", 0)}) {
		assert.Contains(t, claimants(h), sp.Name, "space %s must be a claimant of its own hostname %s", sp.Name, h)
	}
	rival := space.Space{Name: "db", Domain: "shop.example.com"}
	assert.Contains(t, claimants(rival.Host()), "db")
	assert.Contains(t, claimants(rival.Host()), "shop")
}

func TestHasTraces(t *testing.T) {
	assert.True(t, hasTraces(nsMeta(map[string]string{space.LabelSpace: "shop"}, nil)))
	assert.True(t, hasTraces(nsMeta(nil, map[string]string{space.AnnotationStatus: "{}"})), "a former space still to clean up")
	assert.True(t, hasTraces(nsMeta(nil, map[string]string{space.AnnotationHostnames: ""})), "a former space still holding names")
	assert.False(t, hasTraces(nsMeta(map[string]string{"team": "a"}, nil)))
}

// A pod's egress entries matter to its space only when the space declares
// its egress, and its coming matters when a Service selects it (its ports
// may serve the Service's target); any other pod costs no reconcile.
func TestPodHandlerEnqueuesOnlyWhatThePodChanges(t *testing.T) {
	ns := func(name, policy string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{space.LabelSpace: name},
			Annotations: map[string]string{space.AnnotationDomain: "example.com", space.AnnotationEgressPolicy: policy}}}
	}
	web := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "open", Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
	notASpace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}
	c := fake.NewClientBuilder().WithObjects(ns("closed", space.EgressDeclared), ns("open", space.EgressOpen), notASpace, web).Build()
	m := &mapper{r: &Reconciler{client: c}}
	pod := func(ns string, ann map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p", Annotations: ann}}
	}
	selected := pod("open", nil)
	selected.Labels = map[string]string{"app": "web"}
	withEgress := map[string]string{space.AnnotationEgress: "db.shop:5432"}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want []string
	}{
		{"declared egress, entries", pod("closed", withEgress), []string{"closed"}},
		{"declared egress, no entries", pod("closed", nil), nil},
		{"open egress, entries", pod("open", withEgress), nil},
		{"namespace not in the cache: the reconcile decides", pod("unknown", withEgress), []string{"unknown"}},
		{"namespace that is no space (the pod's space label copied)", pod("plain", withEgress), nil},
		{"selected by a Service", selected, []string{"open"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
			defer q.ShutDown()
			m.podHandler().Create(context.Background(), event.CreateEvent{Object: tc.pod}, q)
			var got []string
			for q.Len() > 0 {
				req, _ := q.Get()
				got = append(got, req.Name)
				q.Done(req)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// In cni interception a pod's coming or going reconciles its space when it
// declares a TLS port no other pod of the space declares (the listener
// policy opens declared ports to the space's pods); its replicas don't.
func TestPodHandlerReconcilesNewPeerPortsInCNIMode(t *testing.T) {
	plan := intercept.Plan{Version: intercept.Version, SidecarUID: 1337, Inbound: intercept.Inbound{Port: 15006, Exclude: []int32{9121}},
		Outbound: intercept.Outbound{Port: 15001, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}}, CheckPort: 15020, HealthPort: 15021}
	pod := func(name string, ports ...int32) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name,
			Labels:      map[string]string{space.LabelSpace: "shop", space.LabelInjected: "true", space.LabelInterception: "cni"},
			Annotations: map[string]string{space.AnnotationInterception: plan.Encode()}}}
		c := corev1.Container{Name: "app"}
		for _, n := range ports {
			c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: n})
		}
		p.Spec.Containers = []corev1.Container{c}
		return p
	}
	c := fake.NewClientBuilder().WithObjects(pod("kc-0", 7800, 8080)).Build()
	for _, tc := range []struct {
		name string
		mode inject.Interception
		pod  *corev1.Pod
		want bool
	}{
		{"a replica declaring the same ports", inject.InterceptCNI, pod("kc-1", 7800), false},
		{"a port no other pod declares", inject.InterceptCNI, pod("search-0", 9300), true},
		{"the only pod declaring a port (its going closes it)", inject.InterceptCNI, pod("kc-0", 7800, 8080), true},
		{"a plaintext port", inject.InterceptCNI, pod("metrics", 9121), false},
		{"no port", inject.InterceptCNI, pod("job"), false},
		{"ports mode opens no declared port", inject.InterceptPorts, pod("search-0", 9300), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &mapper{r: &Reconciler{client: c, opts: Options{Interception: tc.mode}}}
			for _, handle := range []func(queue){
				func(q queue) { m.podHandler().Create(context.Background(), event.CreateEvent{Object: tc.pod}, q) },
				func(q queue) { m.podHandler().Delete(context.Background(), event.DeleteEvent{Object: tc.pod}, q) },
			} {
				q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
				handle(q)
				assert.Equal(t, tc.want, q.Len() == 1)
				q.ShutDown()
			}
		})
	}
}

// A new space makes its project's members reconcile (their policies admit
// it); a namespace in the cache's initial list does not: every member is
// in that list too, and the fan-out cost O(spaces × members) at startup.
func TestNamespaceCreateFansOutToTheProjectOnlyWhenNew(t *testing.T) {
	member := func(name string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{space.LabelSpace: name},
			Annotations: map[string]string{space.AnnotationDomain: "example.com", space.AnnotationProject: "shop"}}}
	}
	c := fake.NewClientBuilder().WithObjects(member("a"), member("b"), member("c")).
		WithIndex(&corev1.Namespace{}, projectIndex, projectOf).Build()
	m := &mapper{r: &Reconciler{client: c}}
	for _, tc := range []struct {
		name    string
		initial bool
		want    []string
	}{
		{"created now", false, []string{"a", "b", "c"}},
		{"in the initial list", true, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
			defer q.ShutDown()
			m.namespaceHandler().Create(context.Background(), event.CreateEvent{Object: member("a"), IsInInitialList: tc.initial}, q)
			var got []string
			for q.Len() > 0 {
				req, _ := q.Get()
				got = append(got, req.Name)
				q.Done(req)
			}
			assert.ElementsMatch(t, tc.want, got)
		})
	}
}

package reconciler

import (
	"context"
	"errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// queue is the controller's work queue.
type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// mapper turns watch events into the spaces they affect. A space's
// desired state depends on more than its own namespace: its project's
// members (policies) and which older space holds a hostname it wants
// (routes, DNS), so an event can concern several spaces.
type mapper struct{ r *Reconciler }

// namespaceHandler enqueues the namespace itself when it is, was, or
// still carries traces of, a space; the members of its old and new
// project when its membership changed; and the spaces that may compete
// with it for a hostname when its hostnames changed.
func (m *mapper) namespaceHandler() handler.TypedEventHandler[client.Object, reconcile.Request] {
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) {
			if e.IsInInitialList {
				// The cache is filling: every member of every project is
				// in the same list and comes here itself. Fanning out to
				// each one's project cost O(spaces × members) at startup.
				m.enqueueIfTraces(e.Object, q)
				return
			}
			// A new namespace is the youngest: it takes no hostname from
			// anyone, so only project members need to hear of it.
			m.namespaceChanged(ctx, nil, e.Object, false, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			if !metaChanged(e.ObjectOld, e.ObjectNew) {
				return
			}
			m.namespaceChanged(ctx, e.ObjectOld, e.ObjectNew, true, q)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q queue) {
			m.namespaceChanged(ctx, e.Object, nil, true, q)
		},
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q queue) {
			m.namespaceChanged(ctx, nil, e.Object, false, q)
		},
	}
}

func (m *mapper) namespaceChanged(ctx context.Context, old, new client.Object, hosts bool, q queue) {
	for _, obj := range []client.Object{old, new} {
		m.enqueueIfTraces(obj, q)
	}
	oldSp, oldOK := m.parse(old)
	newSp, newOK := m.parse(new)
	if oldOK != newOK || oldSp.Project != newSp.Project {
		m.enqueueProject(ctx, oldSp.Project, q)
		m.enqueueProject(ctx, newSp.Project, q)
	}
	if hosts && (oldOK != newOK || oldSp.Domain != newSp.Domain || oldSp.GlobalName != newSp.GlobalName) {
		for _, sp := range []space.Space{oldSp, newSp} {
			if sp.Name != "" {
				m.enqueueRivals(ctx, sp, q)
			}
		}
	}
	if old != nil {
		m.enqueueReleased(ctx, old, new, q)
	}
}

// enqueueIfTraces enqueues namespace obj when it is, was, or still
// carries traces of, a space.
func (m *mapper) enqueueIfTraces(obj client.Object, q queue) {
	if obj != nil && !m.r.ignored(obj.GetName()) && hasTraces(obj) {
		q.Add(namespaceKey(obj.GetName()))
	}
}

// enqueueReleased enqueues the spaces that may want a hostname old held
// and new no longer does: a space refused it can have it now.
func (m *mapper) enqueueReleased(ctx context.Context, old, new client.Object, q queue) {
	before, _ := space.ParseClaims(old.GetAnnotations()[space.AnnotationHostnames])
	var after space.Claims
	if new != nil {
		after, _ = space.ParseClaims(new.GetAnnotations()[space.AnnotationHostnames])
	}
	for h := range before {
		if _, kept := after[h]; kept {
			continue
		}
		names, _ := m.r.rivalsOf(ctx, h)
		for _, name := range names {
			if name != old.GetName() {
				m.enqueueIfSpace(ctx, name, q)
			}
		}
	}
}

// hasTraces: labeled a space, or still carrying decco's status or
// hostname record.
func hasTraces(obj client.Object) bool {
	_, labeled := obj.GetLabels()[space.LabelSpace]
	_, status := obj.GetAnnotations()[space.AnnotationStatus]
	_, claims := obj.GetAnnotations()[space.AnnotationHostnames]
	return labeled || status || claims
}

// metaChanged ignores updates that change nothing decco reads: its own
// status annotation, resourceVersion, managed fields. A deletion starting
// counts.
func metaChanged(old, new client.Object) bool {
	if (old.GetDeletionTimestamp() == nil) != (new.GetDeletionTimestamp() == nil) {
		return true
	}
	if !maps.Equal(old.GetLabels(), new.GetLabels()) {
		return true
	}
	oa, na := maps.Clone(old.GetAnnotations()), maps.Clone(new.GetAnnotations())
	delete(oa, space.AnnotationStatus)
	delete(na, space.AnnotationStatus)
	return !maps.Equal(oa, na)
}

// parse returns the valid, live space obj is, if any.
func (m *mapper) parse(obj client.Object) (space.Space, bool) {
	if obj == nil || m.r.ignored(obj.GetName()) || isNamespaceGone(obj) {
		return space.Space{}, false
	}
	sp, err := m.r.spaces.FromNamespace(obj)
	return sp, err == nil
}

// enqueueProject enqueues every valid space of project.
func (m *mapper) enqueueProject(ctx context.Context, project string, q queue) {
	if project == "" {
		return
	}
	members, err := m.r.projectSpaces(ctx, project)
	if err != nil {
		logf.FromContext(ctx).Error(err, "finding the members of a project", "project", project)
		return
	}
	for _, s := range members {
		q.Add(namespaceKey(s.sp.Name))
	}
}

// enqueueRivals enqueues the spaces that could ask for one of sp's
// hostnames. A hostname <a>.<b>.<rest> can only be asked for by the space
// named a (as its own <space>.<domain>) or the space named b (for its TCP
// Service a), because namespace names are single DNS labels. So the
// rivals of sp are found without scanning every space.
func (m *mapper) enqueueRivals(ctx context.Context, sp space.Space, q queue) {
	hosts := []string{sp.Host()}
	var svcs corev1.ServiceList
	if err := m.r.client.List(ctx, &svcs, client.InNamespace(sp.Name), client.HasLabels{space.LabelSpace}); err == nil {
		hosts = append(hosts, hostnames(sp, svcs.Items)...)
	}
	for _, h := range hosts {
		names, _ := m.r.rivalsOf(ctx, h)
		for _, name := range names {
			if name != sp.Name {
				m.enqueueIfSpace(ctx, name, q)
			}
		}
	}
}

// claimants are the only spaces that can ask for hostname h: those named
// by its first two labels.
func claimants(h string) []string {
	labels := strings.SplitN(h, ".", 3)
	if len(labels) < 3 {
		return nil
	}
	return labels[:2]
}

// enqueueIfSpace enqueues namespace name when it is a space.
func (m *mapper) enqueueIfSpace(ctx context.Context, name string, q queue) {
	ns := space.NamespaceMeta()
	if err := m.r.client.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		return
	}
	if _, ok := ns.Labels[space.LabelSpace]; ok && !m.r.ignored(name) {
		q.Add(namespaceKey(name))
	}
}

// serviceHandler enqueues the Service's space, and the space named like
// the Service: its TCP hostname <svc>.<space>.<domain> is also what a
// space named <svc> with domain <space>.<domain> would own.
func (m *mapper) serviceHandler() handler.TypedEventHandler[client.Object, reconcile.Request] {
	enqueue := func(ctx context.Context, obj client.Object, q queue) {
		q.Add(namespaceKey(obj.GetNamespace()))
		m.enqueueIfSpace(ctx, obj.GetName(), q)
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) { enqueue(ctx, e.Object, q) },
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			if e.ObjectOld.GetResourceVersion() != e.ObjectNew.GetResourceVersion() {
				enqueue(ctx, e.ObjectNew, q)
			}
		},
		DeleteFunc:  func(ctx context.Context, e event.DeleteEvent, q queue) { enqueue(ctx, e.Object, q) },
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q queue) { enqueue(ctx, e.Object, q) },
	}
}

// toNamespace maps an object in a space namespace to that namespace.
func (m *mapper) toNamespace(_ context.Context, obj client.Object) []reconcile.Request {
	if obj.GetNamespace() == "" || m.r.ignored(obj.GetNamespace()) {
		return nil
	}
	return []reconcile.Request{namespaceKey(obj.GetNamespace())}
}

// allSpaces maps a Gateway change to every space: their DNS records point
// at its addresses.
func (m *mapper) allSpaces(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := m.r.client.List(ctx, list, client.HasLabels{space.LabelSpace}); err != nil {
		logf.FromContext(ctx).Error(err, "listing spaces after a Gateway change")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if _, ok, _ := m.r.parseLive(&list.Items[i]); ok {
			out = append(out, namespaceKey(list.Items[i].Name))
		}
	}
	return out
}

// managedPredicate passes decco's objects only (the cache is narrowed to
// them already; this keeps a misconfigured cache from widening the
// controller's work).
func managedPredicate() predicate.Predicate {
	return predicate.NewPredicateFuncs(isManaged)
}

// gatewayPredicate passes the shared Gateway's appearance, disappearance
// and address changes; its frequent condition updates are ignored.
func gatewayPredicate(ref route.GatewayRef) predicate.Predicate {
	isOurs := func(obj client.Object) bool {
		return obj.GetNamespace() == ref.Namespace && obj.GetName() == ref.Name
	}
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return isOurs(e.Object) },
		DeleteFunc: func(e event.DeleteEvent) bool { return isOurs(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*gatewayv1.Gateway)
			n, ok2 := e.ObjectNew.(*gatewayv1.Gateway)
			return isOurs(e.ObjectNew) && (!ok1 || !ok2 || !addressesEqual(o.Status.Addresses, n.Status.Addresses))
		},
		GenericFunc: func(e event.GenericEvent) bool { return isOurs(e.Object) },
	}
}

func addressesEqual(a, b []gatewayv1.GatewayStatusAddress) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// sliceSummary reduces an EndpointSlice's endpoints before it is cached
// to one ready endpoint without addresses when any is ready, none
// otherwise: the reconciler reads the ports (policies) and whether a
// Service has a ready pod (regions of a global name), and endpoints are
// most of a slice.
func sliceSummary(obj any) (any, error) {
	if sl, ok := obj.(*discoveryv1.EndpointSlice); ok {
		ready := hasReadyEndpoint(sl.Labels[discoveryv1.LabelServiceName], []discoveryv1.EndpointSlice{*sl})
		sl.Endpoints = nil
		if ready {
			yes := true
			sl.Endpoints = []discoveryv1.Endpoint{{Conditions: discoveryv1.EndpointConditions{Ready: &yes}}}
		}
	}
	return obj, nil
}

// sliceHandler enqueues the space of a slice that can change a policy
// (new and deleted slices, changed ports) and, for a region of a global
// name, of a slice whose Service gains its first ready pod or loses its
// last. Other endpoint churn reconciles nothing.
func (m *mapper) sliceHandler() handler.TypedEventHandler[client.Object, reconcile.Request] {
	enqueue := func(obj client.Object, q queue) { q.Add(namespaceKey(obj.GetNamespace())) }
	return handler.Funcs{
		CreateFunc:  func(_ context.Context, e event.CreateEvent, q queue) { enqueue(e.Object, q) },
		DeleteFunc:  func(_ context.Context, e event.DeleteEvent, q queue) { enqueue(e.Object, q) },
		GenericFunc: func(_ context.Context, e event.GenericEvent, q queue) { enqueue(e.Object, q) },
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			before, ok1 := e.ObjectOld.(*discoveryv1.EndpointSlice)
			after, ok2 := e.ObjectNew.(*discoveryv1.EndpointSlice)
			switch {
			case !ok1 || !ok2 || !equality.Semantic.DeepEqual(before.Ports, after.Ports):
				enqueue(e.ObjectNew, q)
			case len(before.Endpoints) != len(after.Endpoints) && m.isRegion(ctx, after.Namespace):
				enqueue(e.ObjectNew, q)
			}
		},
	}
}

// isRegion: namespace ns is a valid space with a global name.
func (m *mapper) isRegion(ctx context.Context, ns string) bool {
	obj := space.NamespaceMeta()
	if err := m.r.client.Get(ctx, client.ObjectKey{Name: ns}, obj); err != nil {
		return false
	}
	sp, ok := m.parse(obj)
	return ok && sp.GlobalName != ""
}

// podPortsOnly keeps of a Pod what the reconciler reads before it is
// cached: its metadata (labels select it, decco.io/egress leads its
// egress) and the names and numbers of the ports its containers declare
// (Services' targets are checked against them, space.PortMismatches).
// Specs and statuses are most of a pod and change nothing decco makes.
func podPortsOnly(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{TypeMeta: pod.TypeMeta, ObjectMeta: pod.ObjectMeta}
	out.ManagedFields = nil
	out.Spec.InitContainers = portsOnly(pod.Spec.InitContainers)
	out.Spec.Containers = portsOnly(pod.Spec.Containers)
	return out, nil
}

func portsOnly(cs []corev1.Container) []corev1.Container {
	var out []corev1.Container
	for _, c := range cs {
		if len(c.Ports) > 0 {
			out = append(out, corev1.Container{Name: c.Name, Ports: c.Ports})
		}
	}
	return out
}

// podHandler enqueues the space of a pod when something decco makes or
// reports may change with it:
//   - its decco.io/egress entries appear, change or go, and the space
//     declares its egress (only then are they its policy's destinations);
//   - it comes or goes while a Service of the space selects it: the ports
//     it declares may serve, or stop serving, that Service's target (the
//     status reports targets nothing serves). A pod's ports never change;
//   - in cni interception, it comes or goes declaring a TLS port no other
//     pod of the space declares: the listener policy opens that port to
//     the space's pods (netpol.DeclaredPorts). The replicas after the
//     first cost nothing.
//
// Other pod events change nothing: without these tests every pod created
// (the injector's input) would cost its space a reconcile.
func (m *mapper) podHandler() handler.TypedEventHandler[client.Object, reconcile.Request] {
	egress := func(obj client.Object) (string, bool) {
		v, ok := obj.GetAnnotations()[space.AnnotationEgress]
		return v, ok
	}
	enqueue := func(ctx context.Context, obj client.Object, q queue) {
		if m.egressDeclared(ctx, obj.GetNamespace()) {
			q.Add(namespaceKey(obj.GetNamespace()))
		}
	}
	comeOrGo := func(ctx context.Context, obj client.Object, q queue) {
		if _, ok := egress(obj); ok {
			enqueue(ctx, obj, q)
		}
		if m.selectedByService(ctx, obj) || m.changesPeerPorts(ctx, obj) {
			q.Add(namespaceKey(obj.GetNamespace()))
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) { comeOrGo(ctx, e.Object, q) },
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q queue) { comeOrGo(ctx, e.Object, q) },
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			ov, ook := egress(e.ObjectOld)
			nv, nok := egress(e.ObjectNew)
			if ov != nv || ook != nok {
				enqueue(ctx, e.ObjectNew, q)
			}
		},
	}
}

// selectedByService reports whether a cached Service of the pod's
// namespace selects it. When the cache can't answer it says yes, as
// egressDeclared does.
func (m *mapper) selectedByService(ctx context.Context, pod client.Object) bool {
	var services corev1.ServiceList
	if err := m.r.client.List(ctx, &services, client.InNamespace(pod.GetNamespace())); err != nil {
		return true
	}
	for i := range services.Items {
		sel := services.Items[i].Spec.Selector
		if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(pod.GetLabels())) {
			return true
		}
	}
	return false
}

// changesPeerPorts reports, in cni interception, whether pod declares a
// TLS port that no other pod of its space in the cache declares: its
// coming opens that port, its going closes it. When the cache can't
// answer it says yes.
func (m *mapper) changesPeerPorts(ctx context.Context, obj client.Object) bool {
	pod, ok := obj.(*corev1.Pod)
	if m.r.opts.Interception != inject.InterceptCNI || !ok {
		return false
	}
	sp := space.Space{Name: pod.Namespace}
	own := netpol.DeclaredPorts(sp, []corev1.Pod{*pod})
	if len(own) == 0 {
		return false
	}
	var pods corev1.PodList
	if err := m.r.client.List(ctx, &pods, client.InNamespace(pod.Namespace), client.MatchingLabels{space.LabelSpace: pod.Namespace}); err != nil {
		return true
	}
	others := netpol.DeclaredPorts(sp, slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return p.Name == pod.Name }))
	return slices.ContainsFunc(own, func(p intstr.IntOrString) bool { return !slices.Contains(others, p) })
}

// egressDeclared reports whether namespace ns is a space that declares its
// egress, from the cache. When it can't tell (not cached yet, not a valid
// space) it says yes: the reconcile decides, and a needless one costs less
// than a missed one. A namespace that is no space at all has no policy a
// pod could change (its pods carry the space label by mistake, or copied):
// no reconcile per pod there; the namespace's own events clean it up.
func (m *mapper) egressDeclared(ctx context.Context, ns string) bool {
	obj := space.NamespaceMeta()
	if err := m.r.client.Get(ctx, client.ObjectKey{Name: ns}, obj); err != nil {
		return true
	}
	sp, err := m.r.spaces.FromNamespace(obj)
	if errors.Is(err, space.ErrNotASpace) {
		return false
	}
	return err != nil || sp.EgressDeclared
}

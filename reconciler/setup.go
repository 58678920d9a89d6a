package reconciler

import (
	"context"
	"fmt"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// CacheByObject narrows the manager's caches to what the reconciler reads,
// so it never holds other objects: Services labeled with a space, decco's
// own objects of the route mode's kinds (managed-by label), and the one
// shared Gateway. Secrets are not cached at all (see OwnSecretNames).
// Namespaces are not narrowed: the webhook needs every namespace's
// metadata, and a namespace that loses its space label must stay visible
// to be cleaned up. Merge the result into cache.Options.ByObject.
func CacheByObject(o Options) map[client.Object]cache.ByObject {
	managed := cache.ByObject{Label: ManagedSelector()}
	hasSpace, err := labels.NewRequirement(space.LabelSpace, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key: can't fail
	}
	out := map[client.Object]cache.ByObject{
		&corev1.Service{}: {Label: labels.NewSelector().Add(*hasSpace)},
		// Only kube-controller-manager's slices, their ports and whether
		// any endpoint is ready: endpoints churn with every pod, and
		// only a region of a global name cares whether one is ready.
		&discoveryv1.EndpointSlice{}: {
			Label:     labels.SelectorFromSet(labels.Set{discoveryv1.LabelManagedBy: netpol.EndpointSliceController}),
			Transform: sliceSummary,
		},
		// Metadata and declared ports only: see podPortsOnly.
		&corev1.Pod{}: {Label: labels.NewSelector().Add(*hasSpace), Transform: podPortsOnly},
	}
	for _, k := range activeKinds(o) {
		out[k.newObj()] = managed
	}
	// cert-manager copies a Certificate's labels to its requests.
	out[&certmanagerv1.CertificateRequest{}] = managed
	if watchesGateway(o) {
		out[&gatewayv1.Gateway{}] = cache.ByObject{Namespaces: map[string]cache.Config{
			o.Gateway.Namespace: {FieldSelector: fields.OneTermEqualSelector("metadata.name", o.Gateway.Name)},
		}}
	}
	return out
}

// watchesGateway: DNS points at the Gateway's addresses.
func watchesGateway(o Options) bool {
	return o.publishesDNS() && len(o.DNSTargets) == 0 && o.RouteMode == route.ModeGatewayAPI
}

// cacheSyncTimeout is how long the controller waits for its informers
// before giving up, which would end the whole process, webhook included.
// In effect forever: a missing RBAC rule or CRD stalls the reconciler
// alone, and cacheWatch reports it, while the webhook keeps serving.
const cacheSyncTimeout = 100 * 365 * 24 * time.Hour

// Setup registers the space controller with mgr, whose cache must be
// narrowed with CacheByObject(o). The controller runs only on the elected
// leader.
//
// Certificates are watched with their status, so a Certificate becoming
// Ready (cert-manager has written its Secret by then) reconciles the
// space: that is the signal to read the Secret, which is not watched.
func Setup(mgr ctrl.Manager, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	r := &Reconciler{
		client:   mgr.GetClient(),
		reader:   mgr.GetAPIReader(),
		scheme:   mgr.GetScheme(),
		recorder: mgr.GetEventRecorder("decco"),
		opts:     o,
		kinds:    activeKinds(o),
		states:   newSpaceStates(),
		memo:     newSecretMemo(),
		written:  newOwnWrites(),
	}
	// Project membership is a lookup, not a scan of every namespace.
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), space.NamespaceMeta(), projectIndex, projectOf); err != nil {
		return fmt.Errorf("indexing namespaces by project: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), space.NamespaceMeta(), globalIndex, globalNameOf); err != nil {
		return fmt.Errorf("indexing namespaces by global name: %w", err)
	}
	m := &mapper{r: r}
	b := ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		WithOptions(controller.Options{MaxConcurrentReconciles: o.Workers, CacheSyncTimeout: cacheSyncTimeout}).
		WatchesMetadata(&corev1.Namespace{}, m.namespaceHandler()).
		Watches(&corev1.Service{}, m.serviceHandler()).
		Watches(&discoveryv1.EndpointSlice{}, m.sliceHandler()).
		Watches(&corev1.Pod{}, m.podHandler())
	b = b.Watches(&certmanagerv1.CertificateRequest{}, handler.EnqueueRequestsFromMapFunc(m.toNamespace), builder.WithPredicates(managedPredicate()))
	for _, k := range r.kinds {
		b = b.Watches(k.newObj(), handler.EnqueueRequestsFromMapFunc(m.toNamespace), builder.WithPredicates(managedPredicate()))
	}
	if watchesGateway(o) {
		b = b.Watches(&gatewayv1.Gateway{}, handler.EnqueueRequestsFromMapFunc(m.allSpaces), builder.WithPredicates(gatewayPredicate(o.Gateway)))
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("setting up the space controller: %w", err)
	}
	if err := mgr.Add(newCacheWatch(mgr.GetCache(), watched(o), ctrl.Log.WithName("reconciler"))); err != nil {
		return fmt.Errorf("setting up the reconciler's cache watch: %w", err)
	}
	return nil
}

// watched are the informers the controller reads from, as Setup watches
// them.
func watched(o Options) []watchedKind {
	out := []watchedKind{{"Namespace", space.NamespaceMeta()}, {"Service", &corev1.Service{}}, {"EndpointSlice", &discoveryv1.EndpointSlice{}}, {"Pod", &corev1.Pod{}}, {"CertificateRequest", &certmanagerv1.CertificateRequest{}}}
	for _, k := range activeKinds(o) {
		out = append(out, watchedKind{k.name, k.newObj()})
	}
	if watchesGateway(o) {
		out = append(out, watchedKind{"Gateway", &gatewayv1.Gateway{}})
	}
	return out
}

// namespaceKey is the reconcile request for namespace name.
func namespaceKey(name string) ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKey{Name: name}}
}

// isNamespaceGone reports a namespace object on its way out.
func isNamespaceGone(obj metav1.Object) bool { return obj.GetDeletionTimestamp() != nil }

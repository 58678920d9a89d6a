package reconciler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
)

// gather reads everything decide needs about sp, from the caches and, for
// the CA bundle, a Secret by name from the apiserver. It reads only what
// sp's objects can depend on, so a reconcile costs the same with ten
// spaces or ten thousand: sp's Services, its project's members (an index
// lookup), and the few spaces that could want one of its hostnames.
func (r *Reconciler) gather(ctx context.Context, sp space.Space, have owned) (Input, error) {
	in := Input{Space: sp, Now: time.Now().UTC().Truncate(time.Second)}
	var err error
	if in.Services, err = r.servicesOf(ctx, sp.Name); err != nil {
		return in, err
	}
	if in.EndpointSlices, err = r.endpointSlicesOf(ctx, sp.Name); err != nil {
		return in, err
	}
	if in.Pods, err = r.podsOf(ctx, sp.Name); err != nil {
		return in, err
	}
	if in.Peers, err = r.peers(ctx, sp, in.Services); err != nil {
		return in, err
	}
	if in.CABundle, err = r.caBundle(ctx, sp, have); err != nil {
		return in, err
	}
	if in.EgressDestinations, in.EgressErr, err = r.egress(ctx, sp, in.Pods); err != nil {
		return in, err
	}
	in.DNSTargets, err = r.dnsTargets(ctx, sp)
	in.Published, _ = have.objects[objKey{endpoint.Kind, endpoint.ObjectName}].(*endpoint.DNSEndpoint)
	return in, err
}

// podsOf lists the pods of namespace ns labeled with its space, as the
// cache holds them: metadata and declared ports (see podPortsOnly).
func (r *Reconciler) podsOf(ctx context.Context, ns string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := r.client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{space.LabelSpace: ns}); err != nil {
		return nil, fmt.Errorf("listing the pods of %s: %w", ns, err)
	}
	return list.Items, nil
}

// egress resolves the decco.io/egress entries of the space's pods, for a
// space that declares its egress: where they lead, and which lead
// nowhere (a second error, for the status; the first fails the read).
func (r *Reconciler) egress(ctx context.Context, sp space.Space, pods []corev1.Pod) ([]netpol.Destination, error, error) {
	if !sp.EgressDeclared {
		return nil, nil, nil
	}
	seen := map[sidecar.Egress]bool{}
	var entries []sidecar.Egress
	for _, p := range pods {
		// The webhook refused pods whose entries don't parse; one that
		// slipped through (webhook off) opens nothing.
		es, _ := space.ParseEgress(p.Annotations[space.AnnotationEgress])
		for _, e := range es {
			e.LocalPort = 0 // the pod's end does not change the destination
			if !seen[e] {
				seen[e] = true
				entries = append(entries, e)
			}
		}
	}
	slices.SortFunc(entries, func(a, b sidecar.Egress) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Port, b.Port))
	})
	lookup := func(ns, name string) (*corev1.Service, bool) {
		var svc corev1.Service
		if err := r.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil || svc.Labels[space.LabelSpace] != ns {
			return nil, false
		}
		return &svc, true
	}
	dests, unresolved := netpol.ResolveEgress(entries, r.opts.ClusterDomain,
		netpol.Gateway{Namespace: r.opts.Gateway.Namespace, PodPort: r.opts.GatewayPodPort}, r.opts.Interception, lookup)
	return dests, unresolved, nil
}

// servicesOf lists the Services of namespace ns labeled with its space.
// The cache holds only labeled Services.
func (r *Reconciler) servicesOf(ctx context.Context, ns string) ([]corev1.Service, error) {
	var list corev1.ServiceList
	if err := r.client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{space.LabelSpace: ns}); err != nil {
		return nil, fmt.Errorf("listing Services of %s labeled %s: %w", ns, space.LabelSpace, err)
	}
	return list.Items, nil
}

// endpointSlicesOf lists the EndpointSlices kube-controller-manager keeps
// in namespace ns; the cache holds only those, without their endpoints.
func (r *Reconciler) endpointSlicesOf(ctx context.Context, ns string) ([]discoveryv1.EndpointSlice, error) {
	var list discoveryv1.EndpointSliceList
	if err := r.client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing EndpointSlices of %s: %w", ns, err)
	}
	return list.Items, nil
}

// peers are the valid, live spaces decide must weigh sp against, sp
// included: its project's members (policies, by name), and every space
// that could ask for one of sp's hostnames (claims; see claimants), with
// the hostnames each asks for.
func (r *Reconciler) peers(ctx context.Context, sp space.Space, services []corev1.Service) ([]Peer, error) {
	// Hostnames matter only for the spaces that could claim one of sp's;
	// project members need only their names, so their Services are not read.
	rivals := map[string]bool{sp.Name: true}
	for _, h := range hostnames(sp, services) {
		names, err := r.rivalsOf(ctx, h)
		if err != nil {
			return nil, err
		}
		for _, c := range names {
			rivals[c] = true
		}
	}
	seen := map[string]bool{}
	var out []Peer
	if sp.Project != "" {
		members, err := r.projectSpaces(ctx, sp.Project)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			if !rivals[m.sp.Name] {
				seen[m.sp.Name] = true
				out = append(out, Peer{Name: m.sp.Name, Project: m.sp.Project, Created: m.created.Time})
			}
		}
	}
	for name := range rivals {
		if seen[name] {
			continue
		}
		s, ok, err := r.liveSpace(ctx, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		svcs := services
		if name != sp.Name {
			if svcs, err = r.servicesOf(ctx, name); err != nil {
				return nil, err
			}
		}
		out = append(out, Peer{Name: name, Project: s.sp.Project, Created: s.created.Time, Host: s.sp.Host(), Hosts: hostnames(s.sp, svcs), Held: s.held})
	}
	return out, nil
}

// liveSpace reads namespace name from the cache: ok when it is a valid
// space not being deleted.
func (r *Reconciler) liveSpace(ctx context.Context, name string) (liveSpace, bool, error) {
	if r.ignored(name) {
		return liveSpace{}, false, nil
	}
	ns := space.NamespaceMeta()
	if err := r.client.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return liveSpace{}, false, nil
		}
		return liveSpace{}, false, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	return r.parseLive(ns)
}

// liveSpace is a valid space namespace, when it was created and the
// hostnames it holds.
type liveSpace struct {
	sp      space.Space
	created metav1.Time
	held    space.Claims
}

func (r *Reconciler) parseLive(ns *metav1.PartialObjectMetadata) (liveSpace, bool, error) {
	if _, labeled := ns.Labels[space.LabelSpace]; !labeled || ns.DeletionTimestamp != nil || r.ignored(ns.Name) {
		return liveSpace{}, false, nil
	}
	sp, err := r.spaces.FromNamespace(ns)
	if err != nil {
		return liveSpace{}, false, nil
	}
	// Only decco writes the record; one that doesn't parse holds nothing,
	// and the space's next reconcile writes it anew.
	held, _ := space.ParseClaims(ns.Annotations[space.AnnotationHostnames])
	return liveSpace{sp: sp, created: ns.CreationTimestamp, held: held}, true, nil
}

// projectIndex indexes space namespaces by their project.
const projectIndex = "decco.project"

// projectOf is the projectIndex function: a valid space's project.
func projectOf(obj client.Object) []string {
	if _, labeled := obj.GetLabels()[space.LabelSpace]; !labeled {
		return nil
	}
	sp, err := space.FromNamespace(obj)
	if err != nil || sp.Project == "" {
		return nil
	}
	return []string{sp.Project}
}

// projectSpaces are the valid, live spaces of project, from the index.
// Every reconcile of a member reads them all, so they are read without
// the cache's deep copy of each (parseLive only reads them, and keeps no
// map of theirs): the copies grew with the project.
func (r *Reconciler) projectSpaces(ctx context.Context, project string) ([]liveSpace, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := r.client.List(ctx, list, client.MatchingFields{projectIndex: project}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the spaces of project %s: %w", project, err)
	}
	var out []liveSpace
	for i := range list.Items {
		if s, ok, _ := r.parseLive(&list.Items[i]); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// caBundle reads the CA that verifies the space's pods, when a
// BackendTLSPolicy will need it (HTTP encrypted to the pod, in Gateway API
// mode): the ca.crt of the workload certificate's Secret. That is decco's
// own Secret, read when its Certificate changed, or the tenant's
// (decco.io/tcp-cert-secret), read only when the installation lets decco
// read tenants' Secrets; otherwise the tenant publishes the bundle and the
// pki status says so.
func (r *Reconciler) caBundle(ctx context.Context, sp space.Space, have owned) ([]byte, error) {
	if !r.opts.RouteMode.GatewayAPI() {
		return nil, nil
	}
	key := types.NamespacedName{Namespace: sp.Name, Name: sp.WorkloadCertSecret()}
	if sp.TCPCertSecret == "" {
		cert := writerOf(have, key.Name)
		if cert == nil {
			return nil, nil // not created yet, so not issued either
		}
		f, err := r.ownSecret(ctx, key, cert.ResourceVersion)
		return f.caCrt, err
	}
	if !r.opts.VerifyBYOSecrets {
		return nil, nil
	}
	f, err := r.readSecret(ctx, key)
	if apierrors.IsForbidden(err) {
		return nil, nil // gatherPKI reports it in the status
	}
	return f.caCrt, err
}

// dnsTargets is where the space's records point: the configured targets,
// else the Gateway's addresses (Gateway API mode) or the space's own
// Ingresses' load balancer addresses (Ingress mode).
func (r *Reconciler) dnsTargets(ctx context.Context, sp space.Space) ([]string, error) {
	if !r.opts.publishesDNS() {
		return nil, nil
	}
	if len(r.opts.DNSTargets) > 0 {
		return dnsTargets(r.opts.DNSTargets), nil
	}
	var addrs []string
	if r.opts.RouteMode.GatewayAPI() {
		key := r.gatewayOf(sp)
		var gw gatewayv1.Gateway
		err := r.client.Get(ctx, key, &gw)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading Gateway %s for its addresses: %w", key, err)
		}
		for _, a := range gw.Status.Addresses {
			addrs = append(addrs, a.Value)
		}
		return dnsTargets(addrs), nil
	}
	var ings networkingv1.IngressList
	if err := r.client.List(ctx, &ings, client.InNamespace(sp.Name), client.MatchingLabelsSelector{Selector: ManagedSelector()}); err != nil {
		return nil, fmt.Errorf("listing the Ingresses of %s for their addresses: %w", sp.Name, err)
	}
	for _, ing := range ings.Items {
		for _, lb := range ing.Status.LoadBalancer.Ingress {
			addrs = append(addrs, lb.IP, lb.Hostname)
		}
	}
	return dnsTargets(addrs), nil
}

// gatewayOf is the Gateway serving sp's routes: the shared one, or the
// space's own (route.ModeGatewayPerSpace), which is in the cache as one of
// decco's objects.
func (r *Reconciler) gatewayOf(sp space.Space) client.ObjectKey {
	if r.opts.RouteMode == route.ModeGatewayPerSpace {
		return client.ObjectKey{Namespace: sp.Name, Name: route.GatewayName}
	}
	return client.ObjectKey{Namespace: r.opts.Gateway.Namespace, Name: r.opts.Gateway.Name}
}

// dnsSource names where DNS targets come from, for status messages.
func (r *Reconciler) dnsSource(sp space.Space) string {
	if r.opts.RouteMode.GatewayAPI() {
		return "Gateway " + r.gatewayOf(sp).String()
	}
	return "the space's Ingresses"
}

// restoreServices, in cni interception, gives the space's Services that
// ports interception rewrote (decco.io/rewritten-ports) their original
// targets back (inject.RestoreService): a cluster that switched modes
// would otherwise keep sending them to listener ports nothing serves. The
// Services in services are updated in place, so this reconcile's policies
// open the restored ports. The patch is conditioned on the Service as read:
// a concurrent edit makes it fail and the reconcile retry.
func (r *Reconciler) restoreServices(ctx context.Context, services []corev1.Service) error {
	if r.opts.Interception != inject.InterceptCNI {
		return nil
	}
	var errs []error
	for i := range services {
		out, changed, err := inject.RestoreService(&services[i])
		if err != nil || !changed {
			continue // a record that doesn't parse is the webhook's to refuse
		}
		if err := r.client.Patch(ctx, out, client.MergeFromWithOptions(&services[i], client.MergeFromWithOptimisticLock{})); err != nil {
			errs = append(errs, fmt.Errorf("restoring Service %s/%s's targets from the ports-mode rewrite: %w", out.Namespace, out.Name, err))
			continue
		}
		logf.FromContext(ctx).Info("restored a Service's targets from the ports-mode rewrite", "service", out.Name)
		services[i] = *out
	}
	return errors.Join(errs...)
}

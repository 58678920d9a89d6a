package reconciler

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// namespaceGVK is the Namespace kind, read metadata-only: labels and
// annotations are all decco needs of a namespace.
var namespaceGVK = corev1.SchemeGroupVersion.WithKind("Namespace")

func namespaceMeta() *metav1.PartialObjectMetadata {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(namespaceGVK)
	return ns
}

// gather reads everything decide needs about sp, from the caches and, for
// the CA bundle, a Secret by name from the apiserver.
func (r *Reconciler) gather(ctx context.Context, sp space.Space, have owned) (Input, error) {
	in := Input{Space: sp}
	all, err := r.servicesBySpace(ctx)
	if err != nil {
		return in, err
	}
	in.Services = all[sp.Name]
	if in.Peers, err = r.peers(ctx, all); err != nil {
		return in, err
	}
	if in.CABundle, err = r.caBundle(ctx, sp, have); err != nil {
		return in, err
	}
	in.DNSTargets, err = r.dnsTargets(ctx, sp)
	return in, err
}

// servicesBySpace lists the Services labeled with their space, grouped by
// namespace. The cache holds only labeled Services.
func (r *Reconciler) servicesBySpace(ctx context.Context) (map[string][]corev1.Service, error) {
	var list corev1.ServiceList
	if err := r.client.List(ctx, &list, client.HasLabels{space.LabelSpace}); err != nil {
		return nil, fmt.Errorf("listing Services labeled %s: %w", space.LabelSpace, err)
	}
	out := map[string][]corev1.Service{}
	for _, svc := range list.Items {
		if svc.Labels[space.LabelSpace] == svc.Namespace {
			out[svc.Namespace] = append(out[svc.Namespace], svc)
		}
	}
	return out, nil
}

// peers are every valid space that is not being deleted, with the
// hostnames it asks for.
func (r *Reconciler) peers(ctx context.Context, services map[string][]corev1.Service) ([]Peer, error) {
	spaces, err := r.spaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Peer, 0, len(spaces))
	for _, s := range spaces {
		out = append(out, Peer{
			Name:    s.sp.Name,
			Project: s.sp.Project,
			Created: s.created.Time,
			Hosts:   route.Hostnames(s.sp, services[s.sp.Name]),
		})
	}
	return out, nil
}

// liveSpace is a valid space namespace and when it was created.
type liveSpace struct {
	sp      space.Space
	created metav1.Time
}

// spaces parses every namespace in the cache and keeps the valid, live
// spaces.
func (r *Reconciler) spaces(ctx context.Context) ([]liveSpace, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := r.client.List(ctx, list, client.HasLabels{space.LabelSpace}); err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	var out []liveSpace
	for i := range list.Items {
		ns := &list.Items[i]
		if ns.DeletionTimestamp != nil || r.ignored(ns.Name) {
			continue
		}
		if sp, err := space.FromNamespace(ns); err == nil {
			out = append(out, liveSpace{sp: sp, created: ns.CreationTimestamp})
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
	if !sp.EncryptHTTP || r.opts.RouteMode != route.ModeGatewayAPI {
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
	if r.opts.DNS == nil {
		return nil, nil
	}
	if len(r.opts.DNSTargets) > 0 {
		return dnsTargets(r.opts.DNSTargets), nil
	}
	var addrs []string
	if r.opts.RouteMode == route.ModeGatewayAPI {
		var gw gatewayv1.Gateway
		err := r.client.Get(ctx, client.ObjectKey{Namespace: r.opts.Gateway.Namespace, Name: r.opts.Gateway.Name}, &gw)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading Gateway %s/%s for its addresses: %w", r.opts.Gateway.Namespace, r.opts.Gateway.Name, err)
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

// dnsSource names where DNS targets come from, for status messages.
func (r *Reconciler) dnsSource() string {
	if r.opts.RouteMode == route.ModeGatewayAPI {
		return fmt.Sprintf("Gateway %s/%s", r.opts.Gateway.Namespace, r.opts.Gateway.Name)
	}
	return "the space's Ingresses"
}

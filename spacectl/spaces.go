package spacectl

import (
	"context"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// SpaceSummary is one space as `get spaces` shows it.
type SpaceSummary struct {
	Name    string `json:"name"`
	Domain  string `json:"domain,omitempty"`
	Project string `json:"project,omitempty"`
	// Error is why the namespace's space settings are invalid.
	Error string `json:"error,omitempty"`
	// Ready: every part ready, and no pod missing or outdated.
	Ready bool `json:"ready"`
	// Reported says the reconciler has written a status.
	Reported bool                       `json:"reported"`
	Parts    map[string]space.Condition `json:"parts"`
	Pods     PodCounts                  `json:"pods"`
}

// summarize is the pure part of `get spaces`: a namespace's space and
// status, and its pods' injection states.
func summarize(ns *corev1.Namespace, pods []corev1.Pod, cfg inject.Config) (SpaceSummary, []PodInjection) {
	s := SpaceSummary{Name: ns.Name, Parts: map[string]space.Condition{}}
	sp, err := space.FromNamespace(ns)
	if err != nil {
		s.Error = err.Error()
		return s, nil
	}
	s.Domain, s.Project = sp.Domain, sp.Project
	raw, reported := ns.Annotations[space.AnnotationStatus]
	st, err := space.ParseStatus(raw)
	if err != nil {
		s.Error = fmt.Sprintf("unreadable status: %v", err)
	}
	s.Reported, s.Parts = reported, st.Parts
	var injections []PodInjection
	for i := range pods {
		pi := classifyPod(&pods[i], sp, cfg)
		s.Pods.add(pi.State)
		injections = append(injections, pi)
	}
	s.Ready = reported && st.Ready() && s.Error == "" && s.Pods.Missing+s.Pods.Outdated+s.Pods.Refused == 0
	return s, injections
}

// spaceSelector selects namespaces carrying the space label.
var spaceSelector = client.HasLabels{space.LabelSpace}

// getSpace reads the namespace of a space. A missing namespace, or one
// that is not a space, is ExitNotFound with what to do.
func (r *root) getSpace(ctx context.Context, cl *cluster, name string) (*corev1.Namespace, error) {
	ns := &corev1.Namespace{}
	err := cl.c.Get(ctx, client.ObjectKey{Name: name}, ns)
	switch {
	case apierrors.IsNotFound(err):
		return nil, notFoundf("space %q not found: no namespace %s; create it with %s create space %s --domain DOMAIN", name, name, r.name, name)
	case err != nil:
		return nil, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	if _, ok := ns.Labels[space.LabelSpace]; !ok {
		return nil, notFoundf("namespace %s is not a space (no %s label); make it one with %s create space %s --domain DOMAIN", name, space.LabelSpace, r.name, name)
	}
	return ns, nil
}

// listSpaces returns the space namespaces, all or the named ones, sorted.
func (r *root) listSpaces(ctx context.Context, cl *cluster, names []string) ([]corev1.Namespace, error) {
	if len(names) > 0 {
		var out []corev1.Namespace
		var errs []error
		for _, n := range names {
			ns, err := r.getSpace(ctx, cl, n)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, *ns)
		}
		return out, joinKeepingCode(errs)
	}
	list := &corev1.NamespaceList{}
	if err := cl.c.List(ctx, list, spaceSelector); err != nil {
		return nil, fmt.Errorf("listing space namespaces: %w", err)
	}
	var out []corev1.Namespace
	for _, ns := range list.Items {
		if ns.DeletionTimestamp == nil { // going away: decco is tearing it down
			out = append(out, ns)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// joinKeepingCode joins errors; the exit code is the first one's.
func joinKeepingCode(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return withCode(ExitCode(errs[0]), errors.Join(errs...))
}

// spacePods lists the pods of one space namespace.
func spacePods(ctx context.Context, cl *cluster, ns string) (map[string][]corev1.Pod, error) {
	list := &corev1.PodList{}
	if err := cl.c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing the pods of %s: %w", ns, err)
	}
	return map[string][]corev1.Pod{ns: list.Items}, nil
}

// spacesPods lists the pods labeled with a space (unlabeled pods are never
// injected) of the given namespaces: in one request across the cluster,
// or, for someone who may not list pods cluster-wide, one per namespace.
func spacesPods(ctx context.Context, cl *cluster, nss []corev1.Namespace) (map[string][]corev1.Pod, error) {
	byNS := map[string][]corev1.Pod{}
	list := &corev1.PodList{}
	err := cl.c.List(ctx, list, client.HasLabels{space.LabelSpace})
	if apierrors.IsForbidden(err) {
		for _, ns := range nss {
			l := &corev1.PodList{}
			if err := cl.c.List(ctx, l, client.InNamespace(ns.Name), client.HasLabels{space.LabelSpace}); err != nil {
				return nil, fmt.Errorf("listing the pods of %s: %w", ns.Name, err)
			}
			byNS[ns.Name] = l.Items
		}
		return byNS, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	for _, p := range list.Items {
		byNS[p.Namespace] = append(byNS[p.Namespace], p)
	}
	return byNS, nil
}

// deccoKinds are the kinds the reconciler makes in a space namespace.
// Kinds the cluster doesn't have are skipped.
var deccoKinds = []schema.GroupVersionKind{
	{Group: "cert-manager.io", Version: "v1", Kind: "Issuer"},
	{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
	{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "ListenerSet"},
	{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}, // gateway-per-space mode
	{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"},
	{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "TLSRoute"},
	{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "BackendTLSPolicy"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
	{Group: "externaldns.k8s.io", Version: "v1alpha1", Kind: "DNSEndpoint"},
	{Group: "", Version: "v1", Kind: "ConfigMap"},
}

// routeKinds are the deccoKinds that route to a Service.
var routeKinds = []string{"HTTPRoute", "TLSRoute", "Ingress"}

// deccoObjects lists what decco made in a space: every object of
// deccoKinds labeled managed-by=decco and with the space.
func deccoObjects(ctx context.Context, cl *cluster, ns string) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	for _, gvk := range deccoKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		err := cl.c.List(ctx, list, client.InNamespace(ns),
			client.MatchingLabels{space.LabelManagedBy: space.ManagedByValue, space.LabelSpace: ns})
		switch {
		case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
			continue // not installed in this cluster
		case err != nil:
			return nil, fmt.Errorf("listing %s in %s: %w", gvk.Kind, ns, err)
		}
		for i := range list.Items {
			list.Items[i].SetKind(gvk.Kind) // lists may leave items' kind empty
		}
		out = append(out, list.Items...)
	}
	return out, nil
}

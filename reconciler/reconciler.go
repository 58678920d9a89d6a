package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/decco-dev/decco/space"
)

// Reconciler converges one space namespace per request (the request's
// Name is the namespace).
type Reconciler struct {
	// client reads from the manager's label-filtered caches and writes.
	client client.Client
	// reader reads the apiserver directly, for what decco does not cache:
	// a name decco is about to create, and Secrets, by name.
	reader   client.Reader
	scheme   *runtime.Scheme
	recorder events.EventRecorder
	opts     Options
	kinds    []kind
	states   *spaceStates
	memo     *secretMemo
	// spaces remembers parsed namespaces by resourceVersion.
	spaces space.Memo
	// written remembers namespaces as decco's own writes returned them,
	// for a cache that has not seen those writes yet.
	written *ownWrites
}

var _ reconcile.Reconciler = (*Reconciler)(nil)

// Reconcile converges the namespace req.Name: a valid space gets its
// objects, status and records; an invalid one a status saying why; a
// namespace that is no longer a space loses everything decco made in it.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if r.ignored(req.Name) {
		return reconcile.Result{}, nil
	}
	ns := space.NamespaceMeta()
	err := r.client.Get(ctx, client.ObjectKey{Name: req.Name}, ns)
	switch {
	case apierrors.IsNotFound(err):
		r.spaces.Forget(req.Name)
		return reconcile.Result{}, r.gone(ctx, req.Name)
	case err != nil:
		return reconcile.Result{}, fmt.Errorf("reading namespace %s: %w", req.Name, err)
	case ns.DeletionTimestamp != nil:
		// The namespace controller deletes its contents; only what lives
		// outside the cluster (DNS) is decco's to remove.
		return reconcile.Result{}, r.gone(ctx, req.Name)
	}
	ns = r.written.latest(ns)
	sp, err := r.spaces.FromNamespace(ns)
	switch {
	case errors.Is(err, space.ErrNotASpace):
		return reconcile.Result{}, r.cleanup(ctx, ns)
	case err != nil:
		r.states.set(ns.Name, stateInvalid)
		return reconcile.Result{}, r.writeStatus(ctx, ns, invalidStatus(err))
	}
	return r.converge(ctx, ns, sp)
}

// ignored namespaces are never spaces: decco's own and Kubernetes'.
func (r *Reconciler) ignored(name string) bool {
	switch name {
	case r.opts.SystemNamespace, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease:
		return true
	}
	return false
}

// converge makes a valid space match its desired state and reports how
// far it got in the status annotation. A failed write is retried with
// backoff (the returned error); refusals the user must fix are not. A
// bring-your-own Secret found missing is looked at again after
// byoRecheck: decco does not watch Secrets.
func (r *Reconciler) converge(ctx context.Context, ns *metav1.PartialObjectMetadata, sp space.Space) (reconcile.Result, error) {
	have, err := r.owned(ctx, sp.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	in, err := r.gather(ctx, sp, have)
	if err != nil {
		return reconcile.Result{}, err
	}
	restoreErr := r.restoreServices(ctx, in.Services)
	facts, err := r.gatherPKI(ctx, sp, have)
	if err != nil {
		return reconcile.Result{}, err
	}
	requests, err := r.certificateRequests(ctx, sp.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	want := decide(in, r.opts)
	// The claim is on record before any route or DNS record for it
	// exists, so a rival deciding meanwhile sees the name as held.
	if err := r.writeClaims(ctx, ns, want.Claims); err != nil {
		return reconcile.Result{}, err
	}
	errs := partErrs{}
	errs.add(space.PartPolicies, restoreErr)
	r.apply(ctx, want.Objects, have, errs)
	r.prune(ctx, want.Objects, have, errs)
	r.pruneSecrets(ctx, sp.Name, keptSecrets(want.Objects, sp), have, errs)
	pkiC := pkiCondition(want.Objects, have, requests, facts, errs.err(space.PartPKI))
	routesC := routesCondition(errs.err(space.PartRoutes), want.Conflicts)
	g, err := r.region(ctx, sp, have, in, want, pkiC, routesC)
	if err != nil {
		return reconcile.Result{}, err
	}
	var dnsErr error
	if r.opts.DNS != nil && len(in.DNSTargets) > 0 {
		// Without an address the records stay as they are: a load
		// balancer that briefly reports none must not unpublish a space.
		dnsErr = r.opts.DNS.Ensure(ctx, sp.Name, g.records)
	}
	st := space.Status{Parts: map[string]space.Condition{
		space.PartPKI:      pkiC,
		space.PartPolicies: policiesCondition(errs.err(space.PartPolicies), want.PortsErr),
		space.PartRoutes:   routesC,
		space.PartDNS: g.condition(dnsCondition(r.opts.publishesDNS(), in.DNSTargets, r.dnsSource(sp),
			errors.Join(dnsErr, errs.err(space.PartDNS)), len(want.Records)), r.opts),
	}}
	st.SetMismatches(want.Mismatches)
	r.states.set(sp.Name, stateOf(st))
	statusErr := r.writeStatus(ctx, ns, st)
	if err := errors.Join(retryable(errs), dnsErr, statusErr); err != nil {
		return reconcile.Result{}, err
	}
	if st.Parts[space.PartDNS].Reason == ReasonLastRegion {
		// Nothing in this cluster says when another region comes back.
		return reconcile.Result{RequeueAfter: LastRegionRecheck}, nil
	}
	if len(facts.missing) > 0 || len(facts.unreadable) > 0 {
		return reconcile.Result{RequeueAfter: byoRecheck}, nil
	}
	return reconcile.Result{}, nil
}

// byoRecheck is how often a space whose bring-your-own Secret is missing
// is checked again.
const byoRecheck = time.Minute

// retryable are the write errors worth retrying: not a name held by a
// user's object, which only the user can free (and doing so is an event
// that brings the space back here).
func retryable(errs partErrs) error {
	var out []error
	for _, part := range space.Parts {
		for _, err := range errs[part] {
			if !errors.Is(err, errNameInUse) {
				out = append(out, err)
			}
		}
	}
	return errors.Join(out...)
}

// cleanup removes everything decco made in a namespace that is no longer
// a space: its objects, cert-manager's Secrets for them (by name, if
// labeled as decco's), its DNS records and its status annotation, and
// nothing else. A namespace with neither objects nor status causes no
// request beyond the caches.
func (r *Reconciler) cleanup(ctx context.Context, ns *metav1.PartialObjectMetadata) error {
	have, err := r.owned(ctx, ns.Name)
	if err != nil {
		return err
	}
	_, hasStatus := ns.Annotations[space.AnnotationStatus]
	_, hasClaims := ns.Annotations[space.AnnotationHostnames]
	if have.empty() && !hasStatus && !hasClaims {
		r.states.set(ns.Name, "")
		return nil
	}
	logf.FromContext(ctx).Info("namespace is no longer a space: removing decco's objects", "objects", len(have.objects))
	errs := partErrs{}
	r.prune(ctx, nil, have, errs)
	r.pruneSecrets(ctx, ns.Name, nil, have, errs)
	var all []error
	for _, p := range space.Parts {
		all = append(all, errs[p]...)
	}
	if r.opts.DNS != nil {
		all = append(all, r.opts.DNS.Remove(ctx, ns.Name))
	}
	if err := errors.Join(all...); err != nil {
		return err // keep the status until everything is gone, so a retry finds the namespace again
	}
	if hasClaims {
		if err := r.patchAnnotation(ctx, ns, space.AnnotationHostnames, nil); err != nil {
			return err
		}
	}
	if hasStatus {
		if err := r.patchStatus(ctx, ns, nil); err != nil {
			return err
		}
	}
	r.states.set(ns.Name, "")
	r.memo.forget(ns.Name)
	r.record(ns, nsEvent{Type: corev1.EventTypeNormal, Reason: ReasonSpaceRemoved,
		Note: fmt.Sprintf("label %s removed: decco deleted the objects it made here", space.LabelSpace)})
	return nil
}

// gone handles a namespace that is deleted or being deleted: its objects
// go with it, its DNS records do not.
func (r *Reconciler) gone(ctx context.Context, name string) error {
	r.states.set(name, "")
	r.memo.forget(name)
	r.written.forget(name)
	if r.opts.DNS == nil {
		return nil
	}
	if err := r.opts.DNS.Remove(ctx, name); err != nil {
		return fmt.Errorf("removing the DNS records of deleted space %s: %w", name, err)
	}
	return nil
}

// writeStatus stores st in the namespace's status annotation when it
// differs from what is there, and records one Event for the change. The
// same write sets the space's Pod Security labels when they are missing
// or differ: one write per change of the namespace, not two.
func (r *Reconciler) writeStatus(ctx context.Context, ns *metav1.PartialObjectMetadata, st space.Status) error {
	cur := ns.Annotations[space.AnnotationStatus]
	next := st.Format()
	labels := podSecurityChanges(ns.Labels, r.opts.PodSecurityLevel)
	if cur == next && labels == nil {
		return nil
	}
	old, err := space.ParseStatus(cur)
	if err != nil {
		old = space.Status{} // unreadable: every part counts as changed
	}
	if err := r.patchNamespace(ctx, ns, space.AnnotationStatus, &next, labels); err != nil {
		return err
	}
	if cur == next {
		return nil
	}
	if ev, ok := transition(old, st); ok {
		r.record(ns, ev)
	}
	if ev := mismatchEvent(old, st); ev != nil {
		r.record(ns, *ev)
	}
	return nil
}

// patchStatus sets (or, with nil, removes) only the status annotation.
func (r *Reconciler) patchStatus(ctx context.Context, ns *metav1.PartialObjectMetadata, value *string) error {
	return r.patchAnnotation(ctx, ns, space.AnnotationStatus, value)
}

// writeClaims records the hostnames the space holds when the record
// differs from the namespace's.
func (r *Reconciler) writeClaims(ctx context.Context, ns *metav1.PartialObjectMetadata, c space.Claims) error {
	next := c.Format()
	cur, had := ns.Annotations[space.AnnotationHostnames]
	switch {
	case next == cur && (had || next == ""):
		return nil
	case next == "":
		return r.patchAnnotation(ctx, ns, space.AnnotationHostnames, nil)
	}
	return r.patchAnnotation(ctx, ns, space.AnnotationHostnames, &next)
}

// patchAnnotation sets (or, with nil, removes) one annotation of decco's.
func (r *Reconciler) patchAnnotation(ctx context.Context, ns *metav1.PartialObjectMetadata, key string, value *string) error {
	return r.patchNamespace(ctx, ns, key, value, nil)
}

// patchNamespace sets (or, with nil, removes) one annotation of decco's
// and sets labels, with a merge patch, so it never races a user's edit of
// other keys. ns becomes the namespace as the write returned it, so a
// later write in the same reconcile compares against it, and so does the
// next reconcile while the cache lags (see ownWrites).
func (r *Reconciler) patchNamespace(ctx context.Context, ns *metav1.PartialObjectMetadata, key string, value *string, labels map[string]string) error {
	meta := map[string]any{"annotations": map[string]any{key: value}}
	if len(labels) > 0 {
		meta["labels"] = labels
	}
	patch, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return err
	}
	before := ns.ResourceVersion
	written := ns.DeepCopy()
	if err := r.client.Patch(ctx, written, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("writing annotation %s on namespace %s: %w", key, ns.Name, err)
	}
	written.DeepCopyInto(ns)
	r.written.wrote(before, written)
	return nil
}

// record emits an Event about the namespace.
func (r *Reconciler) record(ns *metav1.PartialObjectMetadata, ev nsEvent) {
	if r.recorder == nil {
		return
	}
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: ns.Name, UID: ns.UID}
	r.recorder.Eventf(ref, nil, ev.Type, ev.Reason, "Reconcile", "%s", ev.Note)
}

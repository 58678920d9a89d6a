package reconciler

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/decco-dev/decco/space"
)

// objKey identifies an object within a namespace.
type objKey struct{ kind, name string }

// owned is what decco has in a namespace, from the label-filtered caches.
// Secrets are not among them: decco caches none (see pruneSecrets).
type owned struct {
	objects map[objKey]client.Object
}

func (o owned) empty() bool { return len(o.objects) == 0 }

// owned lists decco's objects in namespace ns.
func (r *Reconciler) owned(ctx context.Context, ns string) (owned, error) {
	out := owned{objects: map[objKey]client.Object{}}
	sel := client.MatchingLabelsSelector{Selector: ManagedSelector()}
	for _, k := range r.kinds {
		list := k.newList()
		if err := r.client.List(ctx, list, client.InNamespace(ns), sel); err != nil {
			return out, fmt.Errorf("listing decco's %ss in %s: %w", k.name, ns, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return out, err
		}
		for _, item := range items {
			if obj, ok := item.(client.Object); ok {
				out.objects[objKey{k.name, obj.GetName()}] = obj
			}
		}
	}
	return out, nil
}

// partErrs collects write errors by status part.
type partErrs map[string][]error

func (p partErrs) add(part string, err error) {
	if err != nil {
		p[part] = append(p[part], err)
	}
}

func (p partErrs) err(part string) error { return errors.Join(p[part]...) }

// apply makes every desired object exist as built, writing only those that
// are missing or differ (see needsWrite).
func (r *Reconciler) apply(ctx context.Context, desired []client.Object, have owned, errs partErrs) {
	for _, obj := range desired {
		k, err := r.kindOf(obj)
		if err != nil {
			errs.add(k.part, err)
			continue
		}
		errs.add(k.part, r.applyOne(ctx, k, obj, have.objects[objKey{k.name, obj.GetName()}]))
	}
}

func (r *Reconciler) applyOne(ctx context.Context, k kind, obj, cur client.Object) error {
	want, err := stamp(obj)
	if err != nil {
		return err
	}
	if cur != nil {
		write, err := needsWrite(want, cur)
		if err != nil || !write {
			return err
		}
	}
	logf.FromContext(ctx).Info("applying", "kind", k.name, "object", obj.GetName(), "create", cur == nil)
	err = r.ssa(ctx, k, want, cur != nil)
	if cur == nil && apierrors.IsConflict(err) {
		// Not in decco's cache, yet fields of it belong to another
		// manager: a user's object holds the name. Never take it over.
		return fmt.Errorf("%s %s/%s: %w", k.name, obj.GetNamespace(), obj.GetName(), errNameInUse)
	}
	return err
}

// ssa server-side applies obj as field owner decco. Objects decco already
// has (force) take ownership of the fields it sets, so a hand edit of them
// is reverted and a field decco stops setting is removed. A first apply
// does not force: if the name is held by an object someone else wrote, the
// apiserver answers Conflict on their fields instead of merging decco's
// into it, which costs no lookup per object created (the cache only holds
// decco's objects, so it can't tell a free name from a user's).
func (r *Reconciler) ssa(ctx context.Context, k kind, obj client.Object, force bool) error {
	gvk, err := apiutil.GVKForObject(obj, r.scheme)
	if err != nil {
		return err
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("converting %s %s: %w", k.name, obj.GetName(), err)
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	apply := &unstructured.Unstructured{Object: u}
	apply.SetGroupVersionKind(gvk)
	opts := []client.ApplyOption{client.FieldOwner(FieldOwner)}
	if force {
		opts = append(opts, client.ForceOwnership)
	}
	err = r.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(apply), opts...)
	if err != nil {
		return fmt.Errorf("applying %s %s/%s: %w", k.name, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// prune deletes decco's objects that are no longer desired. With nothing
// desired (cleanup) it deletes everything decco made in the namespace.
// The Secrets of removed Certificates go afterwards (pruneSecrets), so
// cert-manager does not issue them again in between.
func (r *Reconciler) prune(ctx context.Context, desired []client.Object, have owned, errs partErrs) {
	keep := map[objKey]bool{}
	for _, obj := range desired {
		if k, err := r.kindOf(obj); err == nil {
			keep[objKey{k.name, obj.GetName()}] = true
		}
	}
	for key, obj := range have.objects {
		if keep[key] {
			continue
		}
		errs.add(r.kindNamed(key.kind).part, r.delete(ctx, key.kind, obj))
	}
}

// delete removes obj if it is still the object that was read.
func (r *Reconciler) delete(ctx context.Context, kindName string, obj client.Object) error {
	logf.FromContext(ctx).Info("deleting", "kind", kindName, "object", obj.GetName())
	uid := obj.GetUID()
	err := r.client.Delete(ctx, obj, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s/%s: %w", kindName, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// kindOf finds obj's kind among those decco manages; a builder returning
// another kind is a bug that cleanup would miss, so it is refused.
func (r *Reconciler) kindOf(obj client.Object) (kind, error) {
	gvk, err := apiutil.GVKForObject(obj, r.scheme)
	if err != nil {
		return kind{part: space.PartPKI}, err
	}
	for _, k := range r.kinds {
		if k.name == gvk.Kind {
			return k, nil
		}
	}
	return kind{part: space.PartPKI}, fmt.Errorf("%s %s is not a kind decco manages in this mode (bug: add it to reconciler.kinds)", gvk.Kind, obj.GetName())
}

func (r *Reconciler) kindNamed(name string) kind {
	for _, k := range r.kinds {
		if k.name == name {
			return k
		}
	}
	return kind{name: name, part: space.PartPKI}
}

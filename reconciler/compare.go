package reconciler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"reflect"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
)

// stamp returns a copy of obj carrying space.AnnotationApplied, the hash
// of obj as built. The builders are deterministic, so an unchanged input
// gives an unchanged hash.
func stamp(obj client.Object) (client.Object, error) {
	out, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return nil, fmt.Errorf("%T is not a client.Object", obj)
	}
	ann := out.GetAnnotations()
	delete(ann, space.AnnotationApplied)
	out.SetAnnotations(ann)
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("hashing %T %s: %w", obj, obj.GetName(), err)
	}
	sum := sha256.Sum256(b)
	if ann == nil {
		ann = map[string]string{}
	}
	ann[space.AnnotationApplied] = hex.EncodeToString(sum[:12])
	out.SetAnnotations(ann)
	return out, nil
}

// needsWrite decides whether the stamped desired object must be applied
// over existing (decco's object as cached). Two checks, so neither the
// apiserver's defaults nor a hand edit fool it:
//
//   - the applied hash differs: decco builds something else now, maybe
//     without a field it set before, which only a write can remove;
//   - desired is not contained in existing (see contains): someone
//     changed or removed a field decco sets.
//
// Status and TypeMeta never count: builders set no status, and cached
// objects carry no TypeMeta.
func needsWrite(desired, existing client.Object) (bool, error) {
	if desired.GetAnnotations()[space.AnnotationApplied] != existing.GetAnnotations()[space.AnnotationApplied] {
		return true, nil
	}
	d, err := comparable(desired)
	if err != nil {
		return false, err
	}
	e, err := comparable(existing)
	if err != nil {
		return false, err
	}
	return !contains(d, e), nil
}

// comparable is obj as JSON-like maps without what the server owns.
func comparable(obj client.Object) (map[string]any, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T %s: %w", obj, obj.GetName(), err)
	}
	delete(u, "apiVersion")
	delete(u, "kind")
	delete(u, "status")
	if m, ok := u["metadata"].(map[string]any); ok {
		u["metadata"] = map[string]any{
			"name": m["name"], "namespace": m["namespace"],
			"labels": m["labels"], "annotations": m["annotations"],
		}
	}
	return u, nil
}

// contains reports whether every value set in want is in have. Maps are
// compared key by key and may hold more keys (defaults, other writers'
// labels); lists must have the same length, element by element (an extra
// rule is drift, not a default); scalars must be equal. An empty or null
// value in want is "not set" and matches anything, since the apiserver
// may fill it in.
func contains(want, have any) bool {
	if isUnset(want) {
		return true
	}
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !contains(v, h[k]) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !contains(w[i], h[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(want, have)
	}
}

func isUnset(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

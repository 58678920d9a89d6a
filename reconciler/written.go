package reconciler

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// ownWrites remembers each namespace as decco's own last write of it
// returned it, until the cache shows a version from after that write.
//
// A convergence writes the namespace (its hostname claim, its status),
// and the objects it creates wake the space again at once, often before
// the cache has seen those writes. Read from the cache, the namespace
// would then lack the status just written, and the reconcile would write
// the same status again and record the same Event twice. The cache's
// copy is the truth again as soon as its resourceVersion is not one the
// namespace had before decco's write: resourceVersions are compared for
// equality only, as Kubernetes allows.
type ownWrites struct {
	mu sync.Mutex
	m  map[string]ownWrite
}

type ownWrite struct {
	// after is the namespace as the last write returned it.
	after *metav1.PartialObjectMetadata
	// before are the resourceVersions the namespace had before that
	// write, as far as decco saw them: the one it wrote over, and those
	// its own earlier writes returned.
	before sets.Set[string]
}

func newOwnWrites() *ownWrites { return &ownWrites{m: map[string]ownWrite{}} }

// latest is the newest copy of the cached namespace decco knows: the
// cached one, or a copy of decco's own last write of it when the cache
// still holds a version from before that write.
func (w *ownWrites) latest(cached *metav1.PartialObjectMetadata) *metav1.PartialObjectMetadata {
	w.mu.Lock()
	defer w.mu.Unlock()
	own, ok := w.m[cached.Name]
	if !ok {
		return cached
	}
	if own.before.Has(cached.ResourceVersion) {
		return own.after.DeepCopy()
	}
	// The cache has caught up with the write, or holds a later change.
	delete(w.m, cached.Name)
	return cached
}

// wrote records the namespace as a write returned it; before is the
// resourceVersion the write was made over.
func (w *ownWrites) wrote(before string, after *metav1.PartialObjectMetadata) {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev, ok := w.m[after.Name]
	seen := sets.New(before)
	if ok && prev.after.ResourceVersion == before {
		// A write over decco's own previous write: the versions before
		// that one are older still.
		seen = seen.Union(prev.before)
	}
	w.m[after.Name] = ownWrite{after: after.DeepCopy(), before: seen}
}

// forget drops what is remembered of a namespace that is gone.
func (w *ownWrites) forget(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, name)
}

package space

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Memo remembers FromNamespace's verdict for each namespace at its
// resourceVersion. Namespaces change rarely while admissions and
// reconciles read them all the time; a changed namespace has a new
// resourceVersion and is parsed again. Safe for concurrent use.
type Memo struct {
	parsed sync.Map // namespace name -> memoEntry
}

type memoEntry struct {
	resourceVersion string
	space           Space
	err             error
}

// FromNamespace is FromNamespace(obj), remembered by obj's name and
// resourceVersion. Objects without a resourceVersion are always parsed.
func (m *Memo) FromNamespace(obj metav1.Object) (Space, error) {
	rv := obj.GetResourceVersion()
	if v, ok := m.parsed.Load(obj.GetName()); ok && rv != "" {
		if e := v.(memoEntry); e.resourceVersion == rv {
			return e.space, e.err
		}
	}
	sp, err := FromNamespace(obj)
	if rv != "" {
		m.parsed.Store(obj.GetName(), memoEntry{resourceVersion: rv, space: sp, err: err})
	}
	return sp, err
}

// Forget drops what is remembered of namespace name (it was deleted).
func (m *Memo) Forget(name string) { m.parsed.Delete(name) }

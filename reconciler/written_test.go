package reconciler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/decco-dev/decco/space"
)

func nsAt(rv, status string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "shop", ResourceVersion: rv,
		Annotations: map[string]string{space.AnnotationStatus: status}}}
}

func TestOwnWritesLatest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes [][2]string // resourceVersion written over, resourceVersion returned
		cached string      // the cache's resourceVersion
		want   string      // the resourceVersion reconcile sees
	}{
		{"no write", nil, "5", "5"},
		{"cache before the write", [][2]string{{"5", "6"}}, "5", "6"},
		{"cache caught up", [][2]string{{"5", "6"}}, "6", "6"},
		{"cache past the write (another writer)", [][2]string{{"5", "6"}}, "9", "9"},
		{"two writes, cache before both", [][2]string{{"5", "6"}, {"6", "7"}}, "5", "7"},
		{"two writes, cache between them", [][2]string{{"5", "6"}, {"6", "7"}}, "6", "7"},
		// A write made over a version other than decco's own last: the
		// versions before the earlier write are not known to be older.
		{"a write over someone else's change", [][2]string{{"5", "6"}, {"8", "9"}}, "5", "5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newOwnWrites()
			for _, wr := range tc.writes {
				w.wrote(wr[0], nsAt(wr[1], "written at "+wr[1]))
			}
			got := w.latest(nsAt(tc.cached, "cached at "+tc.cached))
			assert.Equal(t, tc.want, got.ResourceVersion)
		})
	}
}

func TestOwnWritesForgetsOnceTheCacheCatchesUp(t *testing.T) {
	w := newOwnWrites()
	w.wrote("5", nsAt("6", "new"))
	assert.Equal(t, "6", w.latest(nsAt("6", "new")).ResourceVersion)
	assert.Empty(t, w.m, "nothing kept once the cache holds the write")
	assert.Equal(t, "5", w.latest(nsAt("5", "old")).ResourceVersion, "nothing left to overlay")
}

// A reconcile that reads the namespace from a cache that has not yet seen
// the previous reconcile's writes (the objects it created wake the space
// at once) writes nothing again: not the claim, not the status. The fake
// client is the seam for the cache's lag; the bench's count of the
// apiserver's namespace PATCHes is the same path against a real one.
func TestSecondReconcileOverALaggingCacheWritesNothing(t *testing.T) {
	ctx := context.Background()
	stale := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{space.LabelSpace: "shop"}}}
	patches := 0
	c := fake.NewClientBuilder().WithObjects(stale).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			patches++
			return c.Patch(ctx, obj, patch, opts...)
		},
	}).Build()
	r := &Reconciler{client: c, written: newOwnWrites()}
	cached := space.NamespaceMeta()
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "shop"}, cached))
	claims := space.Claims{"shop.example.com": time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}
	st := space.Status{Parts: map[string]space.Condition{space.PartPKI: {Ready: true}}}

	converge := func(fromCache *metav1.PartialObjectMetadata) {
		ns := r.written.latest(fromCache.DeepCopy())
		require.NoError(t, r.writeClaims(ctx, ns, claims))
		require.NoError(t, r.writeStatus(ctx, ns, st))
	}
	converge(cached)
	require.Equal(t, 2, patches, "the first convergence writes the claim and the status")
	converge(cached) // the cache has seen neither write
	assert.Equal(t, 2, patches, "no write again from a lagging cache")

	var now metav1.PartialObjectMetadata
	now.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "shop"}, &now))
	converge(&now) // the cache has caught up
	assert.Equal(t, 2, patches)
	assert.Equal(t, st.Format(), now.Annotations[space.AnnotationStatus])
}

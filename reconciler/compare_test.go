package reconciler

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/space"
)

func TestContains(t *testing.T) {
	for _, tc := range []struct {
		name       string
		want, have any
		ok         bool
	}{
		{"equal scalars", "a", "a", true},
		{"different scalars", "a", "b", false},
		{"explicit false differs from true", false, true, false},
		{"null wants nothing", nil, "anything", true},
		{"empty map wants nothing", map[string]any{}, map[string]any{"x": "1"}, true},
		{"extra keys are defaults", map[string]any{"a": "1"}, map[string]any{"a": "1", "b": "2"}, true},
		{"missing key", map[string]any{"a": "1"}, map[string]any{"b": "2"}, false},
		{"changed nested value", map[string]any{"a": map[string]any{"b": int64(1)}}, map[string]any{"a": map[string]any{"b": int64(2)}}, false},
		{"lists element by element", []any{map[string]any{"p": int64(1)}}, []any{map[string]any{"p": int64(1), "proto": "TCP"}}, true},
		{"an extra list element is drift", []any{"a"}, []any{"a", "b"}, false},
		{"a missing list element is drift", []any{"a", "b"}, []any{"a"}, false},
		{"empty list wants nothing", []any{}, []any{"a"}, true},
		{"type mismatch", map[string]any{"a": "1"}, "x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.ok, contains(tc.want, tc.have))
		})
	}
}

func policy(port int) *networkingv1.NetworkPolicy {
	return netpol.Policies(netpol.Input{
		Space:         space.Space{Name: "shop", Domain: "example.com"},
		ListenerPorts: []intstr.IntOrString{intstr.FromInt(port)},
	})[0]
}

// cached is obj as it comes back from the apiserver: TypeMeta stripped,
// server fields set, a label of the user's and a default added.
func cached(t *testing.T, obj client.Object) *networkingv1.NetworkPolicy {
	t.Helper()
	stamped, err := stamp(obj)
	require.NoError(t, err)
	np := stamped.(*networkingv1.NetworkPolicy).DeepCopy()
	np.TypeMeta = metav1.TypeMeta{}
	np.ResourceVersion, np.UID, np.Generation = "42", "uid", 3
	np.CreationTimestamp = metav1.Now()
	np.Labels["team"] = "shop"
	np.Annotations["note"] = "added by a user"
	return np
}

// Reading back what decco wrote, with server fields and other writers'
// additions, needs no write; changing what decco builds, or what decco
// set, does.
func TestNeedsWrite(t *testing.T) {
	built := policy(18080)
	want, err := stamp(built)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		mutate func(*networkingv1.NetworkPolicy)
		write  bool
	}{
		{"as written", func(*networkingv1.NetworkPolicy) {}, false},
		{"a hand edit of a port decco sets", func(np *networkingv1.NetworkPolicy) {
			for i := range np.Spec.Ingress {
				np.Spec.Ingress[i].Ports[0].Port = ptrIntstr(intstr.FromInt(8080))
			}
		}, true},
		{"a rule added by hand", func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
		}, true},
		{"decco's label removed", func(np *networkingv1.NetworkPolicy) { delete(np.Labels, space.LabelManagedBy) }, true},
		{"an older build", func(np *networkingv1.NetworkPolicy) { np.Annotations[space.AnnotationApplied] = "0123" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			have := cached(t, built)
			tc.mutate(have)
			got, err := needsWrite(want, have)
			require.NoError(t, err)
			assert.Equal(t, tc.write, got)
		})
	}
}

// The hash moves with what decco builds, and only with that.
func TestStamp(t *testing.T) {
	a1, err := stamp(policy(18080))
	require.NoError(t, err)
	a2, err := stamp(policy(18080))
	require.NoError(t, err)
	b, err := stamp(policy(19090))
	require.NoError(t, err)
	h := func(o client.Object) string { return o.GetAnnotations()[space.AnnotationApplied] }
	assert.NotEmpty(t, h(a1))
	assert.Equal(t, h(a1), h(a2), "same build, same hash")
	assert.NotEqual(t, h(a1), h(b), "a changed port changes the hash")
	again, err := stamp(a1)
	require.NoError(t, err)
	assert.Equal(t, h(a1), h(again), "stamping a stamped object ignores the old stamp")
}

func ptrIntstr(v intstr.IntOrString) *intstr.IntOrString { return &v }

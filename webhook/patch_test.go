package webhook

import (
	"encoding/json"
	"reflect"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// applyPatch applies the typed patch from before to after with an
// independent JSON patch implementation and returns the patched spec.
func applyPatch(t *testing.T, before, after *corev1.PodSpec) *corev1.PodSpec {
	t.Helper()
	ops := fieldPatch(structPair{"", before, after})
	opsJSON, err := json.Marshal(ops)
	require.NoError(t, err)
	raw, err := json.Marshal(before)
	require.NoError(t, err)
	patch, err := jsonpatch.DecodePatch(opsJSON)
	require.NoError(t, err)
	out, err := patch.Apply(raw)
	require.NoError(t, err, "patch %s", opsJSON)
	var got corev1.PodSpec
	require.NoError(t, json.Unmarshal(out, &got))
	return &got
}

func secretVolume(name, secret string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}
}

// Each case changes one shape the walk must see through: fields promoted
// from an embedded (json:",inline") struct, inside slices of equal length
// and at the top level, and slices that start or stop being empty.
func TestFieldPatchShapes(t *testing.T) {
	one := []corev1.Container{{Name: "app", Image: "app:1"}}
	tests := []struct {
		name          string
		before, after corev1.PodSpec
	}{{
		name:   "inline VolumeSource in an element of an equal-length slice",
		before: corev1.PodSpec{Containers: one, Volumes: []corev1.Volume{secretVolume("decco-tls", "old")}},
		after:  corev1.PodSpec{Containers: one, Volumes: []corev1.Volume{secretVolume("decco-tls", "new")}},
	}, {
		name:   "inline source replaced by another kind",
		before: corev1.PodSpec{Containers: one, Volumes: []corev1.Volume{secretVolume("v", "s")}},
		after: corev1.PodSpec{Containers: one, Volumes: []corev1.Volume{{Name: "v",
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
	}, {
		name: "inline ProbeHandler of a probe",
		before: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{}}}}}},
		after: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready"}}}}}},
	}, {
		name:   "slice of structs grows from empty",
		before: corev1.PodSpec{Containers: one},
		after:  corev1.PodSpec{Containers: one, Volumes: []corev1.Volume{secretVolume("v", "s")}},
	}, {
		name:   "slice of structs shrinks to empty",
		before: corev1.PodSpec{Containers: one, Volumes: []corev1.Volume{secretVolume("v", "s")}},
		after:  corev1.PodSpec{Containers: one},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, &tt.after, applyPatch(t, &tt.before, &tt.after))
		})
	}
}

// The walk sees a field only through its JSON tag or as a struct embedded
// by value (types with their own MarshalJSON are compared whole). A field it cannot see (untagged, or a struct embedded by
// pointer) would never be patched, so none may exist in the objects the
// webhook patches; this fails when a Kubernetes upgrade adds one.
func TestPatchedTypesHaveOnlyVisibleFields(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string) []string
	walk = func(typ reflect.Type, path string) []string {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map || typ.Kind() == reflect.Array {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || reflect.PointerTo(typ).Implements(marshalerType) {
			return nil
		}
		seen[typ] = true
		var bad []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("json")
			if !f.IsExported() || tag == "-" {
				continue
			}
			embeddedValue := f.Anonymous && f.Type.Kind() == reflect.Struct && jsonTagName(f) == ""
			if !embeddedValue && jsonTagName(f) == "" {
				bad = append(bad, path+"."+f.Name)
			}
			bad = append(bad, walk(f.Type, path+"."+f.Name)...)
		}
		return bad
	}
	var bad []string
	for _, obj := range []any{metav1.ObjectMeta{}, corev1.PodSpec{}, corev1.ServiceSpec{}} {
		bad = append(bad, walk(reflect.TypeOf(obj), reflect.TypeOf(obj).Name())...)
	}
	require.Empty(t, bad, "fields the typed patch cannot see")
}

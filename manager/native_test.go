package manager

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSupportsNativeSidecars(t *testing.T) {
	for _, tt := range []struct {
		major, minor string
		want         bool
	}{
		{"1", "36", true}, {"1", "29", true}, {"1", "29+", true}, {"1", "28", false},
		{"1", "28+", false}, {"2", "0", true}, {"", "", false}, {"1", "x", false},
	} {
		if got := supportsNativeSidecars(tt.major, tt.minor); got != tt.want {
			t.Errorf("supportsNativeSidecars(%q, %q) = %v, want %v", tt.major, tt.minor, got, tt.want)
		}
	}
}

func TestStripUnread(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{
		Annotations:   map[string]string{lastApplied: `{"big":"copy"}`, "example.com/owner": "shop"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	out, err := stripUnread(svc)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Service)
	if got.ManagedFields != nil || got.Annotations[lastApplied] != "" || got.Annotations["example.com/owner"] != "shop" {
		t.Fatalf("kept %+v", got.ObjectMeta)
	}
}

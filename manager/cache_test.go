package manager

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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

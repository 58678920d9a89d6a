package space

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMemoReparsesOnNewResourceVersion(t *testing.T) {
	var m Memo
	ns := &metav1.ObjectMeta{Name: "team-a", ResourceVersion: "1",
		Labels: map[string]string{LabelSpace: "team-a"}, Annotations: map[string]string{AnnotationDomain: "example.com"}}
	sp, err := m.FromNamespace(ns)
	if err != nil || sp.Domain != "example.com" {
		t.Fatalf("first parse: %+v %v", sp, err)
	}
	ns.Annotations[AnnotationDomain] = "example.org" // same resourceVersion: remembered
	if sp, _ := m.FromNamespace(ns); sp.Domain != "example.com" {
		t.Fatalf("same resourceVersion parsed again: %+v", sp)
	}
	ns.ResourceVersion = "2"
	if sp, _ := m.FromNamespace(ns); sp.Domain != "example.org" {
		t.Fatalf("new resourceVersion not parsed: %+v", sp)
	}
	ns.Annotations[AnnotationDomain] = "Bad_Domain"
	ns.ResourceVersion = "3"
	if _, err := m.FromNamespace(ns); err == nil {
		t.Fatal("an invalid space must stay an error")
	}
	m.Forget("team-a")
	ns.ResourceVersion = ""
	if _, err := m.FromNamespace(ns); err == nil {
		t.Fatal("parsed without a resourceVersion must still validate")
	}
}

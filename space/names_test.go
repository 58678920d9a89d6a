package space

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExcluded(t *testing.T) {
	for ns, want := range map[string]bool{
		"kube-system": true, "kube-public": true, "kube-node-lease": true, "decco-system": true,
		"acme": false, "kube-systems": false, "default": false,
	} {
		assert.Equal(t, want, Excluded(ns, "decco-system"), ns)
		assert.Equal(t, want, slices.Contains(ExcludedNamespaces("decco-system"), ns), "ExcludedNamespaces and Excluded agree on %s", ns)
	}
}

func TestObjectName(t *testing.T) {
	for _, tt := range []struct {
		meta metav1.ObjectMeta
		want string
	}{
		{metav1.ObjectMeta{Namespace: "acme", Name: "web-0"}, "acme/web-0"},
		{metav1.ObjectMeta{Namespace: "acme", GenerateName: "web-7d9c-"}, "acme/web-7d9c-*"},
		{metav1.ObjectMeta{Namespace: "acme", Name: "web-0", GenerateName: "web-"}, "acme/web-0"},
		{metav1.ObjectMeta{Name: "acme"}, "acme"},
	} {
		assert.Equal(t, tt.want, ObjectName(&tt.meta))
	}
}

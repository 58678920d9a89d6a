package space

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ManagedLabels are the labels of every object decco makes for the space:
// LabelManagedBy, so cleanup finds exactly decco's objects, and the space.
func (s Space) ManagedLabels() map[string]string {
	return map[string]string{LabelManagedBy: ManagedByValue, LabelSpace: s.Name}
}

// ObjectMeta names an object decco makes in the space, with its
// ManagedLabels.
func (s Space) ObjectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: s.Name, Name: name, Labels: s.ManagedLabels()}
}

// NamespaceMeta is an empty Namespace to read metadata-only: labels and
// annotations are all a space is made of, and the webhook's and the
// reconciler's informers share it.
func NamespaceMeta() *metav1.PartialObjectMetadata {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return ns
}

package webhook

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// A Service stored with ports mode's rewrite, written again after the
// cluster switched to cni interception, gets its targets back: the patch
// applied to the request gives inject.RestoreService's Service.
func TestServiceRewriteRestoredInCNIMode(t *testing.T) {
	stored := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "db", Labels: map[string]string{space.LabelSpace: "acme"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "mysql", Port: 3306, TargetPort: intstr.FromInt32(3306)}}},
	}
	stored, _, err := inject.Service(stored) // as ports mode stored it
	require.NoError(t, err)
	require.Equal(t, intstr.FromInt32(13306), stored.Spec.Ports[0].TargetPort)
	edited := stored.DeepCopy()
	edited.Labels["team"] = "db" // any write

	cni := testInject
	cni.Interception = inject.InterceptCNI
	h := Handlers(namespaces{"acme": {space.AnnotationDomain: "example.com"}},
		Options{Inject: cni, SystemNamespace: "decco-system", MaxRequestBytes: 2 << 20})[ServicePath]
	obj, _ := json.Marshal(edited)
	old, _ := json.Marshal(stored)
	body, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "1", Operation: admissionv1.Update, Namespace: "acme", Name: "db",
			Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Service"}, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "services"},
			Object: runtime.RawExtension{Raw: obj}, OldObject: runtime.RawExtension{Raw: old}},
	})
	resp := serve(t, h, body)
	require.True(t, resp.Allowed, "%v", resp.Result)
	patch, err := jsonpatch.DecodePatch(resp.Patch)
	require.NoError(t, err)
	patched, err := patch.Apply(obj)
	require.NoError(t, err)
	var got corev1.Service
	require.NoError(t, json.Unmarshal(patched, &got))
	assert.Equal(t, intstr.FromInt32(3306), got.Spec.Ports[0].TargetPort, "the app's own port: the sidecar serves TLS on it")
	assert.NotContains(t, got.Annotations, space.AnnotationRewrittenPorts)
	assert.Equal(t, "db", got.Labels["team"])
}

package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/webhook"
)

// The no-op webhook is the floor decco's pod webhook is measured against:
// the apiserver calls it for the same pods, over the same kind of
// connection, on the same server stack, and it admits them unchanged.
const (
	noopPath      = "/bench/noop"
	noopLabel     = "bench.decco.io/noop"
	noopNamespace = "noop"
	// In touchNamespace the same webhook adds one annotation: what any
	// mutation costs the apiserver, however small.
	touchNamespace = "touch"
	touchPatch     = `[{"op":"add","path":"/metadata/annotations/bench.decco.io~1touched","value":"yes"}]`
)

// noopHandler admits every request; in touchNamespace with a one-line
// patch, elsewhere without one. It decodes only the request's uid, which
// the response must echo, and its namespace.
type noopHandler struct{ calls atomic.Int64 }

func (h *noopHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var review struct {
		Request struct {
			UID       string `json:"uid"`
			Namespace string `json:"namespace"`
		} `json:"request"`
	}
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.calls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	patch := ""
	if review.Request.Namespace == touchNamespace {
		patch = fmt.Sprintf(`,"patchType":"JSONPatch","patch":%q`, base64.StdEncoding.EncodeToString([]byte(touchPatch)))
	}
	fmt.Fprintf(w, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%q,"allowed":true%s}}`, review.Request.UID, patch)
}

// startNoop registers the no-op webhook on mgr's server and for pods in
// the namespaces labeled noopLabel (noopNamespace and touchNamespace), with decco's timeout and failure policy,
// and waits until the apiserver calls it.
func startNoop(ctx context.Context, cluster *controlplane.Cluster, mgr *deccotest.Manager) error {
	h := &noopHandler{}
	mgr.Webhooks.Register(noopPath, h)
	cc := webhook.URLClientConfig(mgr.URL, mgr.CABundle)(noopPath)
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-noop"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         "noop.bench.decco.io",
			ClientConfig: cc,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"},
					Resources: []string{"pods"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
			}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{noopLabel: "true"}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](webhook.TimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if err := cluster.Client.Create(ctx, cfg); err != nil {
		return fmt.Errorf("creating the no-op webhook configuration: %w", err)
	}
	for _, name := range []string{noopNamespace, touchNamespace} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{noopLabel: "true"}}}
		if err := cluster.Client.Create(ctx, ns); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for h.calls.Load() == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("the apiserver did not call the no-op webhook within 30s")
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: noopNamespace, Name: "probe"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "probe"}}}}
		if err := cluster.Client.Create(ctx, pod, &client.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

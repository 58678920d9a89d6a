package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/webhook"
)

// The bench webhook is what decco's pod webhook is measured against: the
// apiserver calls it for the same pods, registered as decco's is, over the
// same kind of connection, on the same server stack, and it answers at
// once, in one of three ways chosen by the pod's namespace.
const (
	benchPath  = "/bench/webhook"
	benchLabel = "bench.decco.io/webhook"
	// noopNamespace: admitted unchanged, the floor any webhook costs.
	noopNamespace = "noop"
	// touchNamespace: one annotation added, what any mutation costs.
	touchNamespace = "touch"
	touchPatch     = `[{"op":"add","path":"/metadata/annotations/bench.decco.io~1touched","value":"yes"}]`
	// samePatchNamespace: decco's own patch for the pod, asked of decco
	// once and then served from memory; the namespace carries the space's
	// Pod Security label and its pods the space label, so the apiserver
	// does all it does for a pod of the space but wait on decco's handler.
	samePatchNamespace = "samepatch"
)

// benchWebhook admits every request at once. It decodes only the
// request's uid, which the response must echo, and its namespace.
type benchWebhook struct {
	calls atomic.Int64
	// decco asks decco's pod webhook for its patch, once.
	decco func(review []byte) ([]byte, error)

	mu        sync.Mutex
	samePatch string // base64, as the response carries it
}

func (h *benchWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var review struct {
		Request struct {
			UID       string `json:"uid"`
			Namespace string `json:"namespace"`
		} `json:"request"`
	}
	if err := json.Unmarshal(body, &review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.calls.Add(1)
	patch := ""
	switch review.Request.Namespace {
	case touchNamespace:
		patch = base64.StdEncoding.EncodeToString([]byte(touchPatch))
	case samePatchNamespace:
		if patch, err = h.deccoPatch(body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if patch != "" {
		patch = fmt.Sprintf(`,"patchType":"JSONPatch","patch":%q`, patch)
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%q,"allowed":true%s}}`, review.Request.UID, patch)
}

// deccoPatch is decco's patch for the pod in review, asked of decco the
// first time (as if the pod were in the space) and remembered: every pod
// the benchmark creates has the same shape.
func (h *benchWebhook) deccoPatch(review []byte) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.samePatch != "" {
		return h.samePatch, nil
	}
	inSpace := bytes.ReplaceAll(review, []byte(`"namespace":"`+samePatchNamespace+`"`), []byte(`"namespace":"`+spaceNamespace+`"`))
	out, err := h.decco(inSpace)
	if err != nil {
		return "", err
	}
	var resp struct {
		Response struct {
			Patch []byte `json:"patch"`
		} `json:"response"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.Response.Patch) == 0 {
		return "", fmt.Errorf("decco's webhook answered no patch (%v): %s", err, out)
	}
	h.samePatch = base64.StdEncoding.EncodeToString(resp.Response.Patch)
	return h.samePatch, nil
}

// patch is decco's patch as the bench webhook serves it.
func (h *benchWebhook) patch() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, _ := base64.StdEncoding.DecodeString(h.samePatch)
	return b
}

// spareBenchNamespaces keeps decco's hooks for namespaces that are no
// space away from the bench webhook's: the same-patch namespace's pods
// carry the space label (decco's patch is computed for them), which decco
// refuses outside a space. Only the bench webhook is then called there.
func spareBenchNamespaces(ctx context.Context, cluster *controlplane.Cluster) error {
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := cluster.Client.Get(ctx, client.ObjectKey{Name: webhook.ConfigurationName}, cfg); err != nil {
		return fmt.Errorf("reading decco's webhook configuration: %w", err)
	}
	outside := metav1.LabelSelectorRequirement{Key: space.LabelSpace, Operator: metav1.LabelSelectorOpDoesNotExist}
	for i := range cfg.Webhooks {
		sel := cfg.Webhooks[i].NamespaceSelector
		if sel == nil || !slices.ContainsFunc(sel.MatchExpressions, func(r metav1.LabelSelectorRequirement) bool {
			return r.Key == outside.Key && r.Operator == outside.Operator
		}) {
			continue // a hook for spaces
		}
		sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{Key: benchLabel, Operator: metav1.LabelSelectorOpDoesNotExist})
	}
	if err := cluster.Client.Update(ctx, cfg); err != nil {
		return fmt.Errorf("sparing the bench namespaces from decco's webhooks: %w", err)
	}
	return nil
}

// startBenchWebhook registers the bench webhook on mgr's server, for pods
// in the namespaces it makes (labeled benchLabel), configured as decco's
// pod webhook is, and waits until the apiserver calls it and it holds
// decco's patch for template.
func startBenchWebhook(ctx context.Context, cluster *controlplane.Cluster, mgr *deccotest.Manager, template *corev1.Pod) (*benchWebhook, error) {
	hc, err := tlsClient(mgr.CABundle)
	if err != nil {
		return nil, err
	}
	h := &benchWebhook{decco: func(review []byte) ([]byte, error) {
		resp, err := hc.Post(mgr.URL+webhook.PodPath, "application/json", bytes.NewReader(review))
		if err != nil {
			return nil, fmt.Errorf("asking decco's webhook for its patch: %w", err)
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}}
	mgr.Webhooks.Register(benchPath, h)
	// decco's own pod webhook, pointed at the bench webhook.
	cfg := webhook.MutatingConfiguration(webhook.URLClientConfig(mgr.URL, mgr.CABundle), mgr.Options.SystemNamespace)
	hook := cfg.Webhooks[0]
	hook.Name = "pods.bench.decco.io"
	hook.ClientConfig = webhook.URLClientConfig(mgr.URL, mgr.CABundle)(benchPath)
	hook.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{benchLabel: "true"}}
	if err := cluster.Client.Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{hook},
	}); err != nil {
		return nil, fmt.Errorf("creating the bench webhook configuration: %w", err)
	}
	if err := spareBenchNamespaces(ctx, cluster); err != nil {
		return nil, err
	}
	podSecurity, err := podSecurityOf(ctx, cluster, spaceNamespace)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{noopNamespace, touchNamespace, samePatchNamespace} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{benchLabel: "true"}}}
		if name == samePatchNamespace {
			maps.Copy(ns.Labels, podSecurity)
		}
		if err := cluster.Client.Create(ctx, ns); err != nil {
			return nil, err
		}
	}
	// The configuration reaches the apiserver's cache a moment after it
	// is stored: dry-run the template until the webhook has answered
	// with decco's patch.
	deadline := time.Now().Add(30 * time.Second)
	for {
		pod := podFor(template, samePatchNamespace, 0)
		err := cluster.Client.Create(ctx, pod, &client.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil && deccotest.Injected(pod) {
			return h, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the apiserver did not call the bench webhook with decco's patch within 30s (last error: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// podSecurityOf waits until the reconciler has given namespace ns its Pod
// Security labels and returns them.
func podSecurityOf(ctx context.Context, cluster *controlplane.Cluster, ns string) (map[string]string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var obj corev1.Namespace
		if err := cluster.Client.Get(ctx, client.ObjectKey{Name: ns}, &obj); err != nil {
			return nil, err
		}
		out := map[string]string{}
		for k, v := range obj.Labels {
			if strings.HasPrefix(k, space.PodSecurityPrefix) {
				out[k] = v
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the reconciler did not label space %s for Pod Security within 30s", ns)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package reltest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/webhook"
)

// SystemNamespace is decco's own namespace in the reliability suites.
const SystemNamespace = "decco-system"

// RegisterWebhooks creates decco's webhook configurations with cc (they
// are deleted when the test ends) and waits until the apiserver injects
// through them.
func RegisterWebhooks(t testing.TB, c client.Client, cc webhook.ClientConfig) {
	t.Helper()
	ctx := context.Background()
	for _, obj := range configurations(cc) {
		if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		if err := c.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T: %v", obj, err)
		}
	}
	t.Cleanup(func() {
		for _, obj := range configurations(cc) {
			_ = c.Delete(context.Background(), obj)
		}
	})
	WaitInjecting(t, c, 30*time.Second)
}

func configurations(cc webhook.ClientConfig) []client.Object {
	return []client.Object{
		webhook.MutatingConfiguration(cc, SystemNamespace),
		webhook.ValidatingConfiguration(cc, SystemNamespace),
	}
}

// SetCABundle replaces the caBundle of every decco webhook, as
// cert-manager's cainjector does when the serving CA changes.
func SetCABundle(t testing.TB, c client.Client, bundle []byte) {
	t.Helper()
	ctx := context.Background()
	var m admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: webhook.ConfigurationName}, &m); err != nil {
		t.Fatal(err)
	}
	for i := range m.Webhooks {
		m.Webhooks[i].ClientConfig.CABundle = bundle
	}
	if err := c.Update(ctx, &m); err != nil {
		t.Fatal(err)
	}
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: webhook.ConfigurationName}, &v); err != nil {
		t.Fatal(err)
	}
	for i := range v.Webhooks {
		v.Webhooks[i].ClientConfig.CABundle = bundle
	}
	if err := c.Update(ctx, &v); err != nil {
		t.Fatal(err)
	}
}

// WaitInjecting dry-runs a pod in a space until the apiserver returns it
// injected: admission configuration reaches the apiserver a moment after
// it is stored, and a webhook a moment after it starts.
func WaitInjecting(t testing.TB, c client.Client, timeout time.Duration) {
	t.Helper()
	ns := EnsureSpace(t, c, "probe")
	WaitFor(t, timeout, "the apiserver injecting through decco's webhook", func() error {
		pod := churnPod(ns, 0)
		if err := c.Create(context.Background(), pod, client.DryRunAll); err != nil {
			return err
		}
		if !deccotest.Injected(pod) {
			return fmt.Errorf("pod admitted without the sidecar")
		}
		return nil
	})
}

// EnsureSpace creates space namespace name (domain example.com) unless it
// exists, and returns its name.
func EnsureSpace(t testing.TB, c client.Client, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels:      map[string]string{space.LabelSpace: name},
		Annotations: map[string]string{space.AnnotationDomain: "example.com"}}}
	if err := c.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return name
}

// EnsureNamespace creates a plain namespace unless it exists.
func EnsureNamespace(t testing.TB, c client.Client, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// FreeLoopbackPort returns a loopback TCP port that was free a moment ago.
func FreeLoopbackPort(t testing.TB) int {
	t.Helper()
	p, err := deccotest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// LoopbackAddr is 127.0.0.1:port.
func LoopbackAddr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// WebhookArgs are the decco flags for a webhook-only manager serving on
// host:port with its certificate in certDir and its probes on probeAddr
// ("0" for none).
func WebhookArgs(kubeconfig, host string, port int, certDir, probeAddr string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--enable-reconciler=false",
		"--webhook-host=" + host,
		"--webhook-port=" + strconv.Itoa(port),
		"--webhook-cert-dir=" + certDir,
		"--health-probe-bind-address=" + probeAddr,
		"--metrics-bind-address=0",
		"--system-namespace=" + SystemNamespace,
		"--sidecar-image=decco-sidecar:test",
		"--native-sidecar=true",
	}
}

// WaitAdmissionConfigSeen returns once the apiserver admits with every
// webhook configuration stored before the call. The apiserver reads them
// from one watch, in order: it stores a marker configuration after them,
// whose webhook (pointed at a closed loopback port, failing closed, for
// one marker namespace) refuses a dry-run pod once the apiserver has seen
// it, and so everything stored before it.
func WaitAdmissionConfigSeen(t testing.TB, c client.Client) {
	t.Helper()
	ctx := context.Background()
	name := "decco-marker-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"decco-test-marker": name}}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Delete(ctx, ns) }()
	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	url := "https://127.0.0.1:1/marker" // closed: each call fails at once
	marker := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "marker.decco.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"decco-test-marker": name}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if err := c.Create(ctx, marker); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Delete(ctx, marker) }()
	WaitFor(t, 30*time.Second, "the apiserver using the webhook configurations", func() error {
		// No space label: only the marker's webhook is called.
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "marker"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/app:1"}}}}
		err := c.Create(ctx, pod, client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "marker.decco.io") {
			return nil
		}
		return fmt.Errorf("dry-run pod not refused by the marker webhook yet (%v)", err)
	})
}

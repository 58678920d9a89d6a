// Package deccotest runs decco's manager against a test control plane:
// a serving certificate for loopback, the webhook configurations pointed
// at a local URL, and a wait until the apiserver really calls them. The
// e2e tests and `make demo` share it.
package deccotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/testkit"
	"github.com/decco-dev/decco/webhook"
)

// ServingCert writes a self-signed certificate for 127.0.0.1 into dir as
// tls.crt and tls.key and returns the PEM the apiserver must trust.
func ServingCert(dir string) ([]byte, error) {
	cert, key, err := certutil.GenerateSelfSignedCertKey("localhost", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	if err != nil {
		return nil, fmt.Errorf("generating the webhook serving certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), cert, 0o600); err != nil {
		return nil, err
	}
	return cert, os.WriteFile(filepath.Join(dir, "tls.key"), key, 0o600)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WebhookURL is the base URL of a manager serving on port on loopback.
func WebhookURL(port int) string { return "https://127.0.0.1:" + strconv.Itoa(port) }

// RegisterWebhooks creates (or replaces) decco's webhook configurations,
// pointed at baseURL, and waits until the apiserver calls them: admission
// configuration reaches the apiserver's cache a moment after it is stored.
func RegisterWebhooks(ctx context.Context, c client.Client, baseURL string, caBundle []byte, systemNamespace string) error {
	cc := webhook.URLClientConfig(baseURL, caBundle)
	// The test cluster's cert-manager runs as a cluster administrator; the
	// policy's CertificateRequest rule names the chart's default account.
	policy, binding := webhook.CertificatePolicy(systemNamespace, "system:serviceaccount:cert-manager:cert-manager", "cluster.local")
	gwPolicy, gwBinding := webhook.GatewayPolicy(systemNamespace)
	for _, obj := range []client.Object{
		webhook.MutatingConfiguration(cc, systemNamespace),
		webhook.ValidatingConfiguration(cc, systemNamespace),
		policy, binding, gwPolicy, gwBinding,
	} {
		if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T: %w", obj, err)
		}
	}
	return WaitForInjection(ctx, c)
}

// WithoutMutatingWebhooks runs store with decco's mutating webhooks
// unregistered, as a cluster before decco was installed (or while it was
// removed) would store pods and Services, and registers them again: the
// only way an object labeled with a space is stored without decco's checks,
// for tests of what decco makes of such objects. It waits for the
// apiserver to stop calling the webhooks before store (the configuration
// is one object, so its hooks go together), and to call them again after;
// tests using it must not run in parallel with others on the same cluster.
func WithoutMutatingWebhooks(ctx context.Context, c client.Client, store func() error) error {
	saved := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: webhook.ConfigurationName}, saved); err != nil {
		return fmt.Errorf("reading decco's mutating webhooks: %w", err)
	}
	if err := c.Delete(ctx, saved); err != nil {
		return fmt.Errorf("unregistering decco's mutating webhooks: %w", err)
	}
	restore := saved.DeepCopy()
	restore.ObjectMeta = metav1.ObjectMeta{Name: saved.Name, Labels: saved.Labels, Annotations: saved.Annotations}
	err := waitUncalled(ctx, c)
	if err == nil {
		err = store()
	}
	if rerr := c.Create(ctx, restore); rerr != nil {
		return errors.Join(err, fmt.Errorf("registering decco's mutating webhooks again: %w", rerr))
	}
	return errors.Join(err, WaitForInjection(ctx, c))
}

// waitUncalled dry-runs a labeled pod in a namespace that is no space until
// the apiserver stores it, which it does only once it no longer calls
// decco's webhook (decco refuses it), for up to 30 s.
func waitUncalled(ctx context.Context, c client.Client) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "decco-probe-"}}
	if err := c.Create(ctx, ns); err != nil {
		return err
	}
	defer c.Delete(context.Background(), ns)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := c.Create(ctx, probePod(ns.Name), client.DryRunAll)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the apiserver still called decco's webhook 30s after it was unregistered (last error: %v)", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WaitForInjection dry-runs a pod in a throwaway space until it comes back
// with the sidecar, for up to 30 s: the apiserver picks up new webhook
// configurations a moment after they are stored.
func WaitForInjection(ctx context.Context, c client.Client) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "decco-probe-"}}
	if err := c.Create(ctx, ns); err != nil {
		return err
	}
	defer c.Delete(context.Background(), ns)
	ns.Labels = map[string]string{space.LabelSpace: ns.Name}
	ns.Annotations = map[string]string{space.AnnotationDomain: "probe.example.com"}
	if err := c.Update(ctx, ns); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var lastErr error
	for {
		pod := probePod(ns.Name)
		lastErr = c.Create(ctx, pod, client.DryRunAll)
		if lastErr == nil && pod.Annotations[space.AnnotationInjected] != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the apiserver did not call decco's webhook within 30s (last error: %v)", lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// probePod passes Pod Security "restricted", which the reconciler may
// already have set on the probe's space.
func probePod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe", Labels: map[string]string{space.LabelSpace: ns}},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   new(true),
				RunAsUser:      new(int64(10001)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "app", Image: "probe",
				Ports: []corev1.ContainerPort{{Name: "tcp", ContainerPort: 5000}},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: new(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// Injected reports whether pod carries decco's sidecar.
func Injected(pod *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == inject.SidecarName {
				return true
			}
		}
	}
	return false
}

// Manager is an in-process decco manager serving on loopback.
type Manager struct {
	Options manager.Options
	// URL is the webhook server's base URL; CABundle the PEM it serves.
	URL      string
	CABundle []byte
	// Webhooks is the manager's webhook server; a benchmark registers
	// its no-op webhook here to measure against the same server stack.
	Webhooks crwebhook.Server
	stop     context.CancelFunc
	done     chan error
}

// StartManager runs decco's manager in this process against cfg, with the
// webhook on a free loopback port, and registers its webhook
// configurations. Stop ends it.
func StartManager(ctx context.Context, cfg *rest.Config, c client.Client, tune func(*manager.Options)) (*Manager, error) {
	dir, err := os.MkdirTemp("", "decco-webhook-")
	if err != nil {
		return nil, err
	}
	ca, err := ServingCert(dir)
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	opts := TestOptions(dir, port)
	if tune != nil {
		tune(&opts)
	}
	ctx, cancel := context.WithCancel(ctx)
	mgr, err := manager.New(ctx, cfg, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	m := &Manager{Options: opts, URL: WebhookURL(port), CABundle: ca, Webhooks: mgr.GetWebhookServer(),
		stop: cancel, done: make(chan error, 1)}
	go func() { m.done <- mgr.Start(ctx); os.RemoveAll(dir) }()
	if err := RegisterWebhooks(ctx, c, WebhookURL(port), ca, opts.SystemNamespace); err != nil {
		m.Stop()
		return nil, err
	}
	return m, nil
}

// TestOptions are manager options for a test: loopback only, no metrics
// or probe ports, no leader election.
func TestOptions(certDir string, port int) manager.Options {
	opts := manager.DefaultOptions()
	opts.WebhookHost = "127.0.0.1"
	opts.WebhookPort = port
	opts.WebhookCertDir = certDir
	opts.MetricsAddr = "0"
	opts.HealthProbeAddr = "0"
	opts.LeaderElect = false
	opts.Sidecar.Image = "decco-sidecar:test"
	opts.ManyPerProcess = true
	// The suites' pods are written for brevity, not for Pod Security
	// restricted (no securityContext); baseline still refuses what lets a
	// pod reach the node. The tenant suite checks restricted pods itself.
	opts.Reconciler.PodSecurityLevel = reconciler.PodSecurityBaseline
	return opts
}

// Stop ends the manager and waits for it.
func (m *Manager) Stop() error {
	m.stop()
	return <-m.done
}

// WaitFor polls check until it returns nil, failing the test with the
// last error after timeout (testkit.WaitFor, named here too for the many
// suites that import deccotest anyway).
var WaitFor = testkit.WaitFor

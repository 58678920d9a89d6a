package nodetest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node"
)

// Main is a node suite's TestMain body: it starts the node and a control
// plane with cert-manager (node.RunTests), points s at them, installs decco
// with the chart the suite describes for that node, and runs m. Under
// -short, or on a machine that can't host a node, nothing starts, s stays
// empty and m runs alone (its tests skip, see node.Require). Use it as
//
//	var suite = nodetest.Suite{ProbeTimeout: time.Second}
//	func TestMain(m *testing.M) { os.Exit(suite.Main(m, chart)) }
func (s *Suite) Main(m *testing.M, chart func(*node.Node) Chart) int {
	var (
		cluster *controlplane.Cluster
		n       *node.Node
	)
	up := func(ctx context.Context) error {
		s.Client, s.Node = cluster.Client, n
		return s.InstallDecco(ctx, cluster.Kubeconfig, chart(n))
	}
	return node.RunTests(&withDecco{m: m, node: &n, setUp: up}, &cluster, &n, controlplane.Options{WithCertManager: true}, s.Network)
}

// withDecco runs setUp once the node has joined (*node set), then m.
type withDecco struct {
	m     controlplane.Runner
	node  **node.Node
	setUp func(context.Context) error
}

func (w *withDecco) Run() int {
	if *w.node == nil {
		return w.m.Run()
	}
	if err := w.setUp(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "installing decco with its chart: %v\n", err)
		return 1
	}
	return w.m.Run()
}

// Chart is how a suite installs decco's chart.
type Chart struct {
	// Namespace is decco's namespace; it is created with Pod Security
	// "restricted", as the docs say.
	Namespace string
	// Values are the suite's own chart values (YAML), after the ones every
	// suite sets: the node's locally built images and a self-signed
	// webhook certificate.
	Values string
	// Mode names the installation in the log line ("" for the defaults).
	Mode string
}

// InstallDecco installs decco with its Helm chart, as users install it:
// the manager's pods run on the node from the locally built images, and
// the apiserver calls the webhook through its Service. It returns once two
// manager pods are Ready and the webhook injects.
func (s Suite) InstallDecco(ctx context.Context, kubeconfig string, chart Chart) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chart.Namespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if err := s.Client.Create(ctx, ns); err != nil {
		return fmt.Errorf("creating namespace %s: %w", chart.Namespace, err)
	}
	start := time.Now()
	if _, err := deccotest.InstallChart(kubeconfig, chart.Namespace, s.values(chart.Values), func(string, ...any) {}); err != nil {
		return err
	}
	const managers = 2
	if err := s.waitManagerReady(ctx, chart.Namespace, managers); err != nil {
		return err
	}
	if err := deccotest.WaitForInjection(ctx, s.Client); err != nil {
		return err
	}
	mode := ""
	if chart.Mode != "" {
		mode = " " + chart.Mode
	}
	fmt.Fprintf(os.Stderr, "decco installed by its chart%s: %d manager pods Ready and the webhook called in %s\n", mode, managers, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// values are the chart values every suite sets, then the suite's own.
func (s Suite) values(own string) string {
	managerRepo, managerTag := SplitImage(s.Node.Images.Manager)
	sidecarRepo, sidecarTag := SplitImage(s.Node.Images.Sidecar)
	return fmt.Sprintf(`
image: {repository: %s, tag: %s, pullPolicy: Never}
sidecar: {image: {repository: %s, tag: %s}}
webhook: {certificate: {mode: selfSigned}}
`, managerRepo, managerTag, sidecarRepo, sidecarTag) + own
}

// waitManagerReady waits up to 2m until want manager pods are Ready.
func (s Suite) waitManagerReady(ctx context.Context, namespace string, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		var pods corev1.PodList
		err := s.Client.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{"app.kubernetes.io/component": "manager"})
		ready := 0
		for i := range pods.Items {
			if PodReady(&pods.Items[i]) {
				ready++
			}
		}
		if err == nil && ready >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d manager pods Ready after 2m (%v): %s", ready, want, err, PodStates(pods.Items))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

package nodetest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
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
	// PodSecurity is the level decco's namespace enforces: "restricted"
	// when empty; "privileged" where the chart runs the decco-cni
	// DaemonSet, as docs/helm.md says.
	PodSecurity string
}

// InstallDecco installs decco with its Helm chart, as users install it:
// the manager's pods run on the node from the locally built images, and
// the apiserver calls the webhook through its Service. It returns once two
// manager pods are Ready, the webhook injects and every DaemonSet of the
// chart (decco-cni's, with cni interception) is Ready on the node.
func (s Suite) InstallDecco(ctx context.Context, kubeconfig string, chart Chart) error {
	level := chart.PodSecurity
	if level == "" {
		level = "restricted"
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chart.Namespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": level}}}
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
	sets, err := s.WaitDaemonSetsReady(ctx, chart.Namespace)
	if err != nil {
		return err
	}
	mode, daemons := "", ""
	if chart.Mode != "" {
		mode = " " + chart.Mode
	}
	if sets > 0 {
		daemons = fmt.Sprintf(", %d DaemonSet(s) Ready on the node", sets)
	}
	fmt.Fprintf(os.Stderr, "decco installed by its chart%s: %d manager pods Ready, the webhook called%s, in %s\n", mode, managers, daemons, time.Since(start).Round(100*time.Millisecond))
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

// WaitDaemonSetsReady waits up to 2m until every DaemonSet in namespace
// has a Ready pod on each node it schedules to, at its current
// generation, and returns how many there are.
func (s Suite) WaitDaemonSetsReady(ctx context.Context, namespace string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		var list appsv1.DaemonSetList
		err := s.Client.List(ctx, &list, client.InNamespace(namespace))
		if err == nil {
			err = daemonSetsReady(list.Items)
		}
		if err == nil {
			return len(list.Items), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("DaemonSets of %s not Ready after 2m: %w", namespace, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func daemonSetsReady(sets []appsv1.DaemonSet) error {
	for _, ds := range sets {
		st := ds.Status
		if st.ObservedGeneration < ds.Generation || st.DesiredNumberScheduled == 0 || st.NumberReady < st.DesiredNumberScheduled || st.UpdatedNumberScheduled < st.DesiredNumberScheduled {
			return fmt.Errorf("DaemonSet %s: %d of %d pods Ready (%d updated)", ds.Name, st.NumberReady, st.DesiredNumberScheduled, st.UpdatedNumberScheduled)
		}
	}
	return nil
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

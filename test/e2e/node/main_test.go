// Package node runs decco on a real node (test/node): injected pods start
// under containerd and runc, their sidecars serve real stunnel, Services
// reach listeners through kube-proxy, names resolve through CoreDNS, and
// kube-router enforces decco's NetworkPolicies on real packets. decco itself
// is installed with its Helm chart and runs as pods on the node.
package node

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/gateway"
	"github.com/decco-dev/decco/test/node"
)

var (
	cluster *controlplane.Cluster
	k8s     client.Client
	theNode *node.Node
)

func TestMain(m *testing.M) {
	os.Exit(node.RunTests(&withDecco{m}, &cluster, &theNode, controlplane.Options{WithCertManager: true}))
}

// systemNamespace is where the chart installs decco.
const systemNamespace = "decco-system"

// gatewayNamespace is where the gateway runs (test/gateway, started by
// the first gateway test), and the namespace decco's policies admit to
// the listeners of routed Services; it is apart from the system namespace
// so that the isolation matrix tells the two roles apart.
const gatewayNamespace = "decco-gateway"

// withDecco installs decco with its Helm chart once the node is up, as
// users install it: the manager's pods run on the node from the locally
// built images, and the apiserver calls the webhook through its Service.
// Routes are in gateway-per-space mode for the gateway the node runs,
// Traefik, which has no ListenerSet.
type withDecco struct{ m *testing.M }

func (w *withDecco) Run() int {
	if theNode == nil {
		return w.m.Run()
	}
	k8s = cluster.Client
	if err := installDecco(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "installing decco with its chart: %v\n", err)
		return 1
	}
	return w.m.Run()
}

func installDecco(ctx context.Context) error {
	// decco's namespace as the docs say: Pod Security "restricted".
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if err := k8s.Create(ctx, ns); err != nil {
		return err
	}
	manager, sidecar := splitImage(theNode.Images.Manager), splitImage(theNode.Images.Sidecar)
	values := fmt.Sprintf(`
image: {repository: %s, tag: %s, pullPolicy: Never}
sidecar: {image: {repository: %s, tag: %s}}
webhook: {certificate: {mode: selfSigned}}
routing: {mode: gateway-per-space, gateway: {namespace: %s, className: %s, port: %d}}
`, manager[0], manager[1], sidecar[0], sidecar[1], gatewayNamespace, gateway.GatewayClass, gateway.Port)
	start := time.Now()
	if _, err := deccotest.InstallChart(cluster.Kubeconfig, systemNamespace, values, func(string, ...any) {}); err != nil {
		return err
	}
	if err := waitManagerReady(ctx, 2); err != nil {
		return err
	}
	if err := deccotest.WaitForInjection(ctx, k8s); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "decco installed by its chart: 2 manager pods Ready and the webhook called in %s\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// splitImage splits "repository:tag".
func splitImage(ref string) [2]string {
	i := strings.LastIndex(ref, ":")
	return [2]string{ref[:i], ref[i+1:]}
}

// waitManagerReady waits until want manager pods are Ready.
func waitManagerReady(ctx context.Context, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		var pods corev1.PodList
		err := k8s.List(ctx, &pods, client.InNamespace(systemNamespace), client.MatchingLabels{"app.kubernetes.io/component": "manager"})
		ready := 0
		for i := range pods.Items {
			if podReady(&pods.Items[i]) {
				ready++
			}
		}
		if err == nil && ready >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d manager pods Ready after 2m (%v): %s", ready, want, err, podStates(pods.Items))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

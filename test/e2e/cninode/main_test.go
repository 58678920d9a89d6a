// Package cninode runs decco with cni interception on a real node
// (test/node): decco-cni chained after the bridge installs each pod's plan
// in its network namespace, sidecars serve TLS on the apps' own ports and
// turn their connections into mutual TLS, and a capture on the node shows
// what crosses the bridge. decco is installed with its Helm chart, with
// dataPlane.interception cni, as users install it.
//
// It is a package of its own because the interception mode is the
// cluster's: test/e2e/node runs the same node with ports mode. The two
// suites take turns on the machine (test/node runs one node at a time).
package cninode

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

const systemNamespace = "decco-system"

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

// installDecco installs the chart with cni interception over the node's
// ranges. The kubernetes Service's address and the node's (where the
// apiserver serves, inside the pod range here) don't speak decco's TLS.
func installDecco(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if err := k8s.Create(ctx, ns); err != nil {
		return err
	}
	net := theNode.Network
	kubernetesSvc := net.ServiceCIDR.Addr().Next()
	manager, sidecar := splitImage(theNode.Images.Manager), splitImage(theNode.Images.Sidecar)
	values := fmt.Sprintf(`
image: {repository: %s, tag: %s, pullPolicy: Never}
sidecar: {image: {repository: %s, tag: %s}}
webhook: {certificate: {mode: selfSigned}}
dataPlane:
  interception: cni
  podCIDRs: [%s]
  serviceCIDRs: [%s]
  excludeCIDRs: [%s/32, %s/32]
`, manager[0], manager[1], sidecar[0], sidecar[1], net.PodCIDR, net.ServiceCIDR, kubernetesSvc, net.NodeIP())
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
	fmt.Fprintf(os.Stderr, "decco installed by its chart with cni interception: 2 manager pods Ready and the webhook called in %s\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func splitImage(ref string) [2]string {
	i := strings.LastIndex(ref, ":")
	return [2]string{ref[:i], ref[i+1:]}
}

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

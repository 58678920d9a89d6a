package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/gateway"
	"github.com/decco-dev/decco/test/node"
)

// The node demo installs decco as users do and routes through a real
// gateway, in these namespaces.
const (
	systemNamespace      = "decco-system"
	nodeGatewayNamespace = "decco-gateway"
)

// runOnNode is the demo with running pods: a real node joins the control
// plane, the chart installs decco, Traefik runs as the gateway, and the
// examples run with test images in place of MySQL and nginx (nothing can
// be pulled here). It ends with one HTTPS request through the gateway and
// one MySQL-style exchange over mutual TLS, as a user would make them.
func runOnNode(ctx context.Context, keep bool) error {
	start := time.Now()
	say("This machine can host a node: decco runs as it would in a cluster, pods and all.")
	say("The first run builds the control plane, the node and Traefik from the Go module proxy: %s, plus about 4 and %s, on 2 cores.",
		controlplane.ColdBuildTime, gateway.ColdBuildTime)
	n, err := node.Prepare(ctx, node.Options{Out: indent{os.Stdout}})
	if err != nil {
		return err
	}
	defer n.Stop()
	cluster, err := controlplane.Start(ctx, n.ControlPlaneOptions(controlplane.Options{Out: indent{os.Stdout}, WithCertManager: true}))
	if err != nil {
		return err
	}
	defer cluster.Stop()
	if err := n.Join(ctx, cluster); err != nil {
		return err
	}
	say("✓ control plane and node %s up in %s (containerd, kubelet, kube-proxy, CoreDNS, kube-router)", node.Name, since(start))

	step := time.Now()
	if err := installChart(ctx, cluster, n); err != nil {
		return err
	}
	say("✓ helm install decco ./charts/decco: 2 manager pods Ready, webhook called through its Service, in %s", since(step))

	step = time.Now()
	gw, err := gateway.Start(ctx, cluster.Client, n, nodeGatewayNamespace, indent{os.Stdout})
	if err != nil {
		return err
	}
	gwIP, _, _ := net.SplitHostPort(gw.Addr[gateway.GatewayAPI])
	say("✓ gateway: Traefik %s pods Ready in namespace %s, Service at %s, in %s", gateway.TraefikVersion, nodeGatewayNamespace, gwIP, since(step))

	objs, err := deccotest.ReadManifests(filepath.Join(controlplane.RepoRoot(), "examples"))
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := withTestImage(o); err != nil {
			return err
		}
	}
	if err := deccotest.Apply(ctx, cluster.Client, "", objs); err != nil {
		return err
	}
	say("✓ applied examples/, with %s in place of mysql:8.4 and nginx (the node pulls nothing)", node.AppImage)

	if err := showPods(ctx, cluster.Client, "acme"); err != nil {
		return err
	}
	if err := httpsThroughGateway(ctx, cluster, gw); err != nil {
		return err
	}
	if err := mysqlOverMutualTLS(ctx, cluster, gw); err != nil {
		return err
	}
	if keep {
		say("\nStill running. KUBECONFIG=%s  (Ctrl-C stops everything)", cluster.Kubeconfig)
		<-ctx.Done()
	}
	return nil
}

// installChart installs decco with its chart and the images the node
// built, in gateway-per-space mode for Traefik.
func installChart(ctx context.Context, cluster *controlplane.Cluster, n *node.Node) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if err := cluster.Client.Create(ctx, ns); err != nil {
		return err
	}
	manager, sidecar := splitRef(n.Images.Manager), splitRef(n.Images.Sidecar)
	values := fmt.Sprintf(`
image: {repository: %s, tag: %s, pullPolicy: Never}
sidecar: {image: {repository: %s, tag: %s}}
webhook: {certificate: {mode: selfSigned}}
routing: {mode: gateway-per-space, gateway: {namespace: %s, className: %s, port: %d}}
`, manager[0], manager[1], sidecar[0], sidecar[1], nodeGatewayNamespace, gateway.GatewayClass, gateway.Port)
	say("$ helm install decco ./charts/decco -n %s --set routing.mode=gateway-per-space --set routing.gateway.className=%s ...", systemNamespace, gateway.GatewayClass)
	if _, err := deccotest.InstallChart(cluster.Kubeconfig, systemNamespace, values, func(string, ...any) {}); err != nil {
		return err
	}
	return deccotest.WaitForInjection(ctx, cluster.Client)
}

func splitRef(ref string) [2]string {
	i := strings.LastIndex(ref, ":")
	return [2]string{ref[:i], ref[i+1:]}
}

// testCommands replace the examples' images: the MySQL-style server
// speaks first, as MySQL does; the HTTP server answers with its pod's name.
var testCommands = map[string][]string{
	"mysql": {"tcp", "-listen=:3306"},
	"web":   {"http", "-listen=:8080"},
}

// withTestImage swaps a Deployment's images for the test app. The
// examples' own security contexts pass Pod Security "restricted", decco's
// default for spaces (TestExamplesPassRestrictedPodSecurity).
func withTestImage(o *unstructured.Unstructured) error {
	if o.GetKind() != "Deployment" {
		return nil
	}
	containers, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if err != nil {
		return err
	}
	for i := range containers {
		c := containers[i].(map[string]any)
		args, ok := testCommands[c["name"].(string)]
		if !ok {
			return fmt.Errorf("examples: no test command for container %q", c["name"])
		}
		c["image"], c["imagePullPolicy"] = node.AppImage, "Never"
		c["args"] = toAny(args)
	}
	return unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers")
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// showPods waits for the space's pods to be Ready and prints them as
// kubectl get pods would, with their containers.
func showPods(ctx context.Context, c client.Client, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	var pods corev1.PodList
	for {
		if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(pods.Items) >= 2 && allReady(pods.Items) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pods of %s not Ready after 2m: %d pods", ns, len(pods.Items))
		case <-time.After(250 * time.Millisecond):
		}
	}
	say("\n$ kubectl get pods -n %s        (Ready %s after apply)", ns, since(start))
	say("%-28s %-6s %-8s %s", "NAME", "READY", "STATUS", "CONTAINERS")
	for _, p := range pods.Items {
		var names []string
		for _, ic := range p.Spec.InitContainers {
			names = append(names, ic.Name+" (native sidecar)")
		}
		for _, ac := range p.Spec.Containers {
			names = append(names, ac.Name)
		}
		ready := 0
		for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if s.Ready {
				ready++
			}
		}
		say("%-28s %d/%-4d %-8s %s", p.Name, ready, len(names), p.Status.Phase, strings.Join(names, ", "))
	}
	return nil
}

func allReady(pods []corev1.Pod) bool {
	for _, p := range pods {
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
		}
		if !ready {
			return false
		}
	}
	return true
}

// httpsThroughGateway sends GET https://acme.example.com/shop through the
// gateway, trusting the space's CA, as curl would with --resolve.
func httpsThroughGateway(ctx context.Context, cluster *controlplane.Cluster, gw *gateway.Gateway) error {
	var sec corev1.Secret
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: "acme", Name: space.DefaultHTTPCertSecret}, &sec); err != nil {
		return fmt.Errorf("reading the space's HTTP certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(sec.Data["ca.crt"])
	addr := gw.Addr[gateway.GatewayAPI]
	ip, _, _ := net.SplitHostPort(addr)
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig: &tls.Config{ServerName: "acme.example.com", RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	say("\n$ curl --cacert acme-ca.crt --resolve acme.example.com:443:%s https://acme.example.com/shop", ip)
	body, err := retry(ctx, func() (string, error) {
		resp, err := hc.Get("https://acme.example.com/shop")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s", resp.Status, b)
		}
		return string(b), err
	})
	if err != nil {
		return err
	}
	fmt.Print(body)
	say("  (Traefik terminated TLS with the space's certificate and spoke TLS to the pod's sidecar, verified against the space CA)")
	return nil
}

// mysqlOverMutualTLS issues a client certificate with spacectl, then opens
// a TLS connection by SNI mysql.acme.example.com through the gateway,
// which passes it through to the pod's sidecar; the sidecar checks the
// client's certificate and the MySQL-style server greets first.
func mysqlOverMutualTLS(ctx context.Context, cluster *controlplane.Cluster, gw *gateway.Gateway) error {
	dir, err := os.MkdirTemp("", "decco-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "spacectl")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/spacectl")
	build.Dir = controlplane.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building spacectl: %w\n%s", err, out)
	}
	out := filepath.Join(dir, "reporting")
	say("\n$ spacectl cert client acme reporting --out ./reporting")
	cmd := exec.CommandContext(ctx, bin, "cert", "client", "acme", "reporting", "--out", out)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.Kubeconfig)
	cmd.Stdout, cmd.Stderr = indent{os.Stdout}, indent{os.Stdout}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("spacectl cert client: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(out, "tls.crt"), filepath.Join(out, "tls.key"))
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(out, "ca.crt"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	addr := gw.Addr[gateway.GatewayAPI]
	say("$ openssl s_client -quiet -connect %s -servername mysql.acme.example.com -CAfile reporting/ca.crt -cert reporting/tls.crt -key reporting/tls.key", addr)
	dialer := &tls.Dialer{Config: &tls.Config{ServerName: "mysql.acme.example.com", RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	var version string
	exchange, err := retry(ctx, func() (string, error) {
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		version = tls.VersionName(conn.(*tls.Conn).ConnectionState().Version)
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		r := bufio.NewReader(conn)
		greeting, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if _, err := io.WriteString(conn, "SELECT 1;\n"); err != nil {
			return "", err
		}
		echo, err := r.ReadString('\n')
		return fmt.Sprintf("%s> SELECT 1;\n%s", greeting, echo), err
	})
	if err != nil {
		return err
	}
	fmt.Print(exchange)
	say("  (%s end to end: Traefik routed by SNI without opening the stream; the pod's sidecar required a client certificate of space acme)", version)
	return nil
}

// retry calls f until it succeeds or 90 s pass: routes take a moment to
// reach the gateway after the pods are Ready.
func retry(ctx context.Context, f func() (string, error)) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		s, err := f()
		if err == nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("after 90s: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

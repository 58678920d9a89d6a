package chart

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/dns/rfc2136"
	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
)

// The decco binary, started with exactly the arguments of the rendered
// Deployment and authenticated as the rendered ServiceAccount (so the
// rendered RBAC is what it may do), serves the webhooks the rendered
// configurations point at: the apiserver injects a pod through it,
// rewrites a Service's target port and refuses a workload whose template
// names another space.
//
// What differs from a cluster install, and why: the manager runs on this
// machine rather than in a pod (the control plane has no kubelet), so the
// flags that bind addresses and find the serving certificate are appended
// after the rendered ones (the last occurrence of a flag wins) to listen
// on free loopback ports with a certificate for 127.0.0.1, and the
// webhook configurations' clientConfig names that loopback URL instead of
// the Service. Everything else is as rendered.
func TestManagerRunsWithTheRenderedFlags(t *testing.T) {
	needCluster(t)
	installServiceMonitorCRD(t)
	for _, name := range []string{"defaults", "gateway-created-dnsendpoint", "selfsigned-ingress-rfc2136"} {
		t.Run(name, func(t *testing.T) { runRenderedManager(t, valueSetNamed(t, name)) })
	}
}

func valueSetNamed(t *testing.T, name string) valueSet {
	t.Helper()
	for _, set := range valueSets {
		if set.name == name {
			return set
		}
	}
	t.Fatalf("no value set %q", name)
	return valueSet{}
}

func runRenderedManager(t *testing.T, set valueSet) {
	ctx := context.Background()
	r := mustRender(t, set)
	ensureNamespace(t, set.namespace)

	// Everything but the webhook configurations, for real: the
	// ServiceAccount and its RBAC above all.
	for _, o := range r.objects {
		if strings.HasSuffix(o.GetKind(), "WebhookConfiguration") {
			continue
		}
		require.NoError(t, apply(ctx, o), "applying %s %s", o.GetKind(), o.GetName())
	}
	t.Cleanup(func() { deleteObjects(r) })

	d := r.deployment(t)
	flags, _ := parseArgs(t, r.managerArgs(t))
	if tsig := flags.Lookup("dns-rfc2136-tsig-secret").Value.String(); tsig != "" {
		createTSIGSecret(t, tsig)
	}
	kubeconfig := serviceAccountKubeconfig(t, set.namespace, d.Spec.Template.Spec.ServiceAccountName)
	certDir := t.TempDir()
	caBundle, err := deccotest.ServingCert(certDir)
	require.NoError(t, err)
	ports := freePorts(t, 3)
	webhookPort, healthPort, metricsPort := ports[0], ports[1], ports[2]
	metricsOn := flags.Lookup("metrics-bind-address").Value.String() != "0"

	args := append(r.managerArgs(t),
		"--webhook-host=127.0.0.1",
		"--webhook-port="+strconv.Itoa(webhookPort),
		"--webhook-cert-dir="+certDir,
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(healthPort),
		"--kubeconfig="+kubeconfig,
	)
	if metricsOn {
		args = append(args, "--metrics-bind-address=127.0.0.1:"+strconv.Itoa(metricsPort))
	}
	logs := startManager(t, args)

	// Ready as the rendered readinessProbe asks.
	ready := d.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path
	waitHTTP(t, logs, fmt.Sprintf("http://127.0.0.1:%d%s", healthPort, ready), 90*time.Second)

	registerRenderedWebhooks(t, r, deccotest.WebhookURL(webhookPort), caBundle)
	sp := newSpace(t)
	waitForInjection(t, logs, sp)

	// A pod: injected with the sidecar the rendered flags describe.
	pod := labeledPod(sp, sp)
	require.NoError(t, cluster.Client.Create(ctx, pod))
	require.True(t, deccotest.Injected(pod), "pod not injected: %+v", pod.Spec)
	side := sidecarOf(t, pod)
	assert.Equal(t, flags.Lookup("sidecar-image").Value.String(), side.Image)
	assert.True(t, resource.MustParse(flags.Lookup("sidecar-memory-limit").Value.String()).Equal(side.Resources.Limits[corev1.ResourceMemory]), "sidecar memory limit %v", side.Resources.Limits)

	// A Service: its numeric target port now reaches the TLS listener.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: sp, Name: "app", Labels: map[string]string{space.LabelSpace: sp}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "app"},
			Ports:    []corev1.ServicePort{{Name: "tcp", Port: 5000, TargetPort: intstr.FromInt32(5000)}},
		},
	}
	require.NoError(t, cluster.Client.Create(ctx, svc))
	assert.Equal(t, intstr.FromInt32(inject.ListenerPort(5000)), svc.Spec.Ports[0].TargetPort, "the Service was not rewritten")

	// A workload whose pod template names another space: refused at apply.
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: sp, Name: "stray"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "stray"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "stray", space.LabelSpace: "elsewhere"}},
				Spec:       labeledPod(sp, "elsewhere").Spec,
			},
		},
	}
	err = cluster.Client.Create(ctx, deploy, client.DryRunAll)
	require.Error(t, err, "a Deployment naming another space was admitted")
	assert.Contains(t, err.Error(), "workloads.decco.io")

	// Metrics, where the rendered metrics Service and ServiceMonitor look.
	if metricsOn {
		metrics := httpBody(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
		assert.Contains(t, metrics, "controller_runtime_webhook_requests_total", "webhook metrics")
	}

	// The reconciler, elected through the rendered Role's Lease, wrote the
	// space's status: it read and wrote what its ClusterRole allows.
	var lease coordinationv1.Lease
	require.NoError(t, cluster.Client.Get(ctx, client.ObjectKey{Namespace: set.namespace, Name: manager.LeaderElectionID}, &lease), "the leader-election Lease")
	assert.NotEmpty(t, ptr.Deref(lease.Spec.HolderIdentity, ""), "nobody holds the Lease")
	assert.Eventually(t, func() bool {
		var ns corev1.Namespace
		return cluster.Client.Get(ctx, client.ObjectKey{Name: sp}, &ns) == nil && ns.Annotations[space.AnnotationStatus] != ""
	}, 60*time.Second, 250*time.Millisecond, "the reconciler wrote no %s on the space", space.AnnotationStatus)

	// The rendered RBAC sufficed: nothing the manager did was forbidden.
	assert.NotContains(t, logs.String(), "forbidden", "the manager was refused something its RBAC should allow")
}

// createTSIGSecret creates the Secret --dns-rfc2136-tsig-secret names, as
// the docs tell an operator to, which the manager reads at start-up.
func createTSIGSecret(t *testing.T, namespacedName string) {
	t.Helper()
	ns, name, _ := strings.Cut(namespacedName, "/")
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	secret := rfc2136.NewSecret(ns, name, "decco.", "hmac-sha256", key)
	require.NoError(t, cluster.Client.Create(context.Background(), secret))
	t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), secret) })
}

// newSpace creates a space namespace and deletes it when the test ends.
func newSpace(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "chart-space-"}}
	require.NoError(t, cluster.Client.Create(ctx, ns))
	t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), ns) })
	ns.Labels = map[string]string{space.LabelSpace: ns.Name}
	ns.Annotations = map[string]string{space.AnnotationDomain: "example.com"}
	require.NoError(t, cluster.Client.Update(ctx, ns))
	return ns.Name
}

func labeledPod(ns, spaceName string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app", Labels: map[string]string{space.LabelSpace: spaceName, "app": "app"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "app",
			Ports: []corev1.ContainerPort{{Name: "tcp", ContainerPort: 5000}},
		}}},
	}
}

func sidecarOf(t *testing.T, pod *corev1.Pod) corev1.Container {
	t.Helper()
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == inject.SidecarName {
				return c
			}
		}
	}
	t.Fatalf("pod %s has no %s container", pod.Name, inject.SidecarName)
	return corev1.Container{}
}

// registerRenderedWebhooks creates the rendered webhook configurations
// with one change: the apiserver reaches the manager at baseURL, trusting
// caBundle, instead of through the Service.
func registerRenderedWebhooks(t *testing.T, r rendered, baseURL string, caBundle []byte) {
	t.Helper()
	ctx := context.Background()
	m, v := r.webhookConfigurations(t)
	toURL := func(cc *admissionregistrationv1.WebhookClientConfig) {
		require.NotNil(t, cc.Service, "rendered clientConfig has no service")
		*cc = admissionregistrationv1.WebhookClientConfig{URL: ptr.To(baseURL + *cc.Service.Path), CABundle: caBundle}
	}
	for i := range m.Webhooks {
		toURL(&m.Webhooks[i].ClientConfig)
	}
	for i := range v.Webhooks {
		toURL(&v.Webhooks[i].ClientConfig)
	}
	for _, obj := range []client.Object{m, v} {
		if err := cluster.Client.Delete(ctx, obj.DeepCopyObject().(client.Object)); err != nil && !apierrors.IsNotFound(err) {
			require.NoError(t, err)
		}
		require.NoError(t, cluster.Client.Create(ctx, obj), "registering the rendered %T", obj)
		t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), obj) })
	}
}

// waitForInjection dry-runs a pod in sp until the apiserver, which picks
// up new webhook configurations a moment after they are stored, returns it
// injected.
func waitForInjection(t *testing.T, logs *syncBuffer, sp string) {
	t.Helper()
	ctx := context.Background()
	var lastErr error
	ok := assert.Eventually(t, func() bool {
		pod := labeledPod(sp, sp)
		lastErr = cluster.Client.Create(ctx, pod, client.DryRunAll)
		return lastErr == nil && deccotest.Injected(pod)
	}, 30*time.Second, 200*time.Millisecond)
	if !ok {
		t.Fatalf("the apiserver did not inject through the manager (last error: %v); manager log:\n%s", lastErr, logs)
	}
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount with a bound token, as a pod of the Deployment would.
func serviceAccountKubeconfig(t *testing.T, ns, name string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cluster.Config)
	require.NoError(t, err)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	require.NoError(t, err, "requesting a token for ServiceAccount %s/%s", ns, name)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cluster.Config.Host, CertificateAuthorityData: cluster.Config.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: name, Namespace: ns}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, path))
	return path
}

var (
	buildOnce sync.Once
	deccoBin  string
	buildErr  error
)

// deccoBinary builds cmd/decco once per test run.
func deccoBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "decco-chart-bin-")
		if err != nil {
			buildErr = err
			return
		}
		deccoBin = filepath.Join(dir, "decco")
		cmd := exec.Command("go", "build", "-o", deccoBin, "./cmd/decco")
		cmd.Dir = controlplane.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/decco: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return deccoBin
}

// startManager runs the decco binary with args until the test ends and
// returns its log.
func startManager(t *testing.T, args []string) *syncBuffer {
	t.Helper()
	logs := new(syncBuffer)
	cmd := exec.Command(deccoBinary(t), args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	logs.exited = exited
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("manager log:\n%s", logs)
		}
	})
	return logs
}

// waitHTTP polls url until it answers 200, failing early if the manager
// exits.
func waitHTTP(t *testing.T, logs *syncBuffer, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-logs.exited:
			t.Fatalf("the manager exited before %s answered; log:\n%s", url, logs)
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %s (last error: %v); log:\n%s", url, timeout, err, logs)
		}
	}
}

// httpBody GETs url and returns its body.
func httpBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	seen := map[int]bool{}
	var out []int
	for len(out) < n {
		p, err := deccotest.FreePort()
		require.NoError(t, err)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// deleteObjects removes what the test applied for real.
func deleteObjects(r rendered) {
	for _, o := range r.objects {
		_ = cluster.Client.Delete(context.Background(), o.DeepCopy())
	}
}

// syncBuffer is a log the manager process and the test share.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	exited <-chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

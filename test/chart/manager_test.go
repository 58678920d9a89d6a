package chart

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns/rfc2136"
	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/install"
	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/testkit"
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
	cluster.Need(t)
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

// renderedManager is the decco binary running as a value set renders it.
type renderedManager struct {
	r     rendered
	flags *pflag.FlagSet
	proc  *testkit.Proc
	// kubeconfig authenticates as the rendered ServiceAccount.
	kubeconfig string
	// health and metrics are loopback ports; metrics is 0 when the value
	// set turns metrics off.
	health, metrics int
}

// startRendered applies every rendered object but the webhook
// configurations and those skip names (nil: none), starts the manager with
// the rendered arguments as the rendered ServiceAccount, waits until it is
// ready as the rendered readinessProbe asks, and registers the rendered
// webhook configurations pointed at it.
func startRendered(t *testing.T, set valueSet, skip func(*unstructured.Unstructured) bool) *renderedManager {
	t.Helper()
	ctx := context.Background()
	r := mustRender(t, set)
	ensureNamespace(t, set.namespace)

	// Everything but the webhook configurations, for real: the
	// ServiceAccount and its RBAC above all.
	for _, o := range r.objects {
		if strings.HasSuffix(o.GetKind(), "WebhookConfiguration") || skip != nil && skip(o) {
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
	m := &renderedManager{r: r, flags: flags, kubeconfig: serviceAccountKubeconfig(t, set.namespace, d.Spec.Template.Spec.ServiceAccountName)}
	certDir := t.TempDir()
	caBundle, err := deccotest.ServingCert(certDir)
	require.NoError(t, err)
	ports := freePorts(t, 3)
	webhookPort, healthPort, metricsPort := ports[0], ports[1], ports[2]
	m.health = healthPort

	args := append(r.managerArgs(t),
		"--webhook-host=127.0.0.1",
		"--webhook-port="+strconv.Itoa(webhookPort),
		"--webhook-cert-dir="+certDir,
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(healthPort),
		"--kubeconfig="+m.kubeconfig,
	)
	if flags.Lookup("metrics-bind-address").Value.String() != "0" {
		m.metrics = metricsPort
		args = append(args, "--metrics-bind-address=127.0.0.1:"+strconv.Itoa(metricsPort))
	}
	m.proc = testkit.StartT(t, "manager", exec.Command(deccoBinary(t), args...), 15*time.Second)

	// Ready as the rendered readinessProbe asks.
	ready := d.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path
	require.NoError(t, m.proc.WaitHTTP(fmt.Sprintf("http://127.0.0.1:%d%s", healthPort, ready), 90*time.Second))

	registerRenderedWebhooks(t, r, deccotest.WebhookURL(webhookPort), caBundle)
	if err := deccotest.WaitForInjection(ctx, cluster.Client); err != nil {
		t.Fatalf("the apiserver did not inject through the manager: %v; manager log:\n%s", err, m.proc.Log())
	}
	return m
}

// flag is the value of the rendered flag name.
func (m *renderedManager) flag(name string) string { return m.flags.Lookup(name).Value.String() }

// metricsText is the manager's /metrics page.
func (m *renderedManager) metricsText(t *testing.T) string {
	t.Helper()
	require.NotZero(t, m.metrics, "the value set turns metrics off")
	return httpBody(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", m.metrics))
}

func runRenderedManager(t *testing.T, set valueSet) {
	ctx := context.Background()
	m := startRendered(t, set, nil)
	sp := newSpace(t)

	// A pod: injected with the sidecar the rendered flags describe.
	pod := labeledPod(sp, sp)
	require.NoError(t, cluster.Client.Create(ctx, pod))
	require.True(t, deccotest.Injected(pod), "pod not injected: %+v", pod.Spec)
	side := sidecarOf(t, pod)
	assert.Equal(t, m.flag("sidecar-image"), side.Image)
	assert.True(t, resource.MustParse(m.flag("sidecar-memory-limit")).Equal(side.Resources.Limits[corev1.ResourceMemory]), "sidecar memory limit %v", side.Resources.Limits)

	// A Service: its numeric target port now reaches the TLS listener.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: sp, Name: "app", Labels: map[string]string{space.LabelSpace: sp}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "app"},
			Ports:    []corev1.ServicePort{{Name: "tcp", Port: 5000, TargetPort: intstr.FromInt32(5000)}},
		},
	}
	require.NoError(t, cluster.Client.Create(ctx, svc))
	if m.flag("interception") == string(inject.InterceptCNI) {
		// The sidecar serves TLS on the port's own number: Services stay as written.
		assert.Equal(t, intstr.FromInt32(5000), svc.Spec.Ports[0].TargetPort, "the Service was rewritten in cni mode")
		assert.Contains(t, pod.Annotations, space.AnnotationInterception, "cni mode records the interception plan")
		assert.Equal(t, string(inject.InterceptCNI), pod.Labels[space.LabelInterception], "cni mode's listener policy opens only pods labeled for it")
	} else {
		assert.Equal(t, intstr.FromInt32(inject.ListenerPort(5000)), svc.Spec.Ports[0].TargetPort, "the Service was not rewritten")
		assert.NotContains(t, pod.Labels, space.LabelInterception, "ports mode's listener policy opens only pods without the cni label")
	}

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
	err := cluster.Client.Create(ctx, deploy, client.DryRunAll)
	require.Error(t, err, "a Deployment naming another space was admitted")
	assert.Contains(t, err.Error(), "workloads.decco.io")

	// Metrics, where the rendered metrics Service and ServiceMonitor look.
	if m.metrics != 0 {
		assert.Contains(t, m.metricsText(t), "controller_runtime_webhook_requests_total", "webhook metrics")
	}

	// The reconciler, elected through the rendered Role's Lease, wrote the
	// space's status: it read and wrote what its ClusterRole allows.
	var lease coordinationv1.Lease
	require.NoError(t, cluster.Client.Get(ctx, client.ObjectKey{Namespace: set.namespace, Name: install.LeaderElectionID}, &lease), "the leader-election Lease")
	assert.NotEmpty(t, ptr.Deref(lease.Spec.HolderIdentity, ""), "nobody holds the Lease")
	assert.Eventually(t, func() bool {
		var ns corev1.Namespace
		return cluster.Client.Get(ctx, client.ObjectKey{Name: sp}, &ns) == nil && ns.Annotations[space.AnnotationStatus] != ""
	}, 60*time.Second, 250*time.Millisecond, "the reconciler wrote no %s on the space", space.AnnotationStatus)
	if m.metrics != 0 {
		assert.Eventually(t, func() bool { return strings.Contains(m.metricsText(t), "decco_reconciler_caches_synced 1") },
			30*time.Second, 250*time.Millisecond, "the reconciler's caches never reported synced")
	}

	// decco's own Secrets, by name: a space that switches to its own
	// certificate loses the ones cert-manager wrote for decco (labeled as
	// decco's through the Certificate's secretTemplate), not others.
	switchToOwnCertificate(t, sp)

	// The rendered RBAC sufficed: nothing the manager did was forbidden.
	// (RBAC denials read `is forbidden: User "..." cannot`; a namespace
	// being deleted also answers "forbidden", for any user.)
	assert.NotRegexp(t, `forbidden: User "[^"]*" cannot`, m.proc.Log(), "the manager was refused something its RBAC should allow")

	// And it is no more than that: Secrets by name only, the other route
	// mode's kinds not at all.
	assertLeastPrivilege(t, m, sp)
}

// switchToOwnCertificate gives space sp a Secret of decco's as
// cert-manager would write it, and one of the tenant's, then points the
// space's decco.io/tcp-cert-secret at the tenant's: the reconciler
// deletes decco's CA Secret, by name through its narrowed RBAC, and keeps
// the tenant's.
func switchToOwnCertificate(t *testing.T, sp string) {
	t.Helper()
	ctx := context.Background()
	ca := tlsSecret(sp, space.CASecretName, map[string]string{space.LabelManagedBy: space.ManagedByValue, space.LabelSpace: sp})
	own := tlsSecret(sp, "tenant-tls", nil)
	for _, s := range []*corev1.Secret{ca, own} {
		require.NoError(t, cluster.Client.Create(ctx, s))
	}
	var ns corev1.Namespace
	require.NoError(t, cluster.Client.Get(ctx, client.ObjectKey{Name: sp}, &ns))
	patch := client.MergeFrom(ns.DeepCopy())
	ns.Annotations[space.AnnotationTCPCertSecret] = own.Name
	require.NoError(t, cluster.Client.Patch(ctx, &ns, patch))
	assert.Eventually(t, func() bool {
		return apierrors.IsNotFound(cluster.Client.Get(ctx, client.ObjectKeyFromObject(ca), &corev1.Secret{}))
	}, 60*time.Second, 250*time.Millisecond, "decco's %s Secret outlived its Certificate", ca.Name)
	assert.NoError(t, cluster.Client.Get(ctx, client.ObjectKeyFromObject(own), &corev1.Secret{}), "the tenant's own Secret stays")
}

func tlsSecret(ns, name string, labels map[string]string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: []byte("not checked"), corev1.TLSPrivateKeyKey: []byte("not checked")},
	}
}

// assertLeastPrivilege makes real requests with the manager's own token:
// it may neither list nor watch Secrets, nor read or delete a tenant's
// Secret of another name than decco's (read: unless the value set turns
// on reconciler.verifyBYOSecrets), and it has no rights on the route
// kinds of the mode it does not run in.
func assertLeastPrivilege(t *testing.T, m *renderedManager, sp string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", m.kubeconfig)
	require.NoError(t, err)
	as, err := client.New(cfg, client.Options{Scheme: install.Scheme})
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	tenant := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: sp, Name: "app-credentials"}, StringData: map[string]string{"password": "s3cret"}}
	require.NoError(t, cluster.Client.Create(ctx, tenant))

	forbidden := func(what string, err error) {
		t.Helper()
		assert.True(t, apierrors.IsForbidden(err), "%s: want forbidden, got %v", what, err)
	}
	forbidden("listing Secrets cluster-wide", as.List(ctx, &corev1.SecretList{}))
	forbidden("listing the Secrets of a space", as.List(ctx, &corev1.SecretList{}, client.InNamespace(sp)))
	_, err = cs.CoreV1().Secrets("").Watch(ctx, metav1.ListOptions{})
	forbidden("watching Secrets", err)
	forbidden("deleting a tenant's Secret", as.Delete(ctx, tenant.DeepCopy(), client.DryRunAll))
	err = as.Get(ctx, client.ObjectKeyFromObject(tenant), &corev1.Secret{})
	if m.flag("verify-byo-secrets") == "true" {
		assert.NoError(t, err, "reconciler.verifyBYOSecrets grants get on tenants' Secrets")
	} else {
		forbidden("reading a tenant's Secret", err)
	}
	for _, name := range reconciler.OwnSecretNames() {
		err := as.Get(ctx, client.ObjectKey{Namespace: sp, Name: name}, &corev1.Secret{})
		assert.False(t, apierrors.IsForbidden(err), "reading decco's %s: %v", name, err)
	}

	ingresses := as.List(ctx, &networkingv1.IngressList{})
	routes := as.List(ctx, &gatewayv1.HTTPRouteList{})
	if m.flag("route-mode") == manager.RouteModeIngress {
		assert.NoError(t, ingresses, "ingress mode lists Ingresses")
		forbidden("listing HTTPRoutes in ingress mode", routes)
	} else {
		forbidden("listing Ingresses in gateway mode", ingresses)
		assert.NoError(t, routes, "gateway mode lists HTTPRoutes")
	}
}

// The webhook's readiness does not hang on the reconciler: a manager whose
// reconciler may list nothing (its ClusterRoleBinding left out) still
// becomes ready and injects pods, while the reconciler reports the kinds
// it waits for, in the log and a metric; granted its rights, it catches
// up without a restart.
func TestWebhookIsReadyWhileTheReconcilerMayNotList(t *testing.T) {
	cluster.Need(t)
	set := valueSet{name: "no-reconciler-binding", namespace: "decco-norbac"}
	isReconcilerBinding := func(o *unstructured.Unstructured) bool {
		return o.GetKind() == "ClusterRoleBinding" && strings.HasSuffix(o.GetName(), "-reconciler")
	}
	m := startRendered(t, set, isReconcilerBinding)
	sp := newSpace(t)
	pod := labeledPod(sp, sp)
	require.NoError(t, cluster.Client.Create(context.Background(), pod, client.DryRunAll))
	assert.True(t, deccotest.Injected(pod), "pod not injected while the reconciler is stuck")

	deccotest.WaitFor(t, 60*time.Second, "the manager reports its waiting caches", func() error {
		if !m.proc.LogContains("the reconciler is waiting for its caches") {
			return errors.New("not logged yet")
		}
		return nil
	})
	assert.Contains(t, m.proc.Log(), "Service", "the report names the kinds")
	assert.Contains(t, m.metricsText(t), "decco_reconciler_caches_synced 0")
	require.NoError(t, m.proc.WaitHTTP(fmt.Sprintf("http://127.0.0.1:%d/readyz", m.health), time.Second))

	for _, o := range m.r.objects {
		if isReconcilerBinding(o) {
			require.NoError(t, apply(context.Background(), o))
		}
	}
	assert.Eventually(t, func() bool {
		var ns corev1.Namespace
		return cluster.Client.Get(context.Background(), client.ObjectKey{Name: sp}, &ns) == nil && ns.Annotations[space.AnnotationStatus] != ""
	}, 2*time.Minute, 500*time.Millisecond, "the reconciler did not catch up once granted its rights")
	assert.Contains(t, m.metricsText(t), "decco_reconciler_caches_synced 1")
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

// labeledPod passes Pod Security restricted, which the chart's default
// sets on every space.
func labeledPod(ns, spaceName string) *corev1.Pod {
	yes, no := true, false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app", Labels: map[string]string{space.LabelSpace: spaceName, "app": "app"}},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: new(int64(1000)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "app", Image: "app",
				Ports: []corev1.ContainerPort{{Name: "tcp", ContainerPort: 5000}},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no,
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
		},
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

// deccoBinary builds cmd/decco once per test run.
func deccoBinary(t *testing.T) string {
	t.Helper()
	cache, err := controlplane.CacheDir()
	require.NoError(t, err)
	return testkit.GoBuild(t, controlplane.RepoRoot(), "./cmd/decco", filepath.Join(cache, "chart"))
}

// probeClient gives up on a request as the kubelet gives up on a probe,
// so a check that hangs fails the test instead of stalling it.
var probeClient = &http.Client{Timeout: 5 * time.Second}

// httpBody GETs url and returns its body.
func httpBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := probeClient.Get(url)
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

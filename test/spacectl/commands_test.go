package spacectl_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/install"
	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/spacectl"
	"github.com/decco-dev/decco/test/deccotest"
)

func getNS(t *testing.T, name string) *corev1.Namespace {
	t.Helper()
	ns := &corev1.Namespace{}
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Name: name}, ns))
	return ns
}

// create space makes a valid space and waits for the real reconciler to
// report it ready; a second run changes only what its flags say.
func TestCreateSpace(t *testing.T) {
	cluster.Need(t)
	r := cli(t, "", "create", "space", "sc-create", "--domain", "example.com", "--project", "retail", "--wait", "--timeout", "2m")
	deleteAfter(t, "sc-create")
	require.Equal(t, spacectl.ExitOK, r.code, "%s", r)
	assert.Equal(t, "space/sc-create created\n", r.out)
	assert.Contains(t, r.errOut, "space sc-create: ready after", "the wait reports how it ended")

	ns := getNS(t, "sc-create")
	sp, err := space.FromNamespace(ns)
	require.NoError(t, err)
	assert.Equal(t, space.Space{Name: "sc-create", Domain: "example.com", Project: "retail"}, sp)
	st, err := space.ParseStatus(ns.Annotations[space.AnnotationStatus])
	require.NoError(t, err)
	assert.True(t, st.Ready(), "the reconciler's status: %+v", st)

	r = mustCLI(t, "create", "space", "sc-create", "--project", "wholesale")
	assert.Equal(t, "space/sc-create configured\n", r.out)
	ns = getNS(t, "sc-create")
	assert.Equal(t, "wholesale", ns.Annotations[space.AnnotationProject])
	assert.Equal(t, "example.com", ns.Annotations[space.AnnotationDomain], "flags not given keep their values")

	r = mustCLI(t, "create", "space", "sc-create", "--project", "wholesale")
	assert.Equal(t, "space/sc-create unchanged\n", r.out)

	r = mustCLI(t, "create", "space", "sc-create", "--dry-run=server", "--project", "other", "-o", "yaml")
	assert.Contains(t, r.out, "decco.io/project: other")
	assert.Equal(t, "wholesale", getNS(t, "sc-create").Annotations[space.AnnotationProject], "a server dry run stores nothing")
}

func TestCreateSpaceConvertsANamespace(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sc-convert", Labels: map[string]string{"team": "a"}}}
	require.NoError(t, k8s.Create(ctx, ns))
	deleteAfter(t, ns.Name)

	r := mustCLI(t, "create", "space", "sc-convert", "--domain", "example.com")
	assert.Equal(t, "space/sc-convert converted (namespace sc-convert is now a space)\n", r.out)
	ns = getNS(t, "sc-convert")
	assert.Equal(t, "a", ns.Labels["team"], "the namespace's own labels stay")
	assert.Equal(t, "sc-convert", ns.Labels[space.LabelSpace])
}

func TestCreateSpaceRefusesInvalidSettings(t *testing.T) {
	cluster.Need(t)
	r := cli(t, "", "create", "space", "sc-invalid", "--domain", "localhost", "--runtime-class", "Kata")
	assert.Equal(t, spacectl.ExitUsage, r.code, "%s", r)
	assert.Contains(t, r.errOut, `--domain: decco.io/domain "localhost": must be a lowercase DNS name`)
	assert.Contains(t, r.errOut, `--runtime-class: decco.io/runtime-class "Kata"`)
	err := k8s.Get(context.Background(), client.ObjectKey{Name: "sc-invalid"}, &corev1.Namespace{})
	assert.True(t, apierrors.IsNotFound(err), "nothing was created: %v", err)
}

// --wait gives up with exit 3 and says which part is stuck and why.
func TestCreateSpaceWaitTimesOutWithTheReason(t *testing.T) {
	cluster.Need(t)
	r := cli(t, "", "create", "space", "sc-stuck", "--domain", "example.com",
		"--issuer", "ClusterIssuer/no-such-issuer", "--wait", "--timeout", "8s")
	deleteAfter(t, "sc-stuck")
	assert.Equal(t, spacectl.ExitNotReady, r.code, "%s", r)
	assert.Equal(t, "space/sc-stuck created\n", r.out)
	assert.Contains(t, r.errOut, "waiting for space sc-stuck")
	assert.Contains(t, r.errOut, "error: timed out after 8s waiting for space sc-stuck: pki not ready:")
}

func TestGetSpaces(t *testing.T) {
	cluster.Need(t)
	createSpace(t, "sc-get", "--project", "retail")
	createDeployment(t, "sc-get", "web", true, httpPort)
	podsOf(t, "sc-get", "app=web", 1)

	r := mustCLI(t, "get", "spaces")
	assert.Equal(t, []string{"NAME", "DOMAIN", "PROJECT", "PKI", "POLICIES", "ROUTES", "DNS", "PODS", "AGE"}, strings.Fields(strings.Split(r.out, "\n")[0]))
	f := row(t, r.out, "sc-get")
	assert.Equal(t, []string{"sc-get", "example.com", "retail", "Ready", "Ready", "Ready", "Ready", "1/1"}, f[:8])

	// An upgraded installation: every pod's sidecar is now outdated.
	r = mustCLI(t, "get", "spaces", "sc-get", "--sidecar-image", "decco-sidecar:v2")
	assert.Equal(t, "0/1", row(t, r.out, "sc-get")[7])
	assert.Contains(t, r.out, "0/1 (1 outdated)")

	r = mustCLI(t, "get", "spaces", "sc-get", "-o", "json")
	var list struct {
		Kind  string                  `json:"kind"`
		Items []spacectl.SpaceSummary `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &list))
	require.Len(t, list.Items, 1)
	got := list.Items[0]
	assert.Equal(t, "sc-get", got.Name)
	assert.True(t, got.Ready, "%+v", got)
	assert.Equal(t, spacectl.PodCounts{Injected: 1}, got.Pods)

	r = cli(t, "", "get", "spaces", "sc-nope")
	assert.Equal(t, spacectl.ExitNotFound, r.code, "%s", r)
	assert.Contains(t, r.errOut, `space "sc-nope" not found`)
}

var httpPort = corev1.ContainerPort{Name: "http", ContainerPort: 8080}

// createDeployment makes a Deployment of one pod with port, labeled with
// the space when labeled.
func createDeployment(t *testing.T, ns, name string, labeled bool, port corev1.ContainerPort) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name}
	if labeled {
		labels[space.LabelSpace] = ns
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: name,
					Ports: []corev1.ContainerPort{port}}}},
			},
		},
	}
	require.NoError(t, k8s.Create(context.Background(), d))
	return d
}

// describe shows the parts, decco's objects, the exposed Services and the
// pods whose injection is missing (stored while decco's webhook was not
// registered) or outdated (an installation upgraded since).
func TestDescribeSpace(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sc-describe"}}
	require.NoError(t, k8s.Create(ctx, ns))
	deleteAfter(t, ns.Name)
	early := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "early", Labels: map[string]string{space.LabelSpace: ns.Name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app",
			Ports: []corev1.ContainerPort{{ContainerPort: 9000}}}}},
	}
	require.NoError(t, deccotest.WithoutMutatingWebhooks(ctx, k8s, func() error { return k8s.Create(ctx, early) }),
		"stored while decco's webhook was not registered: not injected")
	createSpace(t, ns.Name)
	createDeployment(t, ns.Name, "web", true, httpPort)
	podsOf(t, ns.Name, "app=web", 1)
	mustCLI(t, "expose", "deployment/web", "-n", ns.Name, "--http-path", "/shop", "--wait", "--timeout", "1m")

	r := mustCLI(t, "describe", "space", ns.Name)
	assert.NotContains(t, r.errOut, "warning", "the installation's sidecar settings were read from the webhook")
	out := r.out
	assert.Len(t, lines(out, "Host:", "sc-describe.example.com"), 1)
	for _, part := range space.Parts {
		f := row(t, out, part)
		assert.Equal(t, "true", f[1], "part %s: %s", part, strings.Join(f, " "))
	}
	assert.Len(t, lines(out, "Issuer", pki.CAIssuerName, "Ready"), 1, "the space CA Issuer is listed with its state")
	assert.Len(t, lines(out, "Certificate", pki.CACertificateName, "Ready"), 1)
	assert.NotEmpty(t, lines(out, "NetworkPolicy"))
	assert.Len(t, lines(out, "HTTPRoute", "decco-web", "Pending", "no gateway controller has accepted it yet"), 1)
	assert.Len(t, lines(out, "web", "HTTP https://sc-describe.example.com/shop", "HTTPRoute/decco-web"), 1, "the Service and the route that serves it")
	assert.Contains(t, out, "Pods:\n  1 injected, 1 missing, 0 outdated, 0 refused, 0 not injected (only injected pods are open to other pods)\n")
	assert.Len(t, lines(out, "early", "Missing", "closed to other pods", "recreate it"), 1)

	r = mustCLI(t, "describe", "space", ns.Name, "--sidecar-image", "decco-sidecar:v2", "-o", "json")
	var d spacectl.SpaceDescription
	require.NoError(t, json.Unmarshal([]byte(r.out), &d))
	assert.Equal(t, spacectl.PodCounts{Outdated: 1, Missing: 1}, d.Pods)
	var outdated []spacectl.PodInjection
	for _, p := range d.PodStates {
		if p.State == spacectl.PodOutdated {
			outdated = append(outdated, p)
		}
	}
	require.Len(t, outdated, 1)
	assert.Contains(t, outdated[0].Detail, "sidecar image is "+mgrOpts.Sidecar.Image+", the installation injects decco-sidecar:v2")

	r = cli(t, "", "describe", "space", "default")
	assert.Equal(t, spacectl.ExitNotFound, r.code, "%s", r)
	assert.Contains(t, r.errOut, "namespace default is not a space")
}

func TestExpose(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	createSpace(t, "sc-expose")
	createDeployment(t, "sc-expose", "web", true, httpPort)
	createDeployment(t, "sc-expose", "mysql", true, corev1.ContainerPort{ContainerPort: 3306})

	r := mustCLI(t, "expose", "deployment/web", "-n", "sc-expose", "--http-path", "/shop", "--wait", "--timeout", "1m")
	assert.Equal(t, "service/web created: exposed over HTTP at https://sc-expose.example.com/shop\n", r.out)
	assert.Contains(t, r.errOut, "service sc-expose/web: ready after")
	svc := &corev1.Service{}
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "sc-expose", Name: "web"}, svc))
	assert.Equal(t, "sc-expose", svc.Labels[space.LabelSpace])
	assert.Equal(t, "/shop", svc.Annotations[space.AnnotationHTTPPath])
	assert.Equal(t, intstr.FromString("http"), svc.Spec.Ports[0].TargetPort, "a named port: the sidecar took the name over")
	routes := &gatewayv1.HTTPRouteList{}
	require.NoError(t, k8s.List(ctx, routes, client.InNamespace("sc-expose")))
	require.Len(t, routes.Items, 1, "the reconciler made the route --wait waited for")

	r = mustCLI(t, "expose", "deploy", "mysql", "-n", "sc-expose", "--tcp", "--dns", "--wait", "--timeout", "1m")
	assert.Equal(t, "service/mysql created: exposed over TCP (TLS, by SNI) at mysql.sc-expose.example.com, with a DNS record\n", r.out)
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "sc-expose", Name: "mysql"}, svc))
	assert.Equal(t, "true", svc.Annotations[space.AnnotationDNS])
	assert.Equal(t, intstr.FromInt32(inject.ListenerPort(3306)), svc.Spec.Ports[0].TargetPort, "the webhook pointed the numeric port at the TLS listener")

	// Exposing the Service again over HTTP turns it into an HTTP route.
	r = mustCLI(t, "expose", "service/mysql", "-n", "sc-expose", "--http-path", "/db")
	assert.Equal(t, "service/mysql configured: exposed over HTTP at https://sc-expose.example.com/db, with a DNS record\n", r.out)

	createDeployment(t, "sc-expose", "plain", false, httpPort)
	r = cli(t, "", "expose", "deployment/plain", "-n", "sc-expose", "--tcp")
	assert.Equal(t, spacectl.ExitError, r.code, "%s", r)
	assert.Contains(t, r.errOut, "its pod template is not labeled decco.io/space=sc-expose")
	assert.Contains(t, r.errOut, "kubectl -n sc-expose patch deployment plain")

	r = cli(t, "", "expose", "deployment/ghost", "-n", "sc-expose", "--tcp")
	assert.Equal(t, spacectl.ExitNotFound, r.code, "%s", r)

	r = cli(t, "", "expose", "service/web", "-n", "sc-expose", "--http-path", "shop")
	assert.Equal(t, spacectl.ExitUsage, r.code, "%s", r)
	assert.Contains(t, r.errOut, `--http-path: decco.io/http-path "shop": must start with "/"`)
}

// cert client issues, through cert-manager, a client certificate that
// the space's CA verifies for client authentication.
func TestCertClient(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	createSpace(t, "sc-cert")
	dir := t.TempDir()
	out := filepath.Join(dir, "reporting")

	r := mustCLI(t, "cert", "client", "sc-cert", "reporting", "--out", out)
	assert.Contains(t, r.out, "certificate/client-reporting issued: CN=reporting")
	assert.Contains(t, r.out, "wrote "+filepath.Join(out, "tls.crt")+" (0644), "+filepath.Join(out, "tls.key")+" (0600), "+filepath.Join(out, "ca.crt")+" (0644)")
	assert.Contains(t, r.errOut, "certificate sc-cert/client-reporting: ready after")

	st, err := os.Stat(filepath.Join(out, "tls.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	leaf := readCert(t, filepath.Join(out, "tls.crt"))
	assert.Equal(t, "reporting", leaf.Subject.CommonName)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, leaf.ExtKeyUsage)
	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(out, "ca.crt"))
	require.NoError(t, err)
	require.True(t, roots.AppendCertsFromPEM(caPEM))
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err, "the space CA verifies the client certificate")

	caSecret := &corev1.Secret{}
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: "sc-cert", Name: space.CASecretName}, caSecret))
	assert.Equal(t, string(caSecret.Data[corev1.TLSCertKey]), string(caPEM), "ca.crt is the space's own CA")

	r = cli(t, "", "cert", "client", "sc-cert", "reporting", "--out", out)
	assert.Equal(t, spacectl.ExitUsage, r.code, "%s", r)
	assert.Contains(t, r.errOut, "pass --overwrite")
	mustCLI(t, "cert", "client", "sc-cert", "reporting", "--out", out, "--overwrite")

	r = cli(t, "", "cert", "client", "sc-nope", "reporting", "--out", out)
	assert.Equal(t, spacectl.ExitNotFound, r.code, "%s", r)
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	block, _ := pem.Decode(b)
	require.NotNil(t, block)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

// doctor passes on the test installation and names what is wrong, with
// the fix, when something is.
func TestDoctor(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	createSpace(t, "sc-doctor")
	root := &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "sc-doctor-root"},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}}}
	require.NoError(t, k8s.Create(ctx, root))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), root) })
	eventually(t, time.Minute, "ClusterIssuer ready", func() error {
		require.NoError(t, k8s.Get(ctx, client.ObjectKeyFromObject(root), root))
		for _, c := range root.Status.Conditions {
			if c.Type == cmapi.IssuerConditionReady && c.Status == cmmeta.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", root.Status.Conditions)
	})

	var r result
	// Spaces other tests left behind may still be on their way out.
	eventually(t, 90*time.Second, "doctor passes", func() error {
		r = cli(t, "", "doctor", "--issuer", "ClusterIssuer/sc-doctor-root", "--space", "sc-doctor")
		if r.code != spacectl.ExitOK {
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	for _, check := range []string{"webhook-registered", "webhook-reachable", "cert-manager", "issuer", "space-cas", "gateway-api", "leader"} {
		assert.Len(t, lines(r.out, "OK", " "+check+" "), 1, "check %s", check)
	}
	assert.Len(t, lines(r.out, "webhook-reachable", "a dry-run pod in space sc-doctor came back injected"), 1)
	assert.Len(t, lines(r.out, "leader", "Lease decco-system/decco-reconciler held by"), 1)

	r = cli(t, "", "doctor", "--issuer", "ClusterIssuer/missing", "--system-namespace", "elsewhere", "-o", "json")
	assert.Equal(t, spacectl.ExitNotReady, r.code, "%s", r)
	var rep spacectl.DoctorReport
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
	assert.False(t, rep.OK)
	byName := map[string]spacectl.Check{}
	for _, c := range rep.Checks {
		byName[c.Name] = c
	}
	assert.Equal(t, spacectl.CheckFail, byName["issuer"].Status)
	assert.Contains(t, byName["issuer"].Detail, "ClusterIssuer missing not found")
	assert.Contains(t, byName["issuer"].Fix, "create ClusterIssuer/missing")
	assert.Equal(t, spacectl.CheckFail, byName["leader"].Status)
	assert.Contains(t, byName["leader"].Fix, "kubectl -n elsewhere get pods")
	assert.Equal(t, spacectl.CheckOK, byName["webhook-registered"].Status)

	// The Lease is looked for in --leader-election-namespace when given,
	// as the manager keeps it there.
	r = cli(t, "", "doctor", "--system-namespace", "elsewhere", "--leader-election-namespace", install.SystemNamespace)
	assert.Len(t, lines(r.out, "OK", "leader", "Lease decco-system/decco-reconciler held by"), 1, "%s", r)
	r = cli(t, "", "doctor", "--leader-election-namespace", "elsewhere")
	assert.Len(t, lines(r.out, "FAIL", "leader", "no Lease elsewhere/decco-reconciler"), 1, "%s", r)
	assert.Len(t, lines(r.out, "fix:", "kubectl -n decco-system get pods"), 1, "%s", r)

	// Only the issuer fails once spaces other tests left behind settle.
	eventually(t, 90*time.Second, "doctor fails on the issuer alone", func() error {
		r = cli(t, "", "doctor", "--issuer", "ClusterIssuer/missing")
		if !strings.Contains(r.errOut, "error: 1 of 7 checks failed") {
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	assert.Equal(t, spacectl.ExitNotReady, r.code)
	assert.Len(t, lines(r.out, "FAIL", "issuer", "not found"), 1)
	assert.Len(t, lines(r.out, "fix: create ClusterIssuer/missing"), 1)
	assert.Contains(t, r.errOut, "error: 1 of 7 checks failed", "%s", r)
}

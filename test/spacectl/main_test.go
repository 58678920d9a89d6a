// Package spacectl_test runs spacectl against the real local control plane
// with decco's manager (webhook and reconciler) and cert-manager's
// controllers running: each command is run through its cobra root
// in-process, and once as the built binary, and the tests assert on what
// it printed, its exit code, and the objects it changed.
package spacectl_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/install"
	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/spacectl"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/testkit"
)

var (
	cluster *controlplane.Cluster
	k8s     client.Client
	// mgrOpts are the options the manager under test runs with.
	mgrOpts manager.Options
)

// dnsTarget is where the reconciler points DNS records: there is no
// load balancer to give the Gateway an address.
const dnsTarget = "192.0.2.10"

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(&withManager{m}, &cluster, controlplane.Options{WithCertManager: true}))
}

// withManager starts decco's manager, leader-elected as in production, once
// the cluster is up.
type withManager struct{ m *testing.M }

func (w *withManager) Run() int {
	if cluster == nil {
		return w.m.Run()
	}
	k8s = cluster.Client
	ctx := context.Background()
	sys := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: install.SystemNamespace}}
	if err := k8s.Create(ctx, sys); err != nil && !apierrors.IsAlreadyExists(err) {
		fmt.Fprintf(os.Stderr, "creating %s: %v\n", sys.Name, err)
		return 1
	}
	mgr, err := deccotest.StartManager(ctx, cluster.Config, cluster.Client, func(o *manager.Options) {
		o.LeaderElect = true
		o.Reconciler.DNSTargets = []string{dnsTarget}
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting decco's manager: %v\n", err)
		return 1
	}
	defer mgr.Stop()
	mgrOpts = mgr.Options
	return w.m.Run()
}

// result is what a spacectl run did.
type result struct {
	code        int
	out, errOut string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.out, r.errOut)
}

// cli runs spacectl in-process against the test cluster, with stdin.
func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	streams, in, out, errOut := genericiooptions.NewTestIOStreams()
	in.WriteString(stdin)
	args = append([]string{"spacectl", "--kubeconfig", cluster.Kubeconfig}, args...)
	code := spacectl.Run(context.Background(), args, streams)
	r := result{code: code, out: out.String(), errOut: errOut.String()}
	t.Logf("$ %s\n%s", strings.Join(args[3:], " "), r)
	return r
}

// mustCLI runs spacectl and requires exit 0.
func mustCLI(t *testing.T, args ...string) result {
	t.Helper()
	r := cli(t, "", args...)
	require.Equal(t, spacectl.ExitOK, r.code, "%s", r)
	return r
}

// sidecarImage is the flag that tells spacectl the manager's image.
func sidecarImage() string { return "--sidecar-image=" + mgrOpts.Sidecar.Image }

// createSpace makes a space with spacectl and waits until it is ready, and
// deletes it after the test.
func createSpace(t *testing.T, name string, extra ...string) {
	t.Helper()
	args := append([]string{"create", "space", name, "--domain", "example.com", "--wait", "--timeout", "2m"}, extra...)
	mustCLI(t, args...)
	deleteAfter(t, name)
}

func deleteAfter(t *testing.T, ns string) {
	t.Cleanup(func() {
		_ = k8s.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
}

// eventually polls f until it returns nil or the timeout passes.
var eventually = testkit.WaitFor

// podsOf waits for n pods matching selector in ns.
func podsOf(t *testing.T, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	sel, err := metav1.ParseToLabelSelector(selector)
	require.NoError(t, err)
	s, err := metav1.LabelSelectorAsSelector(sel)
	require.NoError(t, err)
	var pods []corev1.Pod
	eventually(t, 90*time.Second, "pods "+selector+" in "+ns, func() error {
		list := &corev1.PodList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: s}); err != nil {
			return err
		}
		if len(list.Items) < n {
			return fmt.Errorf("%d of %d pods", len(list.Items), n)
		}
		pods = list.Items
		return nil
	})
	return pods
}

// lines returns the lines of out that contain every word.
func lines(out string, words ...string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			got = append(got, l)
		}
	}
	return got
}

// fields of the one line of out whose first field is first.
func row(t *testing.T, out, first string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == first {
			return f
		}
	}
	t.Fatalf("no line starting with %q in:\n%s", first, out)
	return nil
}

// Package compat applies the corpus of public Helm charts in
// test/testdata/charts through the real apiserver with decco's webhook and
// writes what happened to each, chart by chart, into
// docs/compatibility.md: its pods, the ports carried over TLS, and whether
// it works unmodified or what was refused and why.
//
// The data plane is a parameter: DECCO_DATAPLANE names one of
// dataplanes (default "ports"), and each writes its own table.
package compat

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
)

var cluster *controlplane.Cluster

// dataplane is the data plane under test, and how the manager runs it.
type dataplane struct {
	name string
	// doc is the table it writes, relative to the repository root.
	doc string
	// tune sets the manager's options for this data plane.
	tune func(*manager.Options)
	// direct says whether a connection from another pod to pod's address
	// on port (as peers of a StatefulSet dial each other through a
	// headless Service's DNS names) reaches TLS, and where it lands.
	direct func(pod *corev1.Pod, port int32) (tls bool, where string)
	// land says where a Service port lands on the pods it selects.
	land func(p corev1.ServicePort, pods []corev1.Pod) string
	// mismatches reports Service targets no pod declares, which only
	// the ports data plane leaves without TLS.
	mismatches bool
}

// dataplanes are the data planes a table can be made for.
var dataplanes = map[string]dataplane{
	"ports": {name: "ports", doc: "docs/compatibility.md", tune: func(*manager.Options) {}, direct: listenerByNumber, land: landing, mismatches: true},
	"cni":   {name: "cni", doc: "docs/compatibility-cni.md", tune: transparentInterception, direct: intercepted, land: landingIntercepted},
}

// transparentInterception runs the manager in cni mode over envtest's
// Service range and a pod range no pod here uses (the table is made
// without a node; test/e2e/cninode runs the same mode on one).
func transparentInterception(o *manager.Options) {
	o.Sidecar.Interception = string(inject.InterceptCNI)
	o.Sidecar.PodCIDRs = []string{"10.244.0.0/16"}
	o.Sidecar.ServiceCIDRs = []string{"10.0.0.0/24"}
	o.Sidecar.InterceptionExcludeCIDRs = []string{"10.0.0.1/32"}
}

// intercepted is where the cni data plane takes a connection to a pod's
// address: every TCP port of an injected pod is redirected to the
// sidecar's TLS server, declared or not, except its plaintext ports.
func intercepted(pod *corev1.Pod, port int32) (bool, string) {
	if _, ok := pod.Annotations[space.AnnotationInterception]; !ok {
		return false, "no sidecar: not intercepted"
	}
	plan, err := intercept.Parse(pod.Annotations[space.AnnotationInterception])
	if err != nil {
		return false, "unreadable interception plan"
	}
	if slices.Contains(plan.Inbound.Exclude, port) {
		return false, "a plaintext port (decco.io/plaintext-ports)"
	}
	return true, "TLS (intercepted on its own number)"
}

// listenerByNumber is where the ports data plane takes a connection to a
// pod's address: to whatever container declares the port's number. The
// TLS listener of app port p is p+10000, so a peer dialing p reaches the
// app's plaintext port: closed by decco's policy, or open in plaintext
// where another NetworkPolicy admits it.
func listenerByNumber(pod *corev1.Pod, port int32) (bool, string) {
	c, _, ok := space.TargetedBy(pod, corev1.ServicePort{Port: port})
	switch {
	case !ok:
		return false, "nothing declared"
	case c == inject.SidecarName:
		return true, "TLS listener"
	}
	return false, "the app's plaintext port, not TLS (closed by decco's policy unless another NetworkPolicy opens it)"
}

// current is the data plane DECCO_DATAPLANE names.
func current() (dataplane, error) {
	name := os.Getenv("DECCO_DATAPLANE")
	if name == "" {
		name = "ports"
	}
	dp, ok := dataplanes[name]
	if !ok {
		return dp, fmt.Errorf("DECCO_DATAPLANE=%q: no such data plane; want one of %v", name, keys(dataplanes))
	}
	return dp, nil
}

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(&withManager{m}, &cluster, controlplane.Options{WithCertManager: true}))
}

type withManager struct{ m *testing.M }

func (w *withManager) Run() int {
	if cluster == nil {
		return w.m.Run()
	}
	if os.Getenv("DECCO_TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	}
	dp, err := current()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := deccotest.StartManager(context.Background(), cluster.Config, cluster.Client, func(o *manager.Options) {
		// Pod Security as installations run it by default: the table
		// says what a user of the chart meets.
		o.Reconciler.PodSecurityLevel = reconciler.PodSecurityRestricted
		dp.tune(o)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting decco's manager: %v\n", err)
		return 1
	}
	defer mgr.Stop()
	return w.m.Run()
}

// landingIntercepted is landing for the cni data plane: a Service port
// lands on its target's number, which the interception serves over TLS
// on every injected pod, declared or not.
func landingIntercepted(p corev1.ServicePort, pods []corev1.Pod) string {
	if p.Protocol == corev1.ProtocolUDP {
		return "UDP, not carried by decco"
	}
	if len(pods) == 0 {
		return "no pod selected"
	}
	plain, unresolved := 0, 0
	var port int32
	for i := range pods {
		n, ok := targetNumber(&pods[i], p)
		if !ok {
			unresolved++
			continue
		}
		port = n
		if tls, _ := intercepted(&pods[i], n); !tls {
			plain++
		}
	}
	switch {
	case unresolved == len(pods):
		return "no pod declares the named target"
	case plain == 0 && unresolved == 0:
		return fmt.Sprintf("TLS on port %d (intercepted)", port)
	case plain == len(pods):
		return fmt.Sprintf("plaintext app port %d", port)
	}
	return fmt.Sprintf("TLS on some pods, not on %d of %d", plain+unresolved, len(pods))
}

// targetNumber is the port number a Service port's target means on pod:
// a number as written (the Service's port when absent), a name resolved
// against the pod's containers.
func targetNumber(pod *corev1.Pod, p corev1.ServicePort) (int32, bool) {
	if p.TargetPort.Type == intstr.Int {
		if p.TargetPort.IntVal == 0 {
			return p.Port, true
		}
		return p.TargetPort.IntVal, true
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == p.TargetPort.StrVal {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

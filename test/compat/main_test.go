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
	"testing"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/decco-dev/decco/inject"
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
}

// dataplanes are the data planes a table can be made for. The transparent
// ("cni") data plane joins this list when it lands.
var dataplanes = map[string]dataplane{
	"ports": {name: "ports", doc: "docs/compatibility.md", tune: func(*manager.Options) {}, direct: listenerByNumber},
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

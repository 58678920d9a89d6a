// Command demo runs decco on a local control plane: it starts etcd,
// kube-apiserver and kube-controller-manager, runs the decco manager binary
// against them, applies examples/, and prints what decco did. Everything
// stops when it exits. `make demo` runs it.
//
// On a machine that can host a node (Linux, root: see test/node) it shows
// running pods instead: the node joins, the chart installs decco, Traefik
// runs as the gateway, the examples run with test images, and one HTTPS
// request and one MySQL-style exchange over mutual TLS go through the
// gateway.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node"
)

func main() {
	keep := flag.Bool("keep", false, "keep running after printing, until Ctrl-C (use the printed KUBECONFIG meanwhile)")
	flag.Parse()
	// envtest logs through controller-runtime; without a logger,
	// controller-runtime prints a warning with a stack trace on the
	// newcomer's first screen. Only errors are worth showing here: the
	// demo says what happens itself.
	log.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, keep bool) error {
	if err := node.CanHost(); err != nil {
		say("No running pods in this demo: %v.", err)
		say("Showing decco on a control plane alone instead: pods are admitted and injected, not run.\n")
	} else {
		return runOnNode(ctx, keep)
	}
	start := time.Now()
	say("Starting a local control plane (Kubernetes %s: etcd, kube-apiserver, kube-controller-manager, cert-manager %s).",
		controlplane.KubeVersion, controlplane.CertManagerVersion)
	say("The first run builds them from the Go module proxy: %s on 2 cores. Later runs take seconds.", controlplane.ColdBuildTime)
	cluster, err := controlplane.Start(ctx, controlplane.Options{Out: indent{os.Stdout}, WithCertManager: true})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	say("✓ control plane up in %s", since(start))

	// A shared Gateway for the spaces' routes. No gateway controller runs
	// here, so the demo reports its address itself; it only ever ends up
	// in DNS records.
	if err := deccotest.Gateway(ctx, cluster.Client, gatewayNamespace, gatewayName, gatewayAddress); err != nil {
		return err
	}
	mgr, err := startManager(ctx, cluster)
	if err != nil {
		return err
	}
	defer mgr.stop()
	say("✓ decco manager running (pid %d), webhook registered with the apiserver", mgr.cmd.Process.Pid)

	objs, err := deccotest.ReadManifests(filepath.Join(controlplane.RepoRoot(), "examples"))
	if err != nil {
		return err
	}
	if err := deccotest.Apply(ctx, cluster.Client, "", objs); err != nil {
		return err
	}
	var applied []string
	for _, o := range objs {
		applied = append(applied, strings.ToLower(o.GetKind())+"/"+o.GetName())
	}
	say("✓ applied examples/: %s", strings.Join(applied, ", "))
	if err := report(ctx, cluster, os.Stdout); err != nil {
		return err
	}
	if keep {
		say("\nStill running. KUBECONFIG=%s  (Ctrl-C stops everything)", cluster.Kubeconfig)
		<-ctx.Done()
	}
	return nil
}

// manager is the decco binary running against the cluster.
type manager struct {
	cmd *exec.Cmd
	log string
}

func startManager(ctx context.Context, cluster *controlplane.Cluster) (*manager, error) {
	bin := filepath.Join(cluster.Dir, "decco")
	say("Building the decco manager (cmd/decco).")
	started := time.Now()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/decco")
	build.Dir = controlplane.RepoRoot()
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building cmd/decco: %w", err)
	}
	say("✓ decco manager built in %s", since(started))
	certDir := filepath.Join(cluster.Dir, "webhook-tls")
	ca, err := deccotest.ServingCert(certDir)
	if err != nil {
		return nil, err
	}
	port, err := deccotest.FreePort()
	if err != nil {
		return nil, err
	}
	m := &manager{log: filepath.Join(cluster.Dir, "decco.log")}
	logFile, err := os.Create(m.log)
	if err != nil {
		return nil, err
	}
	m.cmd = exec.Command(bin,
		"--kubeconfig="+cluster.Kubeconfig,
		"--webhook-host=127.0.0.1",
		"--webhook-port="+strconv.Itoa(port),
		"--webhook-cert-dir="+certDir,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
		"--leader-elect=true",
		"--leader-election-namespace=default",
		"--gateway="+gatewayNamespace+"/"+gatewayName,
		"--sidecar-image=ghcr.io/decco-dev/decco-sidecar:demo",
	)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting decco: %w", err)
	}
	if err := deccotest.RegisterWebhooks(ctx, cluster.Client, deccotest.WebhookURL(port), ca, "decco-system"); err != nil {
		m.stop()
		return nil, fmt.Errorf("%w\ndecco's log:\n%s", err, m.tail())
	}
	return m, nil
}

func (m *manager) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- m.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
	}
}

func (m *manager) tail() string {
	b, _ := os.ReadFile(m.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

const (
	gatewayNamespace = "gateway"
	gatewayName      = "public"
	gatewayAddress   = "203.0.113.10"
)

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// indent prefixes build progress so it reads as part of a step.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	lines := strings.SplitAfter(string(p), "\n")
	for _, l := range lines {
		if l == "" {
			continue
		}
		if _, err := io.WriteString(i.w, "  │ "+l); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Scheme knows the built-in kinds and the CRD kinds the cluster installs.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(Scheme))
	utilruntime.Must(certmanagerv1.AddToScheme(Scheme))
	utilruntime.Must(gatewayv1.Install(Scheme))
}

// Options tune Start. The zero value is a full cluster with progress on
// stderr.
type Options struct {
	// Out receives build progress and start-up messages.
	Out io.Writer
	// WithoutControllerManager starts only etcd and kube-apiserver.
	WithoutControllerManager bool
	// APIServerArgs are extra kube-apiserver flags (name without dashes).
	APIServerArgs map[string][]string
	// WithCertManager also runs cert-manager's controllers (CA and
	// SelfSigned issuers; see certmanager.go).
	WithCertManager bool
	// WithScheduler also runs kube-scheduler, so Pods are bound to a node
	// (see test/node); without a node they would stay Pending anyway.
	WithScheduler bool
	// APIServerAddress, if set, is where the apiserver serves and
	// advertises instead of 127.0.0.1: a test node's address, so its pods
	// reach the apiserver through the kubernetes Service.
	APIServerAddress string
}

// Cluster is a running control plane.
type Cluster struct {
	// Config talks to the apiserver as cluster-admin.
	Config *rest.Config
	// Client is a controller-runtime client using Scheme.
	Client client.Client
	// Kubeconfig is the path of a kubeconfig file for Config.
	Kubeconfig string
	// Dir holds the kubeconfig and component logs; removed by Stop.
	Dir string

	env         *envtest.Environment
	kcm         *exec.Cmd
	scheduler   *exec.Cmd
	certManager *exec.Cmd
	// certDir is the apiserver's certificate directory when Start made it
	// (APIServerAddress); removed by Stop.
	certDir string
	out     io.Writer
}

// Start builds the binaries if needed, then starts etcd, kube-apiserver and
// (unless disabled) kube-controller-manager, and installs decco's CRDs. The
// caller must call Stop, which also runs if Start fails half-way.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Out == nil {
		opts.Out = os.Stderr
	}
	reapStale(opts.Out)
	bin, err := EnsureBinaries(ctx, opts.Out)
	if err != nil {
		return nil, err
	}
	var certManagerBin string
	if opts.WithCertManager {
		if certManagerBin, err = EnsureCertManager(ctx, opts.Out); err != nil {
			return nil, err
		}
	}
	crds, err := CRDs(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "decco-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, out: opts.Out, env: newEnv(bin, crds, opts)}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if opts.APIServerAddress != "" {
		if c.certDir, err = serveOn(c.env, opts.APIServerAddress); err != nil {
			return nil, err
		}
	}
	if c.Config, err = c.env.Start(); err != nil {
		return nil, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	record(c)
	if c.Client, err = client.New(c.Config, client.Options{Scheme: Scheme}); err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, c.env.KubeConfig, 0o600); err != nil {
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	if !opts.WithoutControllerManager {
		if err := c.startControllerManager(ctx, bin); err != nil {
			return nil, err
		}
	}
	if opts.WithScheduler {
		if c.scheduler, err = c.startComponent(filepath.Join(bin, "kube-scheduler"),
			"--kubeconfig="+c.Kubeconfig,
			"--leader-elect=false",
			"--secure-port=0",
			"--kube-api-qps=500",
			"--kube-api-burst=1000",
			"--v=1",
		); err != nil {
			return nil, err
		}
	}
	if opts.WithCertManager {
		if err := c.startCertManager(ctx, certManagerBin); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func newEnv(bin string, crds []*apiextensionsv1.CustomResourceDefinition, opts Options) *envtest.Environment {
	env := &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		CRDs:                     crds,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	api := env.ControlPlane.GetAPIServer()
	args := api.Configure()
	for name, values := range opts.APIServerArgs {
		args.Set(name, values...)
	}
	return env
}

// startControllerManager runs kube-controller-manager against the cluster
// so Deployments become ReplicaSets become Pods. Without a node (test/node)
// Pods stay Pending, which is all admission tests need.
func (c *Cluster) startControllerManager(ctx context.Context, bin string) error {
	certDir := c.env.ControlPlane.GetAPIServer().CertDir
	var err error
	c.kcm, err = c.startComponent(filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=*",
		"--service-account-private-key-file="+filepath.Join(certDir, "sa-signer.key"),
		"--kube-api-qps=500",
		"--kube-api-burst=1000",
		"--concurrent-replicaset-syncs=10",
		"--v=1",
	)
	return err
}

// startComponent runs a control-plane command in its own process group,
// logging to <name>.log in the cluster directory.
func (c *Cluster) startComponent(path string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(path, args...)
	if _, err := StartGroup(cmd, filepath.Join(c.Dir, filepath.Base(path)+".log")); err != nil {
		return nil, err
	}
	return cmd, nil
}

// StartGroup starts cmd in a process group of its own, so StopGroup (or a
// later reap) can end it and anything it started in one signal, and killed
// with its parent, with stdout and stderr appended to logPath. The returned
// channel is closed when the process has exited. test/node starts its
// daemons with it too.
func StartGroup(cmd *exec.Cmd, logPath string) (<-chan struct{}, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", filepath.Base(cmd.Path), err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(exited) }()
	return exited, nil
}

// Stop ends every process Start began and removes the cluster's files. It
// is safe to call more than once.
func (c *Cluster) Stop() error {
	var errs []error
	c.stopCertManager()
	StopGroup(c.scheduler)
	c.scheduler = nil
	StopGroup(c.kcm)
	c.kcm = nil
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping etcd and kube-apiserver: %w", err))
		}
		c.env = nil
	}
	forget(c)
	if c.certDir != "" {
		errs = append(errs, os.RemoveAll(c.certDir))
		c.certDir = ""
	}
	if c.Dir != "" {
		errs = append(errs, os.RemoveAll(c.Dir))
		c.Dir = ""
	}
	return errors.Join(errs...)
}

// StopGroup ends a process started in a group of its own (Setpgid) and
// the group: SIGTERM, then SIGKILL after 10 s. test/node stops its
// daemons with it too.
func StopGroup(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	waitGone(cmd.Process.Pid, 10*time.Second)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// ControllerManagerLog returns what kube-controller-manager has logged, for
// test failure messages.
func (c *Cluster) ControllerManagerLog() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "kube-controller-manager.log"))
	return string(b)
}

// waitGone polls until pid has exited or timeout passes.
func waitGone(pid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

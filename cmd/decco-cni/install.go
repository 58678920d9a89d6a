package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	"k8s.io/client-go/rest"

	"github.com/decco-dev/decco/cniinstall"
)

// installFlags are the flags of `decco-cni install` and `decco-cni check`.
type installFlags struct{ cniinstall.Options }

func parseInstallFlags(cmd string, args []string) (installFlags, error) {
	o, err := cniinstall.Parse(cmd, args)
	return installFlags{o}, err
}

// serviceAccountDir is where a pod's ServiceAccount token and CA are
// mounted.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount/"

// config reads the installer's Config afresh: the running executable is
// the plugin, and in a pod the kubeconfig carries the pod's current
// ServiceAccount token, which the kubelet rotates.
func (f installFlags) config() (cniinstall.Config, error) {
	self, err := os.Executable()
	if err != nil {
		return cniinstall.Config{}, fmt.Errorf("finding the plugin binary: %w", err)
	}
	c := cniinstall.Config{Plugin: self, BinDir: f.BinDir, ConfDir: f.ConfDir, HostConfDir: f.HostConfDir}
	rc, err := rest.InClusterConfig()
	if errors.Is(err, rest.ErrNotInCluster) {
		return c, nil // no pod to read credentials from: the plugin relies on the runtime's annotations
	}
	if err != nil {
		return c, err
	}
	token, err := os.ReadFile(serviceAccountDir + "token")
	if err != nil {
		return c, fmt.Errorf("reading the ServiceAccount token for the plugin: %w", err)
	}
	ca, err := os.ReadFile(serviceAccountDir + "ca.crt")
	if err != nil {
		return c, fmt.Errorf("reading the cluster CA for the plugin: %w", err)
	}
	c.Kubeconfig, err = cniinstall.Kubeconfig(rc.Host, ca, token)
	return c, err
}

// runInstall is `decco-cni install`: install, keep installed until
// SIGTERM, then take decco out of the chain if the DaemonSet is gone.
func runInstall(args []string) int {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	f, err := parseInstallFlags("install", args)
	if err != nil {
		log.Error("bad arguments", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := cniinstall.Run(ctx, f.config, f.Resync, log); err != nil {
		log.Error("installing decco-cni", "err", err)
		return 1
	}
	remove, why := f.removal()
	log.Info("terminating", "remove", remove, "reason", why)
	if !remove {
		return 0
	}
	c, err := f.config()
	if err != nil {
		log.Error("taking decco out of the chain", "err", err)
		return 1
	}
	changes, err := cniinstall.Uninstall(c)
	for _, ch := range changes {
		log.Info("uninstalled", "change", ch)
	}
	if err != nil {
		log.Error("taking decco out of the chain", "err", err)
		return 1
	}
	return 0
}

// removal reads the DaemonSet to tell an uninstall from an update.
func (f installFlags) removal() (bool, string) {
	if f.DaemonSet == "" {
		return false, "no --daemonset: keeping decco chained"
	}
	rc, err := rest.InClusterConfig()
	if err != nil {
		return cniinstall.Removal(nil, err)
	}
	rc.Timeout = 5 * time.Second
	apps, err := appsv1client.NewForConfig(rc)
	if err != nil {
		return cniinstall.Removal(nil, err)
	}
	ns, name, _ := strings.Cut(f.DaemonSet, "/")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := apps.DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	return cniinstall.Removal(ds, err)
}

// runCheck is `decco-cni check`, the installer's readiness probe: exit 0
// once decco is chained into the primary configuration.
func runCheck(args []string) int {
	f, err := parseInstallFlags("check", args)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c, err := f.config()
	if err == nil {
		err = cniinstall.Check(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "not ready:", err)
		return 1
	}
	return 0
}

// Command decco is the decco manager: the admission webhook that injects
// TLS sidecars into a space's pods, and the reconciler that turns space
// namespaces into PKI, NetworkPolicies, routes and DNS records.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/decco-dev/decco/manager"
)

func main() {
	opts := manager.DefaultOptions()
	logOpts := zap.Options{}
	fs := pflag.NewFlagSet("decco", pflag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "decco runs the decco admission webhook and space reconciler.\n\nUsage:\n  decco [flags]\n\nFlags:\n%s", fs.FlagUsages())
	}
	opts.BindFlags(fs)
	goFlags := flag.NewFlagSet("", flag.ContinueOnError)
	logOpts.BindFlags(goFlags)
	config.RegisterFlags(goFlags)
	fs.AddGoFlagSet(goFlags)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&logOpts)))
	log := ctrl.Log.WithName("setup")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "no Kubernetes configuration: run in a cluster or pass --kubeconfig")
		os.Exit(1)
	}
	// SIGTERM first fails readiness and keeps serving for
	// --shutdown-delay, then stops gracefully (manager/shutdown.go).
	drain := manager.NewDrain(opts.Shutdown.Delay, ctrl.Log.WithName("shutdown"))
	ctx := drain.SignalContext(context.Background())
	mgr, err := manager.New(ctx, cfg, opts)
	if err != nil {
		log.Error(err, "invalid configuration")
		os.Exit(2)
	}
	if err := mgr.AddReadyzCheck("shutdown", drain.Checker()); err != nil {
		log.Error(err, "adding the shutdown readiness check")
		os.Exit(1)
	}
	log.Info("starting", "webhook", opts.EnableWebhook, "reconciler", opts.EnableReconciler)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

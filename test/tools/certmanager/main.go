// Command certmanager runs cert-manager's own controllers, built from its Go
// module, against a cluster: only those the CA and SelfSigned issuer paths
// need, so decco's tests get real issuance without cert-manager's ACME,
// Vault and cloud-DNS code. cert-manager's cmd/controller is a separate
// module the Go proxy does not serve, so this is a small replacement for it:
// no leader election, no webhook, no metrics server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"

	"k8s.io/klog/v2"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// Each controller package registers itself with controllerpkg on
	// import; each issuer package registers its issuer type.
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// controllers is what the CA and SelfSigned issuer paths need, by the
// names the packages above register.
var controllers = []string{
	"issuers",
	"clusterissuers",
	"certificaterequests-approver",
	"certificaterequests-issuer-ca",
	"certificaterequests-issuer-selfsigned",
	"certificates-trigger",
	"certificates-key-manager",
	"certificates-request-manager",
	"certificates-issuing",
	"certificates-readiness",
	"certificates-revision-manager",
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster to run against (required)")
	clusterNS := flag.String("cluster-resource-namespace", "cert-manager",
		"namespace holding the Secrets ClusterIssuers refer to (a CA ClusterIssuer's secretName)")
	workers := flag.Int("workers", 5, "workers per controller")
	klog.InitFlags(flag.CommandLine)
	flag.Parse()
	logf.InitLogs()
	if *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "certmanager: --kubeconfig is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, klog.Background(), "cert-manager")
	if err := run(ctx, *kubeconfig, *clusterNS, *workers); err != nil {
		fmt.Fprintf(os.Stderr, "certmanager: %v\n", err)
		os.Exit(1)
	}
}

// run builds every controller first (each registers its informers), then
// starts the shared informer factories, then runs the controllers until
// ctx ends; that order is what cert-manager's own controller command uses.
func run(ctx context.Context, kubeconfig, clusterNS string, workers int) error {
	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   100,
		KubernetesAPIBurst: 200,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: clusterNS},
		CertificateOptions: controllerpkg.CertificateOptions{
			// Secrets are owned by their Certificate, so deleting decco's
			// Certificates (or the namespace) removes what they issued.
			EnableOwnerRef: true,
		},
	})
	if err != nil {
		return fmt.Errorf("building the controller context from %s: %w", kubeconfig, err)
	}
	known := controllerpkg.Known()
	var ifaces []namedController
	for _, name := range controllers {
		construct, ok := known[name]
		if !ok {
			return fmt.Errorf("controller %q is not registered (known: %v)", name, keys(known))
		}
		iface, err := construct(factory)
		if err != nil {
			return fmt.Errorf("constructing controller %q: %w", name, err)
		}
		ifaces = append(ifaces, namedController{name, iface})
	}
	// Build with no component returns the shared root context whose
	// informer factories every controller registered with.
	root, err := factory.Build()
	if err != nil {
		return fmt.Errorf("building the root context: %w", err)
	}
	root.KubeSharedInformerFactory.Start(ctx.Done())
	root.SharedInformerFactory.Start(ctx.Done())

	var wg sync.WaitGroup
	defer wg.Wait()
	errs := make([]error, len(ifaces))
	for i, c := range ifaces {
		wg.Go(func() {
			if err := c.iface.Run(workers, ctx); err != nil {
				errs[i] = fmt.Errorf("controller %q: %w", c.name, err)
			}
		})
	}
	if err := synced(ctx, root); err != nil {
		return err
	}
	// The test harness waits for this line: from here on, objects created
	// are seen and issued.
	klog.InfoS(ReadyMessage, "controllers", controllers, "clusterResourceNamespace", clusterNS)
	wg.Wait()
	return errors.Join(errs...)
}

// ReadyMessage is logged once every informer cache has synced.
const ReadyMessage = "cert-manager controllers ready"

// synced waits for the shared informer caches the controllers read from.
func synced(ctx context.Context, root *controllerpkg.Context) error {
	for name, ok := range root.KubeSharedInformerFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("syncing the %s informer cache: %w", name, ctx.Err())
		}
	}
	for typ, ok := range root.SharedInformerFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("syncing the %v informer cache: %w", typ, ctx.Err())
		}
	}
	return nil
}

type namedController struct {
	name  string
	iface controllerpkg.Interface
}

func keys(m map[string]controllerpkg.Constructor) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

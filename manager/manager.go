package manager

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/webhook"
)

// Scheme holds every kind the manager reads or writes.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(certmanagerv1.AddToScheme(Scheme))
	utilruntime.Must(gatewayv1.Install(Scheme))
}

// LeaderElectionID names the reconciler's Lease.
const LeaderElectionID = "decco-reconciler"

// New builds a manager running what opts enable. Start it with Start.
func New(ctx context.Context, cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = opts.KubeAPIQPS, opts.KubeAPIBurst
	mgr, err := ctrl.NewManager(cfg, managerOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if opts.EnableWebhook {
		if err := setupWebhook(ctx, mgr, cfg, opts); err != nil {
			return nil, err
		}
	}
	if opts.EnableReconciler {
		if err := setupReconciler(ctx, mgr, opts); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

func managerOptions(opts Options) ctrl.Options {
	electionNS := opts.LeaderElectionNS
	if electionNS == "" {
		electionNS = opts.SystemNamespace
	}
	lease := opts.LeaseDuration
	return ctrl.Options{
		Scheme:                  Scheme,
		HealthProbeBindAddress:  opts.HealthProbeAddr,
		PprofBindAddress:        opts.PprofAddr,
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr},
		WebhookServer:           closeWhileDraining(crwebhook.NewServer(crwebhook.Options{Host: opts.WebhookHost, Port: opts.WebhookPort, CertDir: opts.WebhookCertDir})),
		LeaderElection:          opts.LeaderElect && opts.EnableReconciler,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: electionNS,
		LeaseDuration:           &lease,
		RenewDeadline:           ptr.To(renewDeadline(lease)), RetryPeriod: ptr.To(retryPeriod(lease)),
		// A replica that stops gives the lease up at once, so a rolling
		// update doesn't leave the reconciler idle for a lease duration.
		LeaderElectionReleaseOnCancel: true,
		Controller:                    ctrlconfig.Controller{SkipNameValidation: ptr.To(opts.ManyPerProcess)},
		// managedFields and kubectl's last-applied copy of the object are
		// never read and are a large share of each cached object.
		Cache: cache.Options{DefaultTransform: stripUnread, ByObject: reconcilerCache(opts)},
		// Secrets are read by name from the apiserver, never cached: a
		// Secret informer would need list and watch on every Secret and
		// hold tenants' private keys in memory.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	}
}

// InjectConfig is the sidecar configuration these options give, with the
// sidecar mode decided (see NativeSidecar). spacectl's offline rendering
// builds its configuration here too, so it can't drift from the webhook's.
func (o Options) InjectConfig(native bool) (inject.Config, error) {
	resources, err := o.SidecarResources()
	if err != nil {
		return inject.Config{}, err
	}
	ranges, err := o.InterceptionRanges()
	if err != nil {
		return inject.Config{}, err
	}
	return inject.Config{
		Image:         o.SidecarImage,
		Resources:     resources,
		NativeSidecar: native,
		SidecarUID:    o.SidecarUID,
		Interception:  inject.Interception(o.Interception),
		Ranges:        ranges,
	}, nil
}

// lastApplied is where client-side `kubectl apply` keeps a full copy of
// the object.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// stripUnread drops from cached objects what decco never reads.
func stripUnread(in any) (any, error) {
	out, err := cache.TransformStripManagedFields()(in)
	if obj, ok := out.(metav1.Object); ok && err == nil {
		if ann := obj.GetAnnotations(); ann[lastApplied] != "" {
			delete(ann, lastApplied)
			obj.SetAnnotations(ann)
		}
	}
	return out, err
}

func setupWebhook(ctx context.Context, mgr ctrl.Manager, cfg *rest.Config, opts Options) error {
	native, err := NativeSidecar(cfg, opts.NativeSidecar)
	if err != nil {
		return err
	}
	injectCfg, err := opts.InjectConfig(native)
	if err != nil {
		return err
	}
	ctrl.Log.WithName("webhook").Info("sidecar mode", "native", native)
	err = webhook.Setup(ctx, mgr, webhook.Options{
		Inject:          injectCfg,
		SystemNamespace: opts.SystemNamespace,
		MaxRequestBytes: opts.MaxRequestBytes,
	})
	if err != nil {
		return err
	}
	// Ready once the server serves TLS and the namespace cache it answers
	// from has synced, so no replica answers admission from an empty
	// cache. Only that informer: the reconciler's are none of the
	// webhook's business, and one the reconciler may not list would keep
	// every replica unready, which, failing closed, blocks pod creation
	// in every space (the reconciler reports its own, see
	// reconciler.Setup).
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return err
	}
	namespaces, err := mgr.GetCache().GetInformer(ctx, namespaceMeta())
	if err != nil {
		return fmt.Errorf("getting the webhook's namespace informer: %w", err)
	}
	return mgr.AddReadyzCheck("namespaces", informerSynced(namespaces, "the namespace metadata cache"))
}

// informerSynced is a readiness check passing once inf has synced.
func informerSynced(inf cache.Informer, what string) healthz.Checker {
	return func(*http.Request) error {
		if !inf.HasSynced() {
			return fmt.Errorf("%s has not synced", what)
		}
		return nil
	}
}

// namespaceMeta is the metadata-only Namespace the webhook reads spaces
// from: the same informer as webhook.Setup's.
func namespaceMeta() *metav1.PartialObjectMetadata {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return ns
}

// NativeSidecar decides the sidecar mode for --native-sidecar=mode: "auto"
// asks the apiserver, since native sidecars (init containers with
// restartPolicy Always) are on by default from Kubernetes 1.29.
func NativeSidecar(cfg *rest.Config, mode string) (bool, error) {
	if mode != "auto" {
		return mode == "true", nil
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return false, fmt.Errorf("reading the apiserver version to choose the sidecar mode (or set --native-sidecar): %w", err)
	}
	return supportsNativeSidecars(v.Major, v.Minor), nil
}

func supportsNativeSidecars(major, minor string) bool {
	maj, err1 := strconv.Atoi(major)
	// Some providers report minors like "29+".
	min, err2 := strconv.Atoi(strings.TrimSuffix(minor, "+"))
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > 1 || (maj == 1 && min >= 29)
}

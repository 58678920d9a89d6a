package spacectl

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/space"
)

// injectFlags are the manager's sidecar flags (inject.Settings: the same
// names, defaults and validation), so `render` (and the up-to-date check of
// `get` and `describe`, which otherwise ask the webhook: see installed) use
// the inject.Config the webhook uses when given the same values.
type injectFlags struct {
	settings inject.Settings
	fs       *pflag.FlagSet
}

func bindInjectFlags(fs *pflag.FlagSet) *injectFlags {
	f := &injectFlags{settings: inject.DefaultSettings(), fs: fs}
	f.settings.BindFlags(fs)
	for _, name := range inject.SettingsFlags {
		fs.Lookup(name).Usage = "As the manager's --" + name + ": " + fs.Lookup(name).Usage
	}
	fs.Lookup("native-sidecar").Usage += " Offline (render), auto means true, as on every Kubernetes since 1.29."
	return f
}

// given reports whether any sidecar flag was set on the command line.
func (f *injectFlags) given() bool {
	return slices.ContainsFunc(inject.SettingsFlags, f.fs.Changed)
}

// validate checks the flags before anything is read from the cluster.
func (f *injectFlags) validate() error {
	if err := f.settings.Validate(); err != nil {
		return withCode(ExitUsage, err)
	}
	return nil
}

// config is the inject.Config the manager builds from the same settings,
// with the sidecar mode already decided.
func (f *injectFlags) config(native bool) (inject.Config, error) {
	cfg, err := f.settings.Config(native)
	if err != nil {
		return inject.Config{}, withCode(ExitUsage, err)
	}
	return cfg, nil
}

// offline is the config without a cluster: auto means native sidecars.
func (f *injectFlags) offline() (inject.Config, error) {
	return f.config(f.settings.NativeSidecar != inject.NativeFalse)
}

// forCluster decides auto from the apiserver's version, as the manager
// does.
func (f *injectFlags) forCluster(cfg *rest.Config) (inject.Config, error) {
	if err := f.validate(); err != nil {
		return inject.Config{}, err
	}
	apiserver, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return inject.Config{}, fmt.Errorf("building a discovery client: %w", err)
	}
	native, err := f.settings.Native(apiserver)
	if err != nil {
		return inject.Config{}, err
	}
	return f.config(native)
}

// installed is the inject.Config the cluster's webhook uses, for the
// commands that judge whether pods are up to date: the sidecar flags when
// any is given; otherwise what the webhook itself injects into a dry-run
// probe pod in space sp (see probeConfig), so the answer matches the
// installation without the user knowing its settings. If the probe can't
// tell, it warns and uses the flags' defaults (the manager's).
func (f *injectFlags) installed(ctx context.Context, cl *cluster, sp *space.Space, warn io.Writer) (inject.Config, error) {
	if f.given() || sp == nil {
		return f.forCluster(cl.cfg)
	}
	cfg, err := probeConfig(ctx, cl, *sp)
	if err == nil {
		return cfg, nil
	}
	fmt.Fprintf(warn, "warning: can't read the installation's sidecar settings (%v); assuming the defaults: pass --sidecar-image and the other --sidecar-* flags as the manager has them\n", err)
	return f.forCluster(cl.cfg)
}

// probeConfig dry-runs a probe pod in sp, so the apiserver calls the
// webhook as for a real pod and nothing is stored, and reads the config
// back from the injected sidecar. It checks the result: injecting the same
// probe with that config must give the hash the webhook recorded, which
// covers every setting (image, resources, mode, UID, pull policy).
func probeConfig(ctx context.Context, cl *cluster, sp space.Space) (inject.Config, error) {
	pod := probePod(sp.Name)
	sent := pod.DeepCopy()
	if err := cl.c.Create(ctx, pod, client.DryRunAll); err != nil {
		return inject.Config{}, fmt.Errorf("dry-run probe pod in space %s: %w", sp.Name, err)
	}
	cfg, ok := sidecarConfig(pod)
	if !ok {
		return inject.Config{}, fmt.Errorf("the dry-run probe pod in space %s came back without a sidecar", sp.Name)
	}
	res, err := inject.Pod(sent, sp, cfg)
	if err != nil {
		return inject.Config{}, err
	}
	if got, want := res.Pod.Annotations[space.AnnotationInjected], pod.Annotations[space.AnnotationInjected]; got != want {
		return inject.Config{}, fmt.Errorf("the webhook's sidecar in space %s was changed after injection (a LimitRange, another webhook), so its settings can't be read from it", sp.Name)
	}
	return cfg, nil
}

// sidecarConfig reads an inject.Config from a pod's injected sidecar: a
// native sidecar is an init container. The pull policy is left empty, as
// the manager leaves it; the apiserver's default is not the manager's
// setting.
func sidecarConfig(pod *corev1.Pod) (inject.Config, bool) {
	for native, cs := range map[bool][]corev1.Container{true: pod.Spec.InitContainers, false: pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name != inject.SidecarName {
				continue
			}
			cfg := inject.Config{Image: c.Image, Resources: c.Resources, NativeSidecar: native}
			if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
				cfg.SidecarUID = *c.SecurityContext.RunAsUser
			}
			// cni mode: the plan carries the ranges (pods and Services
			// together, which is all the plan and its hash keep).
			if v, ok := pod.Annotations[space.AnnotationInterception]; ok {
				plan, err := intercept.Parse(v)
				if err != nil {
					return inject.Config{}, false
				}
				cfg.Interception = inject.InterceptCNI
				cfg.Ranges = intercept.Ranges{Pods: plan.Outbound.CIDRs, Exclude: plan.Outbound.ExcludeCIDRs}
			}
			return cfg, true
		}
	}
	return inject.Config{}, false
}

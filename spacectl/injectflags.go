package spacectl

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/space"
)

// injectFlags are the manager's sidecar flags, with the same names and
// defaults, so `render` (and the up-to-date check of `get` and `describe`,
// which otherwise ask the webhook: see installed) use the inject.Config the
// webhook uses when given the same values.
type injectFlags struct {
	opts manager.Options
	fs   *pflag.FlagSet
}

// sidecarFlags are the flags bindInjectFlags registers.
var sidecarFlags = []string{"sidecar-image", "sidecar-cpu-request", "sidecar-memory-request", "sidecar-memory-limit", "sidecar-uid", "native-sidecar",
	"interception", "pod-cidrs", "service-cidrs", "interception-exclude-cidrs"}

func bindInjectFlags(fs *pflag.FlagSet) *injectFlags {
	f := &injectFlags{opts: manager.DefaultOptions(), fs: fs}
	o := &f.opts
	fs.StringVar(&o.SidecarImage, "sidecar-image", o.SidecarImage, "Sidecar image, as the manager's --sidecar-image.")
	fs.StringVar(&o.SidecarCPURequest, "sidecar-cpu-request", o.SidecarCPURequest, "As the manager's --sidecar-cpu-request.")
	fs.StringVar(&o.SidecarMemoryRequest, "sidecar-memory-request", o.SidecarMemoryRequest, "As the manager's --sidecar-memory-request.")
	fs.StringVar(&o.SidecarMemoryLimit, "sidecar-memory-limit", o.SidecarMemoryLimit, "As the manager's --sidecar-memory-limit.")
	fs.Int64Var(&o.SidecarUID, "sidecar-uid", o.SidecarUID, "As the manager's --sidecar-uid.")
	fs.StringVar(&o.NativeSidecar, "native-sidecar", o.NativeSidecar,
		"As the manager's --native-sidecar: auto, true or false. auto asks the apiserver's version; offline (render) it means true, as on every Kubernetes since 1.29.")
	fs.StringVar(&o.Interception, "interception", o.Interception, "As the manager's --interception: ports or cni.")
	fs.StringSliceVar(&o.PodCIDRs, "pod-cidrs", o.PodCIDRs, "As the manager's --pod-cidrs (with --interception=cni).")
	fs.StringSliceVar(&o.ServiceCIDRs, "service-cidrs", o.ServiceCIDRs, "As the manager's --service-cidrs (with --interception=cni).")
	fs.StringSliceVar(&o.InterceptionExcludeCIDRs, "interception-exclude-cidrs", o.InterceptionExcludeCIDRs, "As the manager's --interception-exclude-cidrs.")
	return f
}

// given reports whether any sidecar flag was set on the command line.
func (f *injectFlags) given() bool {
	for _, name := range sidecarFlags {
		if f.fs.Changed(name) {
			return true
		}
	}
	return false
}

// validate checks the values, naming the flag.
func (f *injectFlags) validate() error {
	if f.opts.SidecarImage == "" {
		return usageErrorf("--sidecar-image must not be empty")
	}
	if _, err := f.opts.SidecarResources(); err != nil {
		return withCode(ExitUsage, err)
	}
	switch f.opts.NativeSidecar {
	case "auto", "true", "false":
		return nil
	}
	return usageErrorf("--native-sidecar=%q: want auto, true or false", f.opts.NativeSidecar)
}

// config is the inject.Config the manager builds from the same options
// (manager.setupWebhook), with the sidecar mode already decided.
func (f *injectFlags) config(native bool) (inject.Config, error) {
	if err := f.validate(); err != nil {
		return inject.Config{}, err
	}
	cfg, err := f.opts.InjectConfig(native)
	if err != nil {
		return inject.Config{}, withCode(ExitUsage, err)
	}
	return cfg, nil
}

// offline is the config without a cluster: auto means native sidecars.
func (f *injectFlags) offline() (inject.Config, error) {
	return f.config(f.opts.NativeSidecar != "false")
}

// forCluster decides auto from the apiserver's version, as the manager
// does.
func (f *injectFlags) forCluster(cfg *rest.Config) (inject.Config, error) {
	if err := f.validate(); err != nil {
		return inject.Config{}, err
	}
	native, err := manager.NativeSidecar(cfg, f.opts.NativeSidecar)
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

package deccotest

import (
	"fmt"
	"path/filepath"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/decco-dev/decco/test/controlplane"
)

// InstallChart installs decco's chart from this checkout as release
// "decco" in namespace, as `helm install --kubeconfig kubeconfig -n
// namespace -f values` would, through Helm's SDK.
func InstallChart(kubeconfig, namespace, values string, logf func(string, ...any)) (*release.Release, error) {
	cfg, err := HelmConfig(kubeconfig, namespace, logf)
	if err != nil {
		return nil, err
	}
	chrt, err := loader.Load(ChartDir())
	if err != nil {
		return nil, fmt.Errorf("loading the chart: %w", err)
	}
	vals, err := chartutil.ReadValues([]byte(values))
	if err != nil {
		return nil, fmt.Errorf("parsing the chart values: %w", err)
	}
	install := action.NewInstall(cfg)
	install.ReleaseName = "decco"
	install.Namespace = namespace
	rel, err := install.Run(chrt, vals.AsMap())
	if err != nil {
		return nil, fmt.Errorf("helm install: %w", err)
	}
	return rel, nil
}

// UninstallChart removes the release InstallChart made.
func UninstallChart(kubeconfig, namespace string, logf func(string, ...any)) error {
	cfg, err := HelmConfig(kubeconfig, namespace, logf)
	if err != nil {
		return err
	}
	_, err = action.NewUninstall(cfg).Run("decco")
	return err
}

// ChartDir is decco's chart in this checkout.
func ChartDir() string { return filepath.Join(controlplane.RepoRoot(), "charts", "decco") }

// HelmConfig is what `helm --kubeconfig kubeconfig -n namespace` works
// with, logging to logf.
func HelmConfig(kubeconfig, namespace string, logf func(string, ...any)) (*action.Configuration, error) {
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &namespace
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, "secret", logf); err != nil {
		return nil, fmt.Errorf("setting up Helm: %w", err)
	}
	return cfg, nil
}

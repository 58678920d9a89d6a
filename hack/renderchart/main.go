// Command renderchart renders a public Helm chart into the corpus of
// test/testdata/charts, as a user would install it into a decco space:
// `helm template` through Helm's Go SDK, default values (plus any -set),
// and a post-renderer that puts the space label on every pod template and
// every Service (see spaceLabeler). The output starts with a header saying
// which chart, version and source commit it is and how to regenerate it.
//
//	go run ./hack/renderchart -chart /tmp/src/bitnami/kafka -deps /tmp/src/bitnami \
//	  -source github.com/bitnami/charts@<commit>:bitnami/kafka -o test/testdata/charts/kafka.yaml
//
// -chart is the chart's source directory (from a checkout of its
// repository at the pinned commit). Dependencies the chart doesn't vendor
// in charts/ are loaded from -deps by name (Bitnami's charts depend on
// bitnami/common and on each other from an OCI registry; the same
// repository holds them), and must satisfy the chart's version constraint.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/strvals"
)

// kubeVersion is the Kubernetes version charts render for: the test
// control plane's.
var kubeVersion = chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var (
		chartDir = flag.String("chart", "", "the chart's source directory")
		depsDir  = flag.String("deps", "", "directory of dependency charts by name (default: the chart directory's parent)")
		source   = flag.String("source", "", "where the chart came from, for the header: repository@commit:path")
		depsFrom = flag.String("deps-source", "", "where -deps came from, for the header, when not the chart's own commit")
		space    = flag.String("space", "", "the space (namespace and release name); default: the chart's name")
		out      = flag.String("o", "", "output file (default: stdout)")
		sets     setFlags
	)
	flag.Var(&sets, "set", "a value as helm --set writes it (repeatable)")
	flag.Parse()
	if *chartDir == "" || *source == "" {
		fmt.Fprintln(os.Stderr, "renderchart: -chart and -source are required; see go doc ./hack/renderchart")
		os.Exit(2)
	}
	if *depsDir == "" {
		*depsDir = filepath.Dir(*chartDir)
	}
	if err := run(*chartDir, *depsDir, *source, *depsFrom, *space, *out, sets); err != nil {
		fmt.Fprintln(os.Stderr, "renderchart:", err)
		os.Exit(1)
	}
}

func run(chartDir, depsDir, source, depsFrom, spaceName, out string, sets []string) error {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return fmt.Errorf("loading chart %s: %w", chartDir, err)
	}
	if err := addDependencies(chrt, depsDir); err != nil {
		return err
	}
	if spaceName == "" {
		spaceName = chrt.Name()
	}
	vals := map[string]any{}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			return fmt.Errorf("-set %s: %w", s, err)
		}
	}
	manifest, err := render(chrt, spaceName, vals)
	if err != nil {
		return err
	}
	doc := header(chrt, source, depsFrom, spaceName, sets) + manifest
	if out == "" {
		_, err = os.Stdout.WriteString(doc)
		return err
	}
	return os.WriteFile(out, []byte(doc), 0o644)
}

// render is `helm template <space> <chart> --namespace <space>
// --post-renderer <label the space>`: the release's manifest, without its
// hooks (helm test pods and install hooks are not part of what runs).
func render(chrt *chart.Chart, spaceName string, vals map[string]any) (string, error) {
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = spaceName, spaceName
	install.KubeVersion = &kubeVersion
	install.PostRenderer = spaceLabeler{space: spaceName}
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return "", fmt.Errorf("rendering %s: %w", chrt.Name(), err)
	}
	return rel.Manifest, nil
}

// addDependencies loads each dependency chrt declares but doesn't vendor
// from dir/<name>, checking its version against the constraint, as `helm
// dependency build` would fetch it; recursively, for theirs.
func addDependencies(chrt *chart.Chart, dir string) error {
	have := map[string]bool{}
	for _, d := range chrt.Dependencies() {
		have[d.Name()] = true
	}
	for _, dep := range chrt.Metadata.Dependencies {
		if have[dep.Name] {
			continue
		}
		sub, err := loader.Load(filepath.Join(dir, dep.Name))
		if err != nil {
			return fmt.Errorf("dependency %s of %s: %w (put its chart in -deps)", dep.Name, chrt.Name(), err)
		}
		if err := checkVersion(dep, sub); err != nil {
			return err
		}
		if err := addDependencies(sub, dir); err != nil {
			return err
		}
		chrt.AddDependency(sub)
		have[dep.Name] = true
	}
	return nil
}

func checkVersion(dep *chart.Dependency, sub *chart.Chart) error {
	if dep.Version == "" {
		return nil
	}
	c, err := semver.NewConstraint(dep.Version)
	if err != nil {
		return fmt.Errorf("dependency %s: version %q: %w", dep.Name, dep.Version, err)
	}
	v, err := semver.NewVersion(sub.Metadata.Version)
	if err != nil || !c.Check(v) {
		return fmt.Errorf("dependency %s: found version %s, the chart wants %s", dep.Name, sub.Metadata.Version, dep.Version)
	}
	return nil
}

func header(chrt *chart.Chart, source, depsFrom, spaceName string, sets []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Chart %s %s (app %s), from %s,\n", chrt.Name(), chrt.Metadata.Version, chrt.Metadata.AppVersion, source)
	deps := []string{}
	for _, d := range chrt.Dependencies() {
		deps = append(deps, d.Name()+" "+d.Metadata.Version)
	}
	if len(deps) > 0 {
		fmt.Fprintf(&b, "# with %s,\n", strings.Join(deps, ", "))
	}
	if depsFrom != "" {
		fmt.Fprintf(&b, "# dependencies from %s,\n", depsFrom)
	}
	vals := "default values"
	if len(sets) > 0 {
		vals += " and --set " + strings.Join(sets, " --set ")
	}
	fmt.Fprintf(&b, "# rendered with Helm's SDK for Kubernetes %s as\n", kubeVersion.Version)
	fmt.Fprintf(&b, "#   helm template %s <chart> --namespace %s --post-renderer <label>\n", spaceName, spaceName)
	fmt.Fprintf(&b, "# with %s; the post-renderer labels every pod template and Service\n", vals)
	fmt.Fprintf(&b, "# %s=%s (what kustomize's `labels` with includeTemplates does).\n", spaceLabel, spaceName)
	b.WriteString("# Hooks (helm test pods, install jobs) are left out.\n")
	b.WriteString("# Regenerate from a checkout of the source at that commit:\n")
	fmt.Fprintf(&b, "#   go run ./hack/renderchart -chart <checkout>/<path> -source %s", source)
	if depsFrom != "" {
		fmt.Fprintf(&b, " -deps <their checkout> -deps-source '%s'", depsFrom)
	}
	if spaceName != chrt.Name() {
		fmt.Fprintf(&b, " -space %s", spaceName)
	}
	for _, s := range sets {
		fmt.Fprintf(&b, " -set %s", s)
	}
	b.WriteString(" -o <this file>\n")
	return b.String()
}

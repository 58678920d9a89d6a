package spacectl

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/decco-dev/decco/install"
	"github.com/decco-dev/decco/space"
)

type renderOptions struct {
	files     []string
	spaceFile string
	space     *spaceFlags
	inject    *injectFlags
	out       *outputFlag
}

func (r *root) newRender() *cobra.Command {
	o := &renderOptions{}
	cmd := &cobra.Command{
		Use:   "render -f FILE|DIR|-",
		Short: "Show what decco's webhook will do to manifests, without a cluster",
		Long: `render runs decco's injection offline on manifests: files, directories (their
.yaml, .yml and .json files) or stdin with -f -, multi-document YAML such as the output
of helm template. Pods and the pod templates of
Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs get the sidecar
their Pods will get; Services get their target ports pointed at the TLS listeners. The
manifests come out in the same order; objects decco does not touch come out exactly as
written.

render needs the settings of the space the objects go to, from (in this order):
  - Namespace manifests in the input, labeled decco.io/space;
  - --space-file, a file of Namespace manifests (e.g. kubectl get ns acme -o yaml);
  - -n NAMESPACE with --domain and the other space flags of "create space".
An object's namespace is its metadata.namespace, else -n, else the only space known.

The sidecar flags are the manager's, with its defaults: pass the values your
installation uses and render gives exactly what the webhook gives. If any object would
be refused, render prints every refusal, naming the document and object, prints no
manifests, and exits 1.`,
		Example: r.examples(`  # Render a Helm chart for space acme
  helm template shop ./chart | spacectl render -f - -n acme --domain example.com

  # Render manifests that include their space's Namespace
  spacectl render -f examples/

  # Use the live space's settings, and the installation's sidecar image
  kubectl get ns acme -o yaml > acme.yaml
  spacectl render -f app.yaml --space-file acme.yaml --sidecar-image registry.example.com/decco-sidecar:v1.2.0`),
		Args: exactArgs(0, "none (use -f)"),
		RunE: func(cmd *cobra.Command, _ []string) error { return r.runRender(cmd, o) },
	}
	fs := cmd.Flags()
	fs.StringSliceVarP(&o.files, "filename", "f", nil, "Manifests to render: files, directories, or - for stdin; repeatable.")
	fs.StringVar(&o.spaceFile, "space-file", "", "File of Namespace manifests giving the spaces' settings.")
	o.space = bindSpaceFlags(fs)
	o.inject = bindInjectFlags(fs)
	o.out = addOutputFlag(cmd, outYAML, outYAML, outJSON)
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	_ = cmd.MarkFlagFilename("space-file", "yaml", "yml", "json")
	return cmd
}

func (r *root) runRender(cmd *cobra.Command, o *renderOptions) error {
	if err := o.out.check(); err != nil {
		return err
	}
	cfg, err := o.inject.offline()
	if err != nil {
		return err
	}
	opts := RenderOptions{Inject: cfg, Namespace: r.explicitNamespace(), SystemNamespace: install.SystemNamespace}
	if opts.Spaces, err = r.renderSpaces(o, opts.Namespace); err != nil {
		return err
	}
	in, closeIn, err := openInputs(o.files, r.streams.In)
	if err != nil {
		return err
	}
	defer closeIn()
	docs, err := Render(in, opts)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if d.Warning != "" {
			fmt.Fprintf(r.streams.ErrOut, "warning: %s: %s\n", describeObject(d.Object), d.Warning)
		}
		if d.Decision != "" {
			r.log().V(1).Info("rendered", "object", describeObject(d.Object), "decision", d.Decision, "changed", d.Changed)
		}
	}
	if o.out.value == outJSON {
		return printObject(r.streams.Out, outJSON, objectList(renderedObjects(docs)))
	}
	return WriteYAML(r.streams.Out, docs)
}

// renderSpaces gathers spaces from --space-file and the space flags.
func (r *root) renderSpaces(o *renderOptions, ns string) (map[string]space.Space, error) {
	spaces := map[string]space.Space{}
	if o.spaceFile != "" {
		f, err := os.Open(o.spaceFile)
		if err != nil {
			return nil, withCode(ExitUsage, fmt.Errorf("--space-file: %w", err))
		}
		defer f.Close()
		if err := spacesFromFile(f, spaces); err != nil {
			return nil, fmt.Errorf("--space-file %s: %w", o.spaceFile, err)
		}
	}
	ann := o.space.annotations()
	if len(ann) == 0 {
		return spaces, nil
	}
	if ns == "" {
		return nil, usageErrorf("the space flags (--domain, ...) describe the space of namespace -n: pass -n NAMESPACE")
	}
	if _, ok := spaces[ns]; ok {
		return nil, usageErrorf("space %q is given both by --space-file and by flags; give it once", ns)
	}
	sp, err := spaceFromFlags(ns, ann)
	if err != nil {
		return nil, err
	}
	spaces[ns] = sp
	return spaces, nil
}

// spacesFromFile adds the spaces of the Namespace documents in f.
func spacesFromFile(f io.Reader, into map[string]space.Space) error {
	docs, err := splitDocuments(f)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if d.Object == nil {
			continue
		}
		if d.Object.GetKind() != "Namespace" {
			return fmt.Errorf("%s: only Namespace manifests belong here", describeObject(d.Object))
		}
		sp, err := space.FromNamespace(d.Object)
		if err != nil {
			return err
		}
		into[sp.Name] = sp
	}
	return nil
}

// openInputs opens files, the manifest files of directories, and stdin
// for "-", as one stream with a document separator between files.
func openInputs(names []string, stdin io.Reader) (io.Reader, func(), error) {
	var readers []io.Reader
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	paths, err := expandPaths(names)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range paths {
		if len(readers) > 0 {
			readers = append(readers, strings.NewReader("\n---\n"))
		}
		if p == "-" {
			readers = append(readers, stdin)
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			closeAll()
			return nil, nil, withCode(ExitUsage, fmt.Errorf("-f: %w", err))
		}
		files = append(files, f)
		readers = append(readers, f)
	}
	return io.MultiReader(readers...), closeAll, nil
}

// expandPaths replaces each directory by its manifest files, sorted.
func expandPaths(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		st, err := os.Stat(n)
		if n == "-" || err != nil || !st.IsDir() {
			out = append(out, n) // a missing file fails when opened, with its name
			continue
		}
		entries, err := os.ReadDir(n)
		if err != nil {
			return nil, withCode(ExitUsage, fmt.Errorf("-f: %w", err))
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
				out = append(out, filepath.Join(n, e.Name()))
			}
		}
	}
	return out, nil
}

// objectList wraps objects in a v1 List.
func objectList(items []*unstructured.Unstructured) *unstructured.Unstructured {
	return viewList(items)
}

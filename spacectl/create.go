package spacectl

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
)

// Dry-run modes of create, as kubectl's --dry-run.
const (
	dryRunNone   = "none"
	dryRunClient = "client"
	dryRunServer = "server"
)

// outText is the default output of commands that change things: one line
// per object, like kubectl's "namespace/x created".
const outText = "text"

type createSpaceOptions struct {
	space   *spaceFlags
	dryRun  string
	wait    bool
	timeout time.Duration
	out     *outputFlag
}

func (r *root) newCreate() *cobra.Command {
	return r.group("create", "Create a space", "space NAME --domain DOMAIN",
		"  spacectl create space acme --domain example.com", r.newCreateSpace())
}

func (r *root) newCreateSpace() *cobra.Command {
	o := &createSpaceOptions{}
	cmd := &cobra.Command{
		Use:   "space NAME --domain DOMAIN",
		Short: "Create a namespace as a space, or make an existing namespace one",
		Long: `create space labels namespace NAME decco.io/space=NAME and sets the space's
annotations from the flags, creating the namespace if it does not exist. On an existing
namespace (or space) only the flags given change; its other labels and annotations stay.

The settings are validated by the same code the webhook and the reconciler use, before
anything is sent. --dry-run (or --dry-run=client) prints the Namespace manifest without
contacting the cluster; --dry-run=server sends it for validation without storing it.

--wait waits until the reconciler reports every part of the space ready (pki,
policies, routes, dns), printing progress; on --timeout it exits 3 with the reason.`,
		Example: r.examples(`  # A new space, reachable at acme.example.com, isolated with the other spaces of project retail
  spacectl create space acme --domain example.com --project retail

  # Make an existing namespace a space and wait until its PKI, policies, routes and DNS are ready
  spacectl create space shop --domain example.com --wait --timeout 3m

  # Print the manifest for GitOps instead of creating it
  spacectl create space acme --domain example.com --dry-run > acme.yaml`),
		Args:              exactArgs(1, "the space's (namespace's) name"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              func(cmd *cobra.Command, args []string) error { return r.runCreateSpace(cmd, o, args[0]) },
	}
	fs := cmd.Flags()
	o.space = bindSpaceFlags(fs)
	fs.StringVar(&o.dryRun, "dry-run", dryRunNone, `"client" prints the Namespace without sending it; "server" sends it for validation only; "none" creates it.`)
	fs.Lookup("dry-run").NoOptDefVal = dryRunClient
	fs.BoolVar(&o.wait, "wait", false, "Wait until the reconciler reports the space ready.")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "How long --wait waits.")
	o.out = addOutputFlag(cmd, outText, outText, outYAML, outJSON)
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{dryRunNone, dryRunClient, dryRunServer}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (r *root) runCreateSpace(cmd *cobra.Command, o *createSpaceOptions, name string) error {
	if err := o.check(name); err != nil {
		return err
	}
	ann := o.space.annotations()
	if o.dryRun == dryRunClient {
		ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: name}}
		makeSpace(ns, ann)
		if _, err := space.FromNamespace(ns); err != nil {
			return explainSpaceErrors(name, err)
		}
		format := o.out.value
		if format == outText {
			format = outYAML // a dry run is for seeing the manifest
		}
		m, err := manifest(ns)
		if err != nil {
			return err
		}
		return printObject(r.streams.Out, format, m)
	}
	ctx := cmd.Context()
	cl, err := r.connect()
	if err != nil {
		return err
	}
	ns, result, err := applySpace(ctx, cl, name, ann, o.dryRun == dryRunServer)
	if err != nil {
		return err
	}
	if err := r.reportApplied(o, ns, result); err != nil {
		return err
	}
	if !o.wait || o.dryRun == dryRunServer {
		return nil
	}
	return waitFor(ctx, r.streams.ErrOut, r.log(), "space "+name, o.timeout, spaceReady(cl, name, r.name))
}

func (o *createSpaceOptions) check(name string) error {
	if err := o.out.check(); err != nil {
		return err
	}
	switch o.dryRun {
	case dryRunNone, dryRunClient, dryRunServer:
	default:
		return usageErrorf("--dry-run=%q: want none, client or server", o.dryRun)
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return usageErrorf("space name %q is not a valid namespace name: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

func (r *root) reportApplied(o *createSpaceOptions, ns *corev1.Namespace, result string) error {
	if o.out.value != outText {
		ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		ns.ManagedFields = nil
		return printObject(r.streams.Out, o.out.value, ns)
	}
	suffix := ""
	if o.dryRun == dryRunServer {
		suffix = " (server dry run)"
	}
	fmt.Fprintf(r.streams.Out, "space/%s %s%s\n", ns.Name, result, suffix)
	return nil
}

// applySpace creates the namespace as a space, or updates an existing one
// with ann, retrying on conflicting writes. result is created, configured
// (changed), converted (it was not a space) or unchanged.
func applySpace(ctx context.Context, cl *cluster, name string, ann map[string]string, dryRun bool) (*corev1.Namespace, string, error) {
	var ns *corev1.Namespace
	var result string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		ns, result, err = applySpaceOnce(ctx, cl, name, ann, dryRun)
		return err
	})
	return ns, result, err
}

func applySpaceOnce(ctx context.Context, cl *cluster, name string, ann map[string]string, dryRun bool) (*corev1.Namespace, string, error) {
	ns := &corev1.Namespace{}
	err := cl.c.Get(ctx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) {
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		makeSpace(ns, ann)
		if _, err := space.FromNamespace(ns); err != nil {
			return nil, "", explainSpaceErrors(name, err)
		}
		if err := cl.c.Create(ctx, ns, createOpts(dryRun)...); err != nil {
			return nil, "", explainRefusal(name, fmt.Errorf("creating namespace %s: %w", name, err))
		}
		return ns, "created", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading namespace %s: %w", name, err)
	}
	before := ns.DeepCopy()
	_, wasSpace := ns.Labels[space.LabelSpace]
	makeSpace(ns, ann)
	if _, err := space.FromNamespace(ns); err != nil {
		return nil, "", explainSpaceErrors(name, err)
	}
	if maps.Equal(before.Labels, ns.Labels) && maps.Equal(before.Annotations, ns.Annotations) {
		return ns, "unchanged", nil
	}
	if err := cl.c.Update(ctx, ns, updateOpts(dryRun)...); err != nil {
		return nil, "", explainRefusal(name, err) // conflicts are retried by the caller
	}
	if !wasSpace {
		return ns, "converted (namespace " + name + " is now a space)", nil
	}
	return ns, "configured", nil
}

func createOpts(dryRun bool) []client.CreateOption {
	if dryRun {
		return []client.CreateOption{client.DryRunAll}
	}
	return nil
}

func updateOpts(dryRun bool) []client.UpdateOption {
	if dryRun {
		return []client.UpdateOption{client.DryRunAll}
	}
	return nil
}

// spaceReady is the --wait check of a space: every part of the
// reconciler's status ready.
func spaceReady(cl *cluster, name, cli string) waitCheck {
	return func(ctx context.Context) (bool, string, error) {
		ns := &corev1.Namespace{}
		if err := cl.c.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
			return false, "", fmt.Errorf("reading namespace %s: %w", name, err)
		}
		return statusProgress(ns.Annotations, space.Parts, cli)
	}
}

// statusProgress reads the reconciler's status: done when the given parts
// are ready, else which are not and why.
func statusProgress(ann map[string]string, parts []string, cli string) (bool, string, error) {
	raw, reported := ann[space.AnnotationStatus]
	if !reported {
		return false, "no status from decco's reconciler yet (if this lasts, check the manager: " + cli + " doctor)", nil
	}
	st, err := space.ParseStatus(raw)
	if err != nil {
		return false, "", err
	}
	var waiting []string
	for _, p := range parts {
		c, ok := st.Parts[p]
		switch {
		case !ok:
			waiting = append(waiting, p+" not reported")
		case !c.Ready:
			waiting = append(waiting, strings.TrimSuffix(fmt.Sprintf("%s not ready: %s %s", p, c.Reason, oneLine(c.Message)), " "))
		}
	}
	return len(waiting) == 0, strings.Join(waiting, "; "), nil
}

// manifest is ns as a user would write it: without the empty spec and
// status a typed object encodes.
func manifest(ns *corev1.Namespace) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ns)
	if err != nil {
		return nil, fmt.Errorf("encoding namespace %s: %w", ns.Name, err)
	}
	return &unstructured.Unstructured{Object: pruneNoise(m, map[string]any{"metadata": nil}).(map[string]any)}, nil
}

// guardWebhook names decco's namespace guard in the apiserver's refusals.
const guardWebhook = `admission webhook "namespaces.decco.io" denied the request: `

// explainRefusal turns the namespace guard's refusal into one line per
// refused setting and says how space settings are granted; other errors
// pass unchanged (a conflict stays a conflict, for the retry).
func explainRefusal(name string, err error) error {
	if !apierrors.IsForbidden(err) {
		return err
	}
	msg := err.Error()
	i := strings.Index(msg, guardWebhook)
	if i < 0 {
		return err
	}
	detail := strings.TrimPrefix(msg[i+len(guardWebhook):], "namespace "+name+": ")
	lines := []string{fmt.Sprintf("space %q: decco refused a change to its settings, which are the platform's:", name)}
	for _, part := range strings.Split(detail, "; and ") {
		lines = append(lines, "  "+part)
	}
	lines = append(lines, "Space settings are granted with RBAC on decco's virtual resources: verb update on spaces.decco.io "+
		"(ClusterRole decco-space-admin) and verb join on projects.decco.io (ClusterRole decco-join-project-<project>); see docs/security.md.")
	return errors.New(strings.Join(lines, "\n"))
}

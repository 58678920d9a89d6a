package spacectl

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/decco-dev/decco/space"
)

func (r *root) newGet() *cobra.Command {
	return r.group("get", "List spaces", "spaces", "  spacectl get spaces", r.newGetSpaces())
}

type getOptions struct {
	out    *outputFlag
	inject *injectFlags
	global globalOptions
}

func (r *root) newGetSpaces() *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:     "spaces [NAME...]",
		Aliases: []string{"space", "sp"},
		Short:   "One line per space: domain, project, and readiness of PKI, policies, routes, DNS and pods",
		Long: `get spaces lists spaces with the state the reconciler reports for each part
(pki, policies, routes, dns: Ready, the reason it is not, or Unknown before the
reconciler reported) and PODS: pods carrying an up-to-date sidecar / pods that should,
with the missing, outdated or refused ones named. "describe space" says why.

Whether a pod's sidecar is up to date depends on the installation's sidecar settings.
spacectl asks the webhook for them, with a dry-run pod in the first space; pass the
--sidecar-* flags to judge against other settings instead (say, before an upgrade).`,
		Example: r.examples(`  # Every space
  spacectl get spaces

  # Two spaces, as JSON for a script
  spacectl get spaces acme globex -o json

  # The regions of every global name in two clusters, and what the zone serves
  spacectl get spaces --global --contexts east,west --dns-server ns1.example.com:53`),
		ValidArgsFunction: r.completeSpaces,
		RunE:              func(cmd *cobra.Command, args []string) error { return r.runGetSpaces(cmd, o, args) },
	}
	o.out = addOutputFlag(cmd, outTable, outTable, outYAML, outJSON)
	o.inject = bindInjectFlags(cmd.Flags())
	cmd.Flags().BoolVar(&o.global.on, "global", false, "List the regions of global names (decco.io/global-name) instead: each region's health and whether its address is at the name; NAME arguments are global names.")
	cmd.Flags().StringSliceVar(&o.global.contexts, "contexts", nil, "With --global: kubeconfig contexts to read, one per cluster (default: the current one).")
	cmd.Flags().StringVar(&o.global.dnsServer, "dns-server", "", "With --global: a DNS server (host:port) of the zone decco's RFC2136 provider writes, to show which regions it lists and serves.")
	return cmd
}

func (r *root) runGetSpaces(cmd *cobra.Command, o *getOptions, names []string) error {
	if err := o.out.check(); err != nil {
		return err
	}
	if err := o.inject.validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	if o.global.on {
		return r.runGetGlobal(ctx, o, names)
	}
	if len(o.global.contexts) > 0 || o.global.dnsServer != "" {
		return usageErrorf("--contexts and --dns-server go with --global")
	}
	cl, err := r.connect()
	if err != nil {
		return err
	}
	spaces, lookupErr := r.listSpaces(ctx, cl, names)
	cfg, err := o.inject.installed(ctx, cl, firstValidSpace(spaces), r.streams.ErrOut)
	if err != nil {
		return err
	}
	pods, err := spacesPods(ctx, cl, spaces)
	if err != nil {
		return err
	}
	var summaries []SpaceSummary
	for i := range spaces {
		s, _ := summarize(&spaces[i], pods[spaces[i].Name], cfg)
		summaries = append(summaries, s)
	}
	if len(summaries) == 0 && lookupErr == nil && o.out.value == outTable {
		fmt.Fprintln(r.streams.ErrOut, "No spaces found.")
		return nil
	}
	if err := r.printSummaries(o.out.value, spaces, summaries); err != nil {
		return err
	}
	return lookupErr
}

func (r *root) printSummaries(format string, spaces []corev1.Namespace, sums []SpaceSummary) error {
	if format != outTable {
		items := make([]*unstructured.Unstructured, 0, len(sums))
		for _, s := range sums {
			v, err := view("SpaceSummary", s)
			if err != nil {
				return err
			}
			items = append(items, v)
		}
		return printObject(r.streams.Out, format, viewList(items))
	}
	if len(sums) == 0 {
		return nil
	}
	rows := make([][]any, len(sums))
	for i, s := range sums {
		rows[i] = summaryRow(s, time.Since(spaces[i].CreationTimestamp.Time))
	}
	return printTable(r.streams.Out, table(
		[]string{"Name", "Domain", "Project", "PKI", "Policies", "Routes", "DNS", "Pods", "Age"}, rows))
}

// summaryRow is one line of `get spaces`.
func summaryRow(s SpaceSummary, age time.Duration) []any {
	row := []any{s.Name, orNone(s.Domain), orNone(s.Project)}
	st := space.Status{Parts: s.Parts}
	for _, p := range space.Parts {
		switch {
		case s.Domain == "":
			row = append(row, "Invalid")
		default:
			row = append(row, partState(st, p))
		}
	}
	pods := s.Pods.Cell()
	if s.Domain == "" {
		pods = "-"
	}
	return append(row, pods, duration.HumanDuration(age))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// firstValidSpace is the space to probe the webhook in, nil if none.
func firstValidSpace(nss []corev1.Namespace) *space.Space {
	for i := range nss {
		if sp, err := space.FromNamespace(&nss[i]); err == nil && nss[i].DeletionTimestamp == nil {
			return &sp
		}
	}
	return nil
}

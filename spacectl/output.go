package spacectl

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
)

// Output formats of -o.
const (
	outTable = "table"
	outYAML  = "yaml"
	outJSON  = "json"
)

// ViewAPIVersion labels spacectl's own -o yaml|json documents (summaries
// that are not Kubernetes objects), so scripts can tell their shape.
const ViewAPIVersion = "spacectl.decco.io/v1alpha1"

// outputFlag is a validated -o flag.
type outputFlag struct {
	value   string
	allowed []string
}

func addOutputFlag(cmd *cobra.Command, def string, allowed ...string) *outputFlag {
	o := &outputFlag{value: def, allowed: allowed}
	cmd.Flags().StringVarP(&o.value, "output", "o", def, "Output format: "+strings.Join(allowed, ", ")+".")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(allowed, cobra.ShellCompDirectiveNoFileComp))
	return o
}

// check returns a usage error for a format the command doesn't have.
func (o *outputFlag) check() error {
	if !slices.Contains(o.allowed, o.value) {
		return usageErrorf("-o %q: want one of %s", o.value, strings.Join(o.allowed, ", "))
	}
	return nil
}

// printTable prints t like kubectl get does.
func printTable(w io.Writer, t *metav1.Table) error {
	return printers.NewTablePrinter(printers.PrintOptions{}).PrintObj(t, w)
}

// printObject prints a Kubernetes object (apiVersion and kind set) as YAML
// or JSON.
func printObject(w io.Writer, format string, obj runtime.Object) error {
	var p printers.ResourcePrinter = &printers.YAMLPrinter{}
	if format == outJSON {
		p = &printers.JSONPrinter{}
	}
	return p.PrintObj(obj, w)
}

// view turns one of spacectl's summary structs into a printable object of
// the given kind.
func view(kind string, v any) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", kind, err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", kind, err)
	}
	m["apiVersion"], m["kind"] = ViewAPIVersion, kind
	return &unstructured.Unstructured{Object: m}, nil
}

// viewList wraps items in a v1 List, as kubectl prints several objects.
func viewList(items []*unstructured.Unstructured) *unstructured.Unstructured {
	list := make([]any, len(items))
	for i, it := range items {
		list[i] = it.Object
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "List", "metadata": map[string]any{}, "items": list,
	}}
}

// table builds a metav1.Table from column names and rows of cells.
func table(columns []string, rows [][]any) *metav1.Table {
	t := &metav1.Table{}
	for _, c := range columns {
		t.ColumnDefinitions = append(t.ColumnDefinitions, metav1.TableColumnDefinition{Name: c, Type: "string"})
	}
	for _, r := range rows {
		t.Rows = append(t.Rows, metav1.TableRow{Cells: r})
	}
	return t
}

package spacectl

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// SpaceDescription is everything `describe space` shows.
type SpaceDescription struct {
	SpaceSummary
	Host         string            `json:"host,omitempty"`
	Issuer       string            `json:"issuer,omitempty"`
	RuntimeClass string            `json:"runtimeClass,omitempty"`
	Objects      []ObjectState     `json:"objects"`
	Services     []ServiceExposure `json:"services"`
	PodStates    []PodInjection    `json:"podStates"`
	// Mismatches are the Service ports whose target some pod the Service
	// selects doesn't declare (space.PortMismatches).
	Mismatches []space.PortMismatch `json:"mismatches,omitempty"`
}

// ServiceExposure is how a Service of the space is exposed.
type ServiceExposure struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol,omitempty"`
	Address  string `json:"address,omitempty"`
	DNS      bool   `json:"dns"`
	// Routes are the decco route objects that send traffic to it.
	Routes []string `json:"routes"`
	Error  string   `json:"error,omitempty"`
}

// describeSpace is the pure part of `describe space`.
func describeSpace(ns *corev1.Namespace, pods []corev1.Pod, objects []unstructured.Unstructured, services []corev1.Service, cfg inject.Config) SpaceDescription {
	sum, injections := summarize(ns, pods, cfg)
	d := SpaceDescription{SpaceSummary: sum, Objects: []ObjectState{}, Services: []ServiceExposure{}, PodStates: injections}
	sp, err := space.FromNamespace(ns)
	if err != nil {
		return d
	}
	d.Host, d.RuntimeClass = sp.Host(), sp.RuntimeClass
	if sp.Issuer.Name != "" {
		d.Issuer = sp.Issuer.Kind + "/" + sp.Issuer.Name
	}
	for i := range objects {
		d.Objects = append(d.Objects, objectState(&objects[i]))
	}
	for i := range services {
		d.Services = append(d.Services, exposure(sp, &services[i], objects))
		d.Mismatches = append(d.Mismatches, space.PortMismatches(&services[i], pods)...)
	}
	space.SortMismatches(d.Mismatches)
	return d
}

// exposure describes a Service labeled with the space.
func exposure(sp space.Space, svc *corev1.Service, objects []unstructured.Unstructured) ServiceExposure {
	e := ServiceExposure{Name: svc.Name, Routes: []string{}}
	exp, err := space.ExposureFromService(svc)
	if err != nil {
		e.Error = err.Error()
		return e
	}
	e.DNS = exp.DNS
	if exp.HTTPPath != "" {
		e.Protocol, e.Address = "HTTP", "https://"+sp.Host()+exp.HTTPPath
	} else {
		e.Protocol, e.Address = "TCP", sp.ServiceHost(svc.Name)+" (TLS, by SNI)"
	}
	for i := range objects {
		if slices.Contains(routeKinds, objects[i].GetKind()) && refersToService(&objects[i], svc.Name) {
			e.Routes = append(e.Routes, objects[i].GetKind()+"/"+objects[i].GetName())
		}
	}
	return e
}

type describeOptions struct {
	out    *outputFlag
	inject *injectFlags
}

func (r *root) newDescribe() *cobra.Command {
	o := &describeOptions{}
	sub := &cobra.Command{
		Use:     "space NAME",
		Aliases: []string{"spaces", "sp"},
		Short:   "Show a space: its settings, the reconciler's status, decco's objects, exposed Services and pods whose injection is missing or outdated",
		Long: `describe space shows what decco made for a space and the state of each part, with
the reason and how to fix it when something is not ready:

  - the reconciler's status of each part (pki, policies, routes, dns);
  - the objects decco made in the namespace (Issuer, Certificates, NetworkPolicies,
    routes, DNSEndpoint), with their own status;
  - the space's Services: where each is reachable and which route serves it;
  - the pods whose injection is missing, outdated or would be refused now.

Whether a pod's sidecar is up to date depends on the installation's sidecar settings.
spacectl asks the webhook for them, with a dry-run pod in the space; pass the
--sidecar-* flags to judge against other settings instead (say, before an upgrade).`,
		Example: r.examples(`  # Why is acme not reachable?
  spacectl describe space acme

  # The same, for a script
  spacectl describe space acme -o json`),
		Args:              exactArgs(1, "the space's name"),
		ValidArgsFunction: r.completeSpaces,
		RunE:              func(cmd *cobra.Command, args []string) error { return r.runDescribe(cmd, o, args[0]) },
	}
	o.out = addOutputFlag(sub, outTable, outTable, outYAML, outJSON)
	o.inject = bindInjectFlags(sub.Flags())
	return r.group("describe", "Show everything decco made for a space and the state of each part", "space NAME",
		"  spacectl describe space acme", sub)
}

func (r *root) runDescribe(cmd *cobra.Command, o *describeOptions, name string) error {
	if err := o.out.check(); err != nil {
		return err
	}
	if err := o.inject.validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	cl, err := r.connect()
	if err != nil {
		return err
	}
	ns, err := r.getSpace(ctx, cl, name)
	if err != nil {
		return err
	}
	var probe *space.Space
	if sp, err := space.FromNamespace(ns); err == nil {
		probe = &sp
	}
	cfg, err := o.inject.installed(ctx, cl, probe, r.streams.ErrOut)
	if err != nil {
		return err
	}
	pods, err := spacePods(ctx, cl, name)
	if err != nil {
		return err
	}
	objects, err := deccoObjects(ctx, cl, name)
	if err != nil {
		return err
	}
	svcs := &corev1.ServiceList{}
	if err := cl.c.List(ctx, svcs, client.InNamespace(name), client.HasLabels{space.LabelSpace}); err != nil {
		return fmt.Errorf("listing the Services of %s: %w", name, err)
	}
	d := describeSpace(ns, pods[name], objects, svcs.Items, cfg)
	if o.out.value != outTable {
		v, err := view("SpaceDescription", d)
		if err != nil {
			return err
		}
		return printObject(r.streams.Out, o.out.value, v)
	}
	return writeDescription(r.streams.Out, d)
}

// writeDescription prints a description the way kubectl describe does.
func writeDescription(out io.Writer, d SpaceDescription) error {
	var buf bytes.Buffer
	defer func() { writeTrimmed(out, buf.Bytes()) }()
	w := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	field := func(k, v string) { fmt.Fprintf(w, "%s:\t%s\n", k, v) }
	field("Name", d.Name)
	if d.Error != "" {
		field("Error", d.Error)
	}
	field("Host", orNone(d.Host))
	field("Project", orNone(d.Project))
	field("Issuer", orDefault(d.Issuer, "<installation default>"))
	field("Runtime class", orNone(d.RuntimeClass))
	field("Ready", fmt.Sprint(d.Ready))
	writeParts(w, d)
	writeObjects(w, d.Objects)
	writeServices(w, d.Services)
	writeMismatches(w, d.Mismatches)
	writePods(w, d)
	return w.Flush()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func writeParts(w io.Writer, d SpaceDescription) {
	fmt.Fprintln(w, "Status:")
	if !d.Reported {
		fmt.Fprintln(w, "  The reconciler has not reported on this space yet: is decco's manager running? (spacectl doctor)")
		return
	}
	fmt.Fprintln(w, "  PART\tREADY\tREASON\tMESSAGE")
	for _, p := range space.Parts {
		c, ok := d.Parts[p]
		if !ok {
			fmt.Fprintf(w, "  %s\tUnknown\t\tnot reported\n", p)
			continue
		}
		fmt.Fprintf(w, "  %s\t%t\t%s\t%s\n", p, c.Ready, c.Reason, oneLine(c.Message))
	}
}

func writeObjects(w io.Writer, objs []ObjectState) {
	fmt.Fprintln(w, "Objects:")
	if len(objs) == 0 {
		fmt.Fprintln(w, "  <none>")
		return
	}
	fmt.Fprintln(w, "  KIND\tNAME\tSTATE\tREASON\tMESSAGE")
	for _, o := range objs {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", o.Kind, o.Name, o.State, o.Reason, oneLine(o.Message))
	}
}

func writeServices(w io.Writer, svcs []ServiceExposure) {
	fmt.Fprintln(w, "Services:")
	if len(svcs) == 0 {
		fmt.Fprintln(w, "  <none>")
		return
	}
	fmt.Fprintln(w, "  NAME\tEXPOSED AS\tDNS\tROUTES")
	for _, s := range svcs {
		if s.Error != "" {
			fmt.Fprintf(w, "  %s\tinvalid: %s\t\t\n", s.Name, oneLine(s.Error))
			continue
		}
		routes := strings.Join(s.Routes, ",")
		fmt.Fprintf(w, "  %s\t%s %s\t%t\t%s\n", s.Name, s.Protocol, s.Address, s.DNS, orNone(routes))
	}
}

// writeMismatches lists the Service ports no pod serves; nothing when
// there are none.
func writeMismatches(w io.Writer, ms []space.PortMismatch) {
	if len(ms) == 0 {
		return
	}
	fmt.Fprintln(w, "Service ports no pod declares:")
	fmt.Fprintln(w, "  SERVICE\tPORT\tTARGET\tPODS MISSING IT\tFIX")
	for _, m := range ms {
		_, fix, _ := strings.Cut(m.Message(), "; ")
		fmt.Fprintf(w, "  %s\t%d\t%s\t%d of %d\t%s\n", m.Service, m.Port, m.Target, m.Missing, m.Selected, fix)
	}
}

func writePods(w io.Writer, d SpaceDescription) {
	c := d.Pods
	fmt.Fprintf(w, "Pods:\n  %d injected, %d missing, %d outdated, %d refused, %d not injected (only injected pods are open to other pods)\n",
		c.Injected, c.Missing, c.Outdated, c.Refused, c.NotInjected)
	var problems []PodInjection
	for _, p := range d.PodStates {
		closed := p.State == PodNotInjected && !strings.HasPrefix(p.Detail, "finished")
		if closed || p.State == PodMissing || p.State == PodOutdated || p.State == PodRefused {
			problems = append(problems, p)
		}
	}
	if len(problems) == 0 {
		return
	}
	fmt.Fprintln(w, "  POD\tINJECTION\tDETAIL")
	for _, p := range problems {
		fmt.Fprintf(w, "  %s\t%s\t%s\n", p.Pod, p.State, oneLine(p.Detail))
	}
}

// writeTrimmed writes text without the spaces tabwriter pads empty last
// cells with.
func writeTrimmed(out io.Writer, text []byte) {
	for _, line := range bytes.SplitAfter(text, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		out.Write(append(bytes.TrimRight(line, " \n"), '\n'))
	}
}

// oneLine keeps a table row on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

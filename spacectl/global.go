package spacectl

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/dns/rfc2136"
	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/space"
)

// GlobalRegion is one region of a global name, as one cluster or the
// DNS zone sees it.
type GlobalRegion struct {
	GlobalName string `json:"globalName"`
	// Source is "context <name>" for a cluster's view, "dns <server>"
	// for the zone's.
	Source string `json:"source"`
	// Region is the space (a cluster's view) or owner/space (the zone's).
	Region string `json:"region"`
	// Health is the space's readiness as its cluster reports it
	// ("Ready" or the first part that is not); "-" in the zone's view.
	Health string `json:"health"`
	// AtName says whether the region's address is at the global name:
	// published, withdrawn, kept as the last, or (zone) listed.
	AtName    string   `json:"atName"`
	Addresses []string `json:"addresses,omitempty"`
	Message   string   `json:"message,omitempty"`
}

// clusterRegions are the regions of global names among one cluster's
// space namespaces, from their status.
func clusterRegions(source string, nss []corev1.Namespace) []GlobalRegion {
	var out []GlobalRegion
	for i := range nss {
		sp, err := space.FromNamespace(&nss[i])
		if err != nil || sp.GlobalName == "" {
			continue
		}
		st, _ := space.ParseStatus(nss[i].Annotations[space.AnnotationStatus])
		out = append(out, clusterRegion(source, sp, st))
	}
	return out
}

// clusterRegion reads a region's standing from its status: health from
// the parts a region is judged by (pki, routes; the dns part names a
// missing ready pod), and where its address is from the dns part.
func clusterRegion(source string, sp space.Space, st space.Status) GlobalRegion {
	g := GlobalRegion{GlobalName: sp.GlobalName, Source: source, Region: sp.Name, Health: "Ready", AtName: "unknown"}
	for _, p := range []string{space.PartPKI, space.PartRoutes} {
		if s := partState(st, p); s != "Ready" {
			g.Health = p + " " + s
			break
		}
	}
	c, ok := st.Parts[space.PartDNS]
	switch {
	case !ok:
		return g
	case c.Ready:
		g.AtName = "published"
		return g
	case c.Reason == reconciler.ReasonRegionWithdrawn:
		g.AtName = "withdrawn"
	case c.Reason == reconciler.ReasonLastRegion:
		g.AtName = "kept as the last"
	default:
		g.AtName = "dns " + c.Reason
	}
	if g.Health == "Ready" && (c.Reason == reconciler.ReasonRegionWithdrawn || c.Reason == reconciler.ReasonLastRegion) {
		g.Health = "NotReady"
	}
	g.Message = c.Message
	return g
}

// zoneRegions are the regions the zone lists at a global name: each
// installation's ownership record, and whether its addresses are served.
func zoneRegions(source string, v rfc2136.SharedView) []GlobalRegion {
	var out []GlobalRegion
	for _, o := range v.Owners {
		g := GlobalRegion{GlobalName: v.Name, Source: source, Region: o.Owner + "/" + o.Space, Health: "-", AtName: "published", Addresses: o.Targets}
		var missing []string
		for _, a := range o.Targets {
			if !slices.Contains(v.Served, a) {
				missing = append(missing, a)
			}
		}
		if len(missing) > 0 {
			g.AtName = "listed, not served"
			g.Message = "the zone does not serve " + strings.Join(missing, ", ")
		}
		out = append(out, g)
	}
	var others []string
	for _, a := range v.Served {
		if !slices.ContainsFunc(v.Owners, func(o rfc2136.SharedOwner) bool { return slices.Contains(o.Targets, a) }) {
			others = append(others, a)
		}
	}
	if len(others) > 0 {
		out = append(out, GlobalRegion{GlobalName: v.Name, Source: source, Region: "(not decco's)", Health: "-", AtName: "served", Addresses: others})
	}
	return out
}

// contextClient connects to one kubeconfig context.
func (r *root) contextClient(name string) (client.Client, error) {
	raw, err := r.kube.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig context %q: %w", name, err)
	}
	return client.New(cfg, client.Options{Scheme: manager.Scheme})
}

// globalOptions are get spaces' flags for --global.
type globalOptions struct {
	on        bool
	contexts  []string
	dnsServer string
}

// runGetGlobal lists the regions of global names: each context's
// spaces that are regions, and, with --dns-server, what the zone lists.
func (r *root) runGetGlobal(ctx context.Context, o *getOptions, names []string) error {
	var regions []GlobalRegion
	contexts := o.global.contexts
	if len(contexts) == 0 {
		contexts = []string{""}
	}
	for _, name := range contexts {
		var c client.Client
		source := "context " + name
		if name == "" {
			cl, err := r.connect()
			if err != nil {
				return err
			}
			c, source = cl.c, "current context"
		} else {
			var err error
			if c, err = r.contextClient(name); err != nil {
				return err
			}
		}
		list := &corev1.NamespaceList{}
		if err := c.List(ctx, list, spaceSelector); err != nil {
			return fmt.Errorf("%s: listing space namespaces: %w", source, err)
		}
		regions = append(regions, clusterRegions(source, list.Items)...)
	}
	globals := names
	if len(globals) == 0 {
		for _, g := range regions {
			if !slices.Contains(globals, g.GlobalName) {
				globals = append(globals, g.GlobalName)
			}
		}
	}
	regions = slices.DeleteFunc(regions, func(g GlobalRegion) bool { return !slices.Contains(globals, g.GlobalName) })
	if o.global.dnsServer != "" {
		for _, name := range globals {
			v, err := rfc2136.ReadShared(ctx, o.global.dnsServer, name)
			if err != nil {
				return err
			}
			regions = append(regions, zoneRegions("dns "+o.global.dnsServer, v)...)
		}
	}
	slices.SortStableFunc(regions, func(a, b GlobalRegion) int { return strings.Compare(a.GlobalName, b.GlobalName) })
	return r.printRegions(o.out.value, regions)
}

func (r *root) printRegions(format string, regions []GlobalRegion) error {
	if format != outTable {
		items := make([]*unstructured.Unstructured, 0, len(regions))
		for _, g := range regions {
			v, err := view("GlobalRegion", g)
			if err != nil {
				return err
			}
			items = append(items, v)
		}
		return printObject(r.streams.Out, format, viewList(items))
	}
	if len(regions) == 0 {
		fmt.Fprintln(r.streams.ErrOut, "No space with a global name found.")
		return nil
	}
	rows := make([][]any, len(regions))
	for i, g := range regions {
		addrs := strings.Join(g.Addresses, ",")
		if addrs == "" {
			addrs = "-"
		}
		rows[i] = []any{g.GlobalName, g.Source, g.Region, g.Health, g.AtName, addrs}
	}
	return printTable(r.streams.Out, table([]string{"Global Name", "Seen By", "Region", "Health", "At The Name", "Addresses"}, rows))
}

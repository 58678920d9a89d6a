package cniinstall

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// Options are the flags of `decco-cni install` and `decco-cni check`,
// defined once here so the chart's tests parse the DaemonSet's arguments
// with them.
type Options struct {
	// BinDir and ConfDir are the host's CNI directories as mounted in the
	// installer's container; HostConfDir is the conf directory as the host
	// sees it.
	BinDir, ConfDir, HostConfDir string
	// DaemonSet is namespace/name of the installer's DaemonSet, read on
	// termination (Removal); empty: decco stays chained.
	DaemonSet string
	// Resync is how often a pass runs besides on file changes.
	Resync time.Duration
}

// Bind defines the flags on fs.
func (o *Options) Bind(fs *flag.FlagSet) {
	fs.StringVar(&o.BinDir, "cni-bin-dir", "/host/opt/cni/bin", "The host's CNI bin directory, as mounted in this container.")
	fs.StringVar(&o.ConfDir, "cni-conf-dir", "/host/etc/cni/net.d", "The host's CNI conf directory, as mounted in this container.")
	fs.StringVar(&o.HostConfDir, "host-cni-conf-dir", "/etc/cni/net.d", "The CNI conf directory as the host sees it (where the plugin finds its kubeconfig).")
	fs.StringVar(&o.DaemonSet, "daemonset", "", "namespace/name of the installer's DaemonSet: on termination decco is taken out of the chain only when it is gone. Empty: never.")
	fs.DurationVar(&o.Resync, "resync", time.Minute, "How often the installation is checked besides on file changes (and the plugin's token refreshed).")
}

// Parse parses args with the flags of `decco-cni <cmd>`.
func Parse(cmd string, args []string) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("decco-cni "+cmd, flag.ContinueOnError)
	o.Bind(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if ns, name, ok := strings.Cut(o.DaemonSet, "/"); o.DaemonSet != "" && (!ok || ns == "" || name == "" || strings.Contains(name, "/")) {
		return o, fmt.Errorf("--daemonset %q: want namespace/name", o.DaemonSet)
	}
	if o.Resync <= 0 {
		return o, fmt.Errorf("--resync %s: must be positive", o.Resync)
	}
	return o, nil
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/space"
)

// podAnnotations is the capability containerd fills with the pod's
// annotations when the conflist declares it.
const podAnnotations = "io.kubernetes.cri.pod-annotations"

// netConf is the plugin's configuration: the standard keys and the
// runtime's arguments.
type netConf struct {
	types.PluginConf
	RuntimeConfig map[string]json.RawMessage `json:"runtimeConfig,omitempty"`
}

func parseConf(stdin []byte) (*netConf, error) {
	conf := &netConf{}
	if err := json.Unmarshal(stdin, conf); err != nil {
		return nil, fmt.Errorf("decco-cni: reading the network configuration: %w", err)
	}
	if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
		return nil, fmt.Errorf("decco-cni: reading the previous plugin's result: %w", err)
	}
	if conf.PrevResult == nil {
		return nil, errors.New("decco-cni: no previous result: list decco-cni after the interface plugins (bridge, ...) in a conflist")
	}
	return conf, nil
}

// plan is the pod's interception plan, or nil when it has none.
func (c *netConf) plan() (*intercept.Plan, error) {
	raw, ok := c.RuntimeConfig[podAnnotations]
	if !ok {
		return nil, nil
	}
	var ann map[string]string
	if err := json.Unmarshal(raw, &ann); err != nil {
		return nil, fmt.Errorf("decco-cni: reading the pod's annotations: %w", err)
	}
	v, ok := ann[space.AnnotationInterception]
	if !ok {
		return nil, nil
	}
	p, err := intercept.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("decco-cni: the pod's %s: %w", space.AnnotationInterception, err)
	}
	return &p, nil
}

func cmdAdd(args *skel.CmdArgs) error {
	conf, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	p, err := conf.plan()
	if err != nil {
		return err
	}
	if p != nil {
		if err := ns.WithNetNSPath(args.Netns, func(ns.NetNS) error { return install(*p) }); err != nil {
			return fmt.Errorf("decco-cni: installing the interception rules in %s: %w", args.Netns, err)
		}
	}
	return types.PrintResult(conf.PrevResult, conf.CNIVersion)
}

// cmdCheck verifies that a pod with a plan still has decco's chains.
func cmdCheck(args *skel.CmdArgs) error {
	conf, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	p, err := conf.plan()
	if err != nil || p == nil {
		return err
	}
	return ns.WithNetNSPath(args.Netns, func(ns.NetNS) error {
		for _, f := range []intercept.Family{intercept.IPv4, intercept.IPv6} {
			ok, err := installed(f)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("decco-cni: the pod's %s interception rules are missing", f)
			}
		}
		return nil
	})
}

// cmdDel has nothing to undo: the rules go with the network namespace.
func cmdDel(*skel.CmdArgs) error { return nil }

// install applies the plan in the current network namespace, IPv6 first
// so that the IPv4 check rule, which the sidecar dials first, comes last.
// A namespace that already has decco's chains (ADD repeated) is left as it
// is.
func install(p intercept.Plan) error {
	for _, f := range []intercept.Family{intercept.IPv6, intercept.IPv4} {
		ok, err := installed(f)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		cmd := exec.Command(lookPath(f.Command()), "--noflush", "--wait=10")
		cmd.Stdin = strings.NewReader(intercept.Rules(p, f))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", f.Command(), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// installed reports whether decco's inbound chain exists for family f.
func installed(f intercept.Family) (bool, error) {
	bin := "iptables"
	if f == intercept.IPv6 {
		bin = "ip6tables"
	}
	out, err := exec.Command(lookPath(bin+"-save"), "-t", "nat").CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("%s-save: %w: %s", bin, err, bytes.TrimSpace(out))
	}
	return bytes.Contains(out, []byte(":"+intercept.InboundChain+" ")), nil
}

// lookPath finds an iptables command on PATH or in the sbin directories,
// which a runtime's environment may leave off PATH.
func lookPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return name
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/decco-dev/decco/cniconf"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/space"
)

// podAnnotations is the capability containerd fills with the pod's
// annotations when the conflist declares it.
const podAnnotations = cniconf.PodAnnotationsCapability

// netConf is the plugin's configuration: the standard keys, the runtime's
// arguments and the kubeconfig its installer wrote.
type netConf struct {
	types.PluginConf
	RuntimeConfig map[string]json.RawMessage `json:"runtimeConfig,omitempty"`
	// Kubeconfig, on the host, lets the plugin read a pod whose
	// annotations the runtime didn't pass.
	Kubeconfig string `json:"kubeconfig,omitempty"`
}

// podArgs are the Kubernetes arguments runtimes pass in CNI_ARGS, each
// field named as its key (types.LoadArgs matches names exactly).
type podArgs struct {
	types.CommonArgs
	K8S_POD_NAMESPACE types.UnmarshallableString
	K8S_POD_NAME      types.UnmarshallableString
	K8S_POD_UID       types.UnmarshallableString
}

// parsePodArgs reads the three keys decco needs; the others are the
// runtime's business, whether or not it said IgnoreUnknown.
func parsePodArgs(args string) (podArgs, error) {
	var a podArgs
	if args != "" {
		args = ";" + args
	}
	if err := types.LoadArgs("IgnoreUnknown=1"+args, &a); err != nil {
		return a, fmt.Errorf("decco-cni: reading CNI_ARGS: %w", err)
	}
	return a, nil
}

// source is where the plugin learns a pod's annotations.
type source int

const (
	// fromRuntime: the runtime passed them (containerd, with the
	// capability declared).
	fromRuntime source = iota
	// fromAPIServer: the runtime didn't (CRI-O, older containerd), and the
	// installer gave the plugin a kubeconfig to read the pod with.
	fromAPIServer
	// fromNowhere: neither; the pod gets no plan, and a pod of a space
	// fails closed at its sidecar's readiness.
	fromNowhere
)

// source decides where the annotations come from: the runtime's whenever
// it passed them, the apiserver only when it didn't and the pod is named.
func (c *netConf) source(pod podArgs) source {
	if _, ok := c.RuntimeConfig[podAnnotations]; ok {
		return fromRuntime
	}
	if c.Kubeconfig != "" && pod.K8S_POD_NAMESPACE != "" && pod.K8S_POD_NAME != "" {
		return fromAPIServer
	}
	return fromNowhere
}

// getPod reads a pod from the apiserver.
type getPod func(ctx context.Context, namespace, name string) (*corev1.Pod, error)

// apiserverPods reads pods with the kubeconfig at path.
func apiserverPods(path string) getPod {
	return func(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
		rc, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("reading kubeconfig %s: %w", path, err)
		}
		c, err := corev1client.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		return c.Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	}
}

// apiserverTimeout bounds reading a pod; the runtime retries a failed
// sandbox.
const apiserverTimeout = 10 * time.Second

// annotations are the pod's annotations, from where source says.
func (c *netConf) annotations(pod podArgs, get getPod) (map[string]string, error) {
	switch c.source(pod) {
	case fromRuntime:
		var ann map[string]string
		if err := json.Unmarshal(c.RuntimeConfig[podAnnotations], &ann); err != nil {
			return nil, fmt.Errorf("decco-cni: reading the pod's annotations: %w", err)
		}
		return ann, nil
	case fromAPIServer:
		ctx, cancel := context.WithTimeout(context.Background(), apiserverTimeout)
		defer cancel()
		ns, name := string(pod.K8S_POD_NAMESPACE), string(pod.K8S_POD_NAME)
		p, err := get(ctx, ns, name)
		if err != nil {
			return nil, fmt.Errorf("decco-cni: reading pod %s/%s from the apiserver (the runtime passed no annotations): %w", ns, name, err)
		}
		if uid := string(pod.K8S_POD_UID); uid != "" && uid != string(p.UID) {
			return nil, fmt.Errorf("decco-cni: pod %s/%s is %s in the apiserver, not %s: it was recreated; the runtime retries with the new one", ns, name, p.UID, uid)
		}
		return p.Annotations, nil
	}
	return nil, nil
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
func (c *netConf) plan(args *skel.CmdArgs, get getPod) (*intercept.Plan, error) {
	pod, err := parsePodArgs(args.Args)
	if err != nil {
		return nil, err
	}
	ann, err := c.annotations(pod, get)
	if err != nil {
		return nil, err
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
	p, err := conf.plan(args, apiserverPods(conf.Kubeconfig))
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
	p, err := conf.plan(args, apiserverPods(conf.Kubeconfig))
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

// Package cniconf chains decco-cni into a node's CNI network configuration
// and takes it out again: pure functions from a configuration file's name
// and bytes to the file decco's installer writes (cmd/decco-cni install).
//
// The runtime (containerd, CRI-O) uses the first file of its conf
// directory by name with the extension .conf, .conflist or .json: the
// node's primary network. A .conflist lists plugins run in order; decco's
// entry goes last, after the interface plugins whose result it needs. A
// .conf or .json file holds a single plugin and has no place for a second
// one, so chaining turns it into a .conflist of the same base name (the
// installer writes that file and removes the old one, which would sort
// first). Everything else in the file is kept as the primary CNI wrote it.
package cniconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// PluginType is decco's plugin's "type" in a configuration: the name of
// its binary in the CNI bin directory.
const PluginType = "decco-cni"

// PodAnnotationsCapability is the capability through which containerd
// passes the pod's annotations to a plugin that declares it.
const PodAnnotationsCapability = "io.kubernetes.cri.pod-annotations"

// extensions are the files a runtime reads as network configurations, as
// libcni lists them.
var extensions = []string{".conf", ".conflist", ".json"}

// IsConfig reports whether a runtime reads a file of this name as a
// network configuration.
func IsConfig(name string) bool { return slices.Contains(extensions, filepath.Ext(name)) }

// Primary returns the configuration the runtime uses among the files of a
// conf directory: the first by name. ok is false when there is none yet
// (the primary CNI has not written it).
func Primary(names []string) (name string, ok bool) {
	var configs []string
	for _, n := range names {
		if IsConfig(n) {
			configs = append(configs, n)
		}
	}
	if len(configs) == 0 {
		return "", false
	}
	slices.Sort(configs)
	return configs[0], true
}

// Entry is decco's plugin entry in a conflist.
type Entry struct {
	// Kubeconfig is where the plugin finds its credentials for reading a
	// pod from the apiserver, for runtimes that don't pass the pod's
	// annotations; empty: the plugin never reads the apiserver.
	Kubeconfig string
}

// object is the entry as JSON: the type, the capability containerd fills
// with the pod's annotations, and the kubeconfig.
func (e Entry) object() map[string]any {
	o := map[string]any{
		"type":         PluginType,
		"capabilities": map[string]any{PodAnnotationsCapability: true},
	}
	if e.Kubeconfig != "" {
		o["kubeconfig"] = e.Kubeconfig
	}
	return o
}

// Result is a configuration file after a change.
type Result struct {
	// Name is the file's name: the input's, or for a single-plugin file
	// chained, the .conflist that replaces it.
	Name string
	// Data is the file's content.
	Data []byte
	// Changed is false when the input already was the result; the
	// installer then writes nothing.
	Changed bool
}

// Chain returns the configuration with e as the last plugin. A
// configuration already holding decco's entry, as e, is unchanged; one
// holding another version of it (an older kubeconfig path) gets e in its
// place. Malformed input is an error naming the file and what is wrong.
func Chain(name string, data []byte, e Entry) (Result, error) {
	c, err := parse(name, data)
	if err != nil {
		return Result{}, err
	}
	want, _ := json.Marshal(e.object())
	var kept []json.RawMessage
	found, same := false, false
	for _, p := range c.plugins {
		if !isDecco(p) {
			kept = append(kept, p)
			continue
		}
		if !found {
			same = equalJSON(p, want)
			kept = append(kept, want) // in place: its position was chosen
		}
		found = true
	}
	if !found {
		kept = append(kept, want)
	}
	if found && same && len(kept) == len(c.plugins) && !c.single {
		return Result{Name: name, Data: data}, nil
	}
	out, err := c.encode(kept)
	if err != nil {
		return Result{}, err
	}
	return Result{Name: c.listName(), Data: out, Changed: true}, nil
}

// Unchain returns the configuration without decco's entry. A
// configuration without it is unchanged, whatever its form.
func Unchain(name string, data []byte) (Result, error) {
	c, err := parse(name, data)
	if err != nil {
		return Result{}, err
	}
	var kept []json.RawMessage
	for _, p := range c.plugins {
		if !isDecco(p) {
			kept = append(kept, p)
		}
	}
	if len(kept) == len(c.plugins) {
		return Result{Name: name, Data: data}, nil
	}
	out, err := c.encode(kept)
	if err != nil {
		return Result{}, err
	}
	return Result{Name: name, Data: out, Changed: true}, nil
}

// Chained reports whether the configuration runs decco's plugin as e.
func Chained(name string, data []byte, e Entry) (bool, error) {
	r, err := Chain(name, data, e)
	if err != nil {
		return false, err
	}
	return !r.Changed, nil
}

// conf is a parsed configuration: its top-level keys and its plugins.
type conf struct {
	name    string
	top     map[string]json.RawMessage
	plugins []json.RawMessage
	// single: a .conf or .json file, one plugin at the top level.
	single bool
}

func parse(name string, data []byte) (*conf, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("CNI configuration %s: %s; the runtime can't use it either: fix it, or the primary CNI that wrote it", name, fmt.Sprintf(format, args...))
	}
	if !IsConfig(name) {
		return nil, fmt.Errorf("CNI configuration %s: a runtime reads only %s files", name, strings.Join(extensions, ", "))
	}
	c := &conf{name: name, single: filepath.Ext(name) != ".conflist"}
	if err := json.Unmarshal(data, &c.top); err != nil || c.top == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, bad("not a JSON object (%v)", err)
	}
	if err := requireString(c.top, "name"); err != nil {
		return nil, bad("%v", err)
	}
	if c.single {
		if err := checkPlugin(data); err != nil {
			return nil, bad("%v", err)
		}
		c.plugins = []json.RawMessage{data}
		return c, c.checkInterface(bad)
	}
	raw, ok := c.top["plugins"]
	if !ok {
		return nil, bad(`no "plugins" list`)
	}
	if err := json.Unmarshal(raw, &c.plugins); err != nil {
		return nil, bad(`"plugins" must be a list of plugin objects (%v)`, err)
	}
	for i, p := range c.plugins {
		if err := checkPlugin(p); err != nil {
			return nil, bad("plugins[%d]: %v", i, err)
		}
	}
	return c, c.checkInterface(bad)
}

// checkInterface requires a plugin other than decco's: decco-cni acts on
// the result of the plugins before it and can't be a network alone.
func (c *conf) checkInterface(bad func(string, ...any) error) error {
	if slices.ContainsFunc(c.plugins, func(p json.RawMessage) bool { return !isDecco(p) }) {
		return nil
	}
	return bad("no plugin but %s: it needs an interface plugin (bridge, ...) before it", PluginType)
}

// checkPlugin requires a plugin to be an object with a type.
func checkPlugin(p json.RawMessage) error {
	var o map[string]json.RawMessage
	if err := json.Unmarshal(p, &o); err != nil || o == nil {
		return errors.New("a plugin must be a JSON object")
	}
	return requireString(o, "type")
}

func requireString(o map[string]json.RawMessage, key string) error {
	var s string
	if err := json.Unmarshal(o[key], &s); err != nil || s == "" {
		return fmt.Errorf("%q must be a non-empty string", key)
	}
	return nil
}

func isDecco(p json.RawMessage) bool {
	var o struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(p, &o) == nil && o.Type == PluginType
}

func equalJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// encode writes the configuration as a conflist with plugins. A single
// plugin file becomes a list named and versioned as the plugin was, as
// libcni itself reads one.
func (c *conf) encode(plugins []json.RawMessage) ([]byte, error) {
	top := c.top
	if c.single {
		top = map[string]json.RawMessage{}
		for _, k := range []string{"cniVersion", "name"} {
			if v, ok := c.top[k]; ok {
				top[k] = v
			}
		}
	}
	list, err := json.Marshal(plugins)
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(top))
	for k, v := range top {
		out[k] = v
	}
	out["plugins"] = list
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// listName is the file a chained configuration is written to.
func (c *conf) listName() string {
	if !c.single {
		return c.name
	}
	return strings.TrimSuffix(c.name, filepath.Ext(c.name)) + ".conflist"
}

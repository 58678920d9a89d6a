package intercept

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Version is the plan format the plugin understands.
const Version = 1

// Plan is what the CNI plugin installs in one pod's network namespace.
type Plan struct {
	Version int `json:"v"`
	// SidecarUID is the sidecar's user: its own connections are never
	// redirected (they are the TLS ones).
	SidecarUID int64 `json:"uid"`
	// Inbound redirects connections to the pod.
	Inbound Inbound `json:"inbound"`
	// Outbound redirects the app's connections to the cluster.
	Outbound Outbound `json:"outbound"`
	// CheckPort, on loopback, reaches HealthPort once the rules are in.
	CheckPort  int32 `json:"checkPort"`
	HealthPort int32 `json:"healthPort"`
}

// Inbound is the inbound half of a plan.
type Inbound struct {
	// Port is the TLS listener that requires a client certificate.
	Port int32 `json:"port"`
	// HTTPPort is the TLS listener that asks for none, for HTTPPorts.
	HTTPPort  int32   `json:"httpPort,omitempty"`
	HTTPPorts []int32 `json:"httpPorts,omitempty"`
	// Exclude are ports never redirected.
	Exclude []int32 `json:"exclude,omitempty"`
}

// Outbound is the outbound half of a plan.
type Outbound struct {
	// Port is the sidecar's transparent TLS client on loopback.
	Port int32 `json:"port"`
	// CIDRs are the destinations redirected: the pod and Service ranges.
	CIDRs []netip.Prefix `json:"cidrs"`
	// ExcludeCIDRs and ExcludePorts are never redirected.
	ExcludeCIDRs []netip.Prefix `json:"excludeCIDRs,omitempty"`
	ExcludePorts []int32        `json:"excludePorts,omitempty"`
}

// Ranges are the cluster's address ranges, from the manager's flags.
type Ranges struct {
	// Pods and Services are the cluster's pod and Service CIDRs (either
	// family, both for dual-stack).
	Pods, Services []netip.Prefix
	// Exclude are destinations in those ranges that don't speak decco's
	// TLS: the apiserver's Service address and endpoints, say.
	Exclude []netip.Prefix
}

// DNSPort is never redirected: cluster DNS is not a space's service.
const DNSPort = 53

// Encode renders p as the annotation's value; the same plan always gives
// the same string.
func (p Plan) Encode() string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("encoding an interception plan: %v", err)) // plain structs: can't fail
	}
	return string(b)
}

// Parse reads an annotation value written by Encode and validates it.
func Parse(s string) (Plan, error) {
	var p Plan
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return Plan{}, fmt.Errorf("interception plan: %w", err)
	}
	if err := p.Validate(); err != nil {
		return Plan{}, fmt.Errorf("interception plan: %w", err)
	}
	return p, nil
}

// Validate checks what the rules depend on: a known version, real ports,
// a non-root sidecar user and at least one outbound range.
func (p Plan) Validate() error {
	var errs []error
	if p.Version != Version {
		errs = append(errs, fmt.Errorf("version %d: this plugin reads version %d", p.Version, Version))
	}
	if p.SidecarUID <= 0 {
		errs = append(errs, fmt.Errorf("uid %d: want the sidecar's non-root user", p.SidecarUID))
	}
	ports := map[string]int32{"inbound.port": p.Inbound.Port, "outbound.port": p.Outbound.Port, "checkPort": p.CheckPort, "healthPort": p.HealthPort}
	if p.Inbound.HTTPPort != 0 || len(p.Inbound.HTTPPorts) > 0 {
		ports["inbound.httpPort"] = p.Inbound.HTTPPort
	}
	for _, k := range sortedKeys(ports) {
		if !validPort(ports[k]) {
			errs = append(errs, fmt.Errorf("%s %d: want a port from 1 to 65535", k, ports[k]))
		}
	}
	for _, list := range [][]int32{p.Inbound.HTTPPorts, p.Inbound.Exclude, p.Outbound.ExcludePorts} {
		for _, n := range list {
			if !validPort(n) {
				errs = append(errs, fmt.Errorf("port %d: want a port from 1 to 65535", n))
			}
		}
	}
	if len(p.Outbound.CIDRs) == 0 {
		errs = append(errs, errors.New("outbound.cidrs is empty: want the cluster's pod and Service ranges"))
	}
	for _, c := range slices.Concat(p.Outbound.CIDRs, p.Outbound.ExcludeCIDRs) {
		if !c.IsValid() || c.Masked() != c {
			errs = append(errs, fmt.Errorf("range %s: want a network address with its prefix length", c))
		}
	}
	return errors.Join(errs...)
}

func validPort(n int32) bool { return n >= 1 && n <= 65535 }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

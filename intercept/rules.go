package intercept

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Chains the rules live in, so that they read as decco's in iptables -L
// and never mix with what another plugin put in the built-in chains.
const (
	InboundChain  = "DECCO_INBOUND"
	OutboundChain = "DECCO_OUTBOUND"
	// GuardChain, in the filter table, refuses the sidecar's connections
	// to its own transparent listeners.
	GuardChain = "DECCO_GUARD"
)

// Family is an address family: iptables or ip6tables.
type Family int

// Families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// Command is the iptables-restore of f.
func (f Family) Command() string {
	if f == IPv6 {
		return "ip6tables-restore"
	}
	return "iptables-restore"
}

func (f Family) loopback() string {
	if f == IPv6 {
		return "::1/128"
	}
	return "127.0.0.1/32"
}

func (f Family) has(p netip.Prefix) bool { return p.Addr().Is4() == (f == IPv4) }

// Rules renders the plan's nat table for family f as iptables-restore
// input (to be read with --noflush: only decco's chains and jumps are
// written). Order matters and is part of the contract tested in
// rules_test.go: exclusions before redirects, and the check rule, which
// tells the sidecar everything is in, is one table commit with the rest.
func Rules(p Plan, f Family) string {
	var b strings.Builder
	line := func(parts ...string) { b.WriteString(strings.Join(parts, " ") + "\n") }
	uid := strconv.FormatInt(p.SidecarUID, 10)

	// The guard: the sidecar never connects to its own transparent
	// listeners. A connection that reaches one without a redirect (a
	// client dialing 15006 or 15001 directly) has itself as its "original
	// destination"; without this rule stunnel would dial itself, accept
	// that, dial itself again, and spawn threads until the container is
	// OOM-killed. Refused here, the loop ends at its first hop.
	line("*filter")
	line(":"+GuardChain, "-", "[0:0]")
	line("-A", "OUTPUT", "-p", "tcp", "-j", GuardChain)
	line("-A", GuardChain, "-p", "tcp", "-m", "owner", "--uid-owner", uid, "-m", "addrtype", "--dst-type", "LOCAL",
		"-m", "multiport", "--dports", joinPorts(p.transparentListeners()), "-j", "REJECT", "--reject-with", "tcp-reset")
	line("COMMIT")

	line("*nat")
	line(":"+InboundChain, "-", "[0:0]")
	line(":"+OutboundChain, "-", "[0:0]")
	line("-A", "PREROUTING", "-p", "tcp", "-j", InboundChain)
	line("-A", "OUTPUT", "-p", "tcp", "-j", OutboundChain)

	in := p.Inbound
	for _, port := range p.inboundExcluded() {
		line("-A", InboundChain, "-p", "tcp", "--dport", itoa(port), "-j", "RETURN")
	}
	for _, port := range unique(in.HTTPPorts) {
		line("-A", InboundChain, "-p", "tcp", "--dport", itoa(port), "-j", "REDIRECT", "--to-ports", itoa(in.HTTPPort))
	}
	line("-A", InboundChain, "-p", "tcp", "-j", "REDIRECT", "--to-ports", itoa(in.Port))

	// First, so that nothing below can hide the rules from the sidecar.
	line("-A", OutboundChain, "-p", "tcp", "-d", f.loopback(), "--dport", itoa(p.CheckPort),
		"-m", "owner", "--uid-owner", uid, "-j", "REDIRECT", "--to-ports", itoa(p.HealthPort))
	line("-A", OutboundChain, "-o", "lo", "-j", "RETURN")
	line("-A", OutboundChain, "-m", "owner", "--uid-owner", uid, "-j", "RETURN")
	for _, port := range unique(append([]int32{DNSPort}, p.Outbound.ExcludePorts...)) {
		line("-A", OutboundChain, "-p", "tcp", "--dport", itoa(port), "-j", "RETURN")
	}
	for _, c := range p.Outbound.ExcludeCIDRs {
		if f.has(c) {
			line("-A", OutboundChain, "-d", c.String(), "-j", "RETURN")
		}
	}
	for _, c := range p.Outbound.CIDRs {
		if f.has(c) {
			line("-A", OutboundChain, "-p", "tcp", "-d", c.String(), "-j", "REDIRECT", "--to-ports", itoa(p.Outbound.Port))
		}
	}
	line("COMMIT")
	return b.String()
}

// transparentListeners are the sidecar's listeners that read a
// connection's original destination: its two inbound servers and its
// outbound client.
func (p Plan) transparentListeners() []int32 {
	return unique([]int32{p.Inbound.Port, p.Inbound.HTTPPort, p.Outbound.Port})
}

func joinPorts(ports []int32) string {
	s := make([]string, len(ports))
	for i, port := range ports {
		s[i] = itoa(port)
	}
	return strings.Join(s, ",")
}

// inboundExcluded are the ports the inbound rules return untouched: the
// sidecar's listeners and health port, and the plan's exclusions.
func (p Plan) inboundExcluded() []int32 {
	return unique(append([]int32{p.Inbound.Port, p.Inbound.HTTPPort, p.HealthPort}, p.Inbound.Exclude...))
}

// Intercepts reports whether the inbound rules hand a TCP connection to
// port to one of the sidecar's TLS listeners, as Rules writes them: every
// valid port but those the rules return untouched.
func (p Plan) Intercepts(port int32) bool {
	return validPort(port) && !slices.Contains(p.inboundExcluded(), port)
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// unique drops zeros and repeats, keeping the first order.
func unique(ports []int32) []int32 {
	seen := map[int32]bool{}
	out := ports[:0:0]
	for _, p := range ports {
		if p != 0 && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// String names a family for messages.
func (f Family) String() string { return fmt.Sprintf("IPv%d", int(f)) }

package main

import (
	"encoding/json"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/prereq"
)

// netns creates a network namespace for one test, as a runtime does for a
// pod sandbox, and returns its path.
func netns(t *testing.T) (name, path string) {
	t.Helper()
	if testing.Short() {
		t.Skip("creates network namespaces")
	}
	prereq.Root(t, "network namespaces for the CNI plugin")
	prereq.Command(t, "apt-get install iptables", "iptables-restore")
	prereq.Command(t, "apt-get install iproute2", "ip")
	name = "decco-cni-" + rand.String(6)
	out, err := exec.Command("ip", "netns", "add", name).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	return name, "/run/netns/" + name
}

func testPlan() intercept.Plan {
	return intercept.Plan{
		Version: intercept.Version, SidecarUID: 65532,
		Inbound: intercept.Inbound{Port: 15006, HTTPPort: 15007, HTTPPorts: []int32{15672}},
		Outbound: intercept.Outbound{Port: 15001,
			CIDRs:        []netip.Prefix{netip.MustParsePrefix("10.244.0.0/24"), netip.MustParsePrefix("fd00:10:244::/64"), netip.MustParsePrefix("10.0.0.0/24")},
			ExcludeCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}},
		CheckPort: 15020, HealthPort: 15021,
	}
}

// stdin is the configuration containerd hands a chained plugin: the
// bridge's result and the pod's annotations.
func stdin(t *testing.T, annotations map[string]string) []byte {
	t.Helper()
	conf := map[string]any{
		"cniVersion": "1.0.0", "name": "decco-node", "type": "decco-cni",
		"prevResult": map[string]any{"cniVersion": "1.0.0",
			"interfaces": []any{map[string]any{"name": "eth0", "sandbox": "/run/netns/x"}},
			"ips":        []any{map[string]any{"address": "10.244.0.7/24", "interface": 0}}},
	}
	if annotations != nil {
		conf["runtimeConfig"] = map[string]any{podAnnotations: annotations}
	}
	b, err := json.Marshal(conf)
	require.NoError(t, err)
	return b
}

// savedRules is every table's rules in namespace ns.
func savedRules(t *testing.T, ns, save string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, save).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// natRules is the nat table's rules in namespace ns, without the save's
// comment lines (they carry the time of the save).
func natRules(t *testing.T, ns, save string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, save, "-t", "nat").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var rules []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "#") {
			rules = append(rules, line)
		}
	}
	return strings.Join(rules, "\n")
}

// ADD installs exactly the plan's rules in the pod's namespace, for both
// families; repeating ADD changes nothing; CHECK finds them.
func TestAddInstallsThePlan(t *testing.T) {
	name, path := netns(t)
	args := &skel.CmdArgs{ContainerID: "c1", Netns: path, IfName: "eth0",
		StdinData: stdin(t, map[string]string{space.AnnotationInterception: testPlan().Encode(), "other": "x"})}
	require.NoError(t, cmdAdd(args))
	v4 := natRules(t, name, "iptables-save")
	all := savedRules(t, name, "iptables-save")
	for _, want := range strings.Split(strings.TrimSpace(intercept.Rules(testPlan(), intercept.IPv4)), "\n") {
		if strings.HasPrefix(want, "-A") {
			assert.Contains(t, all, normalize(want), "IPv4")
		}
	}
	assert.Contains(t, savedRules(t, name, "ip6tables-save"), "-j "+intercept.GuardChain, "IPv6 has the guard too")
	v6 := natRules(t, name, "ip6tables-save")
	assert.Contains(t, v6, "-A DECCO_OUTBOUND -d fd00:10:244::/64 -p tcp -j REDIRECT --to-ports 15001")
	assert.NotContains(t, v6, "10.244.0.0/24")

	require.NoError(t, cmdAdd(args), "a repeated ADD")
	assert.Equal(t, v4, natRules(t, name, "iptables-save"), "a repeated ADD changes nothing")
	require.NoError(t, cmdCheck(args))
	require.NoError(t, cmdDel(args))
}

// normalize writes a rule as iptables-save prints it back (-d before -p,
// the tcp match named).
func normalize(rule string) string {
	f := strings.Fields(rule)
	for i := 0; i+3 < len(f); i++ {
		if f[i] == "-p" && f[i+2] == "-d" {
			f[i], f[i+1], f[i+2], f[i+3] = f[i+2], f[i+3], f[i], f[i+1]
			break
		}
	}
	return strings.ReplaceAll(strings.Join(f, " "), "-p tcp --dport", "-p tcp -m tcp --dport")
}

// A pod without a plan is passed through untouched.
func TestAddWithoutPlan(t *testing.T) {
	name, path := netns(t)
	for _, ann := range []map[string]string{nil, {"app": "x"}} {
		require.NoError(t, cmdAdd(&skel.CmdArgs{ContainerID: "c1", Netns: path, IfName: "eth0", StdinData: stdin(t, ann)}))
	}
	assert.NotContains(t, natRules(t, name, "iptables-save"), intercept.InboundChain)
}

// A plan that can't be read fails the sandbox: the pod does not start.
func TestAddRefusesABadPlan(t *testing.T) {
	_, path := netns(t)
	bad := testPlan()
	bad.Outbound.CIDRs = nil
	for _, v := range []string{"{not json", bad.Encode()} {
		err := cmdAdd(&skel.CmdArgs{ContainerID: "c1", Netns: path, IfName: "eth0",
			StdinData: stdin(t, map[string]string{space.AnnotationInterception: v})})
		require.Error(t, err)
		assert.Contains(t, err.Error(), space.AnnotationInterception)
	}
	err := cmdAdd(&skel.CmdArgs{Netns: path, StdinData: []byte(`{"cniVersion":"1.0.0","name":"n","type":"decco-cni"}`)})
	require.ErrorContains(t, err, "list decco-cni after the interface plugins")
}

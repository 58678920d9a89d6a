package cniconf

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const bridge = `{"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]]}}`

var entry = Entry{Kubeconfig: "/etc/cni/net.d/decco-cni.kubeconfig"}

func list(plugins ...string) string {
	s := `{"cniVersion": "1.0.0", "name": "k8s-pod-network", "disableCheck": true, "plugins": [`
	for i, p := range plugins {
		if i > 0 {
			s += ", "
		}
		s += p
	}
	return s + "]}"
}

func deccoEntry(kubeconfig string) string {
	e, _ := json.Marshal(Entry{Kubeconfig: kubeconfig}.object())
	return string(e)
}

const portmap = `{"type": "portmap", "capabilities": {"portMappings": true}}`

func TestChain(t *testing.T) {
	for _, tc := range []struct {
		name, file, in string
		wantName       string
		want           string // "" with changed false: the input, unchanged
		changed        bool
		noKubeconfig   bool
	}{
		{name: "appended after the interface plugins", file: "10-calico.conflist", in: list(bridge, portmap),
			wantName: "10-calico.conflist", want: list(bridge, portmap, deccoEntry(entry.Kubeconfig)), changed: true},
		{name: "already chained", file: "10-calico.conflist", in: list(bridge, deccoEntry(entry.Kubeconfig)),
			wantName: "10-calico.conflist"},
		{name: "chained before another plugin keeps its place", file: "10-x.conflist", in: list(bridge, deccoEntry(entry.Kubeconfig), portmap),
			wantName: "10-x.conflist"},
		{name: "an older entry is replaced in place", file: "10-x.conflist", in: list(bridge, deccoEntry("/old/kubeconfig"), portmap),
			wantName: "10-x.conflist", want: list(bridge, deccoEntry(entry.Kubeconfig), portmap), changed: true},
		{name: "a duplicate entry is dropped", file: "10-x.conflist", in: list(bridge, deccoEntry(entry.Kubeconfig), deccoEntry(entry.Kubeconfig)),
			wantName: "10-x.conflist", want: list(bridge, deccoEntry(entry.Kubeconfig)), changed: true},
		{name: "a .conf becomes a .conflist of the same name", file: "10-flannel.conf",
			in:       `{"cniVersion": "0.4.0", "name": "cbr0", "type": "flannel", "delegate": {"isDefaultGateway": true}}`,
			wantName: "10-flannel.conflist",
			want: `{"cniVersion": "0.4.0", "name": "cbr0", "plugins": [{"cniVersion": "0.4.0", "name": "cbr0", "type": "flannel", "delegate": {"isDefaultGateway": true}}, ` +
				deccoEntry(entry.Kubeconfig) + `]}`, changed: true},
		{name: "a .json is a single plugin too", file: "99-net.json", in: `{"cniVersion": "1.0.0", "name": "n", "type": "ptp"}`,
			wantName: "99-net.conflist", want: `{"cniVersion": "1.0.0", "name": "n", "plugins": [{"cniVersion": "1.0.0", "name": "n", "type": "ptp"}, ` + deccoEntry(entry.Kubeconfig) + `]}`, changed: true},
		{name: "no kubeconfig: the entry has none", file: "10-x.conflist", in: list(bridge),
			wantName: "10-x.conflist", want: list(bridge, `{"type": "decco-cni", "capabilities": {"io.kubernetes.cri.pod-annotations": true}}`), changed: true, noKubeconfig: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := entry
			if tc.noKubeconfig {
				e = Entry{}
			}
			got, err := Chain(tc.file, []byte(tc.in), e)
			require.NoError(t, err)
			assert.Equal(t, tc.wantName, got.Name)
			assert.Equal(t, tc.changed, got.Changed)
			if !tc.changed {
				assert.Equal(t, tc.in, string(got.Data), "unchanged means the very bytes")
				return
			}
			assert.JSONEq(t, tc.want, string(got.Data))
			// Chaining is idempotent: the result is chained.
			again, err := Chain(got.Name, got.Data, e)
			require.NoError(t, err)
			assert.False(t, again.Changed, "chaining the result again changes it")
			ok, err := Chained(got.Name, got.Data, e)
			require.NoError(t, err)
			assert.True(t, ok)
		})
	}
}

func TestUnchain(t *testing.T) {
	for _, tc := range []struct {
		name, file, in string
		want           string // "": unchanged
	}{
		{name: "decco last", file: "10-x.conflist", in: list(bridge, portmap, deccoEntry(entry.Kubeconfig)), want: list(bridge, portmap)},
		{name: "decco in the middle, older entry", file: "10-x.conflist", in: list(bridge, deccoEntry("/old"), portmap), want: list(bridge, portmap)},
		{name: "not chained", file: "10-x.conflist", in: list(bridge, portmap)},
		{name: "a single plugin file", file: "10-flannel.conf", in: `{"cniVersion": "0.4.0", "name": "cbr0", "type": "flannel"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Unchain(tc.file, []byte(tc.in))
			require.NoError(t, err)
			assert.Equal(t, tc.file, got.Name)
			if tc.want == "" {
				assert.False(t, got.Changed)
				assert.Equal(t, tc.in, string(got.Data))
				return
			}
			assert.True(t, got.Changed)
			assert.JSONEq(t, tc.want, string(got.Data))
			ok, err := Chained(got.Name, got.Data, entry)
			require.NoError(t, err)
			assert.False(t, ok)
		})
	}
}

// Unchaining what Chain wrote gives the primary's configuration back,
// field for field.
func TestChainThenUnchainRoundTrips(t *testing.T) {
	in := list(bridge, portmap)
	chained, err := Chain("10-x.conflist", []byte(in), entry)
	require.NoError(t, err)
	back, err := Unchain(chained.Name, chained.Data)
	require.NoError(t, err)
	assert.JSONEq(t, in, string(back.Data))
}

// Malformed input is refused with the file's name and what is wrong; the
// installer then leaves the file as it is.
func TestMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, file, in, want string
	}{
		{"not JSON", "10-x.conflist", `{"name": "x", "plugins": [`, "10-x.conflist: not a JSON object"},
		{"a JSON array", "10-x.conflist", `[]`, "not a JSON object"},
		{"null", "10-x.conflist", `null`, "not a JSON object"},
		{"no name", "10-x.conflist", `{"plugins": [` + bridge + `]}`, `"name" must be a non-empty string`},
		{"no plugins", "10-x.conflist", `{"name": "x"}`, `no "plugins" list`},
		{"plugins not a list", "10-x.conflist", `{"name": "x", "plugins": {"type": "bridge"}}`, `"plugins" must be a list of plugin objects`},
		{"a plugin not an object", "10-x.conflist", `{"name": "x", "plugins": [` + bridge + `, "portmap"]}`, "plugins[1]: a plugin must be a JSON object"},
		{"a plugin without type", "10-x.conflist", `{"name": "x", "plugins": [{"bridge": "cni0"}]}`, `plugins[0]: "type" must be a non-empty string`},
		{"empty plugins", "10-x.conflist", `{"name": "x", "plugins": []}`, "needs an interface plugin"},
		{"decco alone", "10-x.conflist", list(deccoEntry("")), "needs an interface plugin"},
		{"a .conf without type", "10-x.conf", `{"cniVersion": "1.0.0", "name": "x"}`, `"type" must be a non-empty string`},
		{"not a configuration file", "10-x.yaml", list(bridge), "a runtime reads only .conf, .conflist, .json files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for op, f := range map[string]func() error{
				"Chain":   func() error { _, err := Chain(tc.file, []byte(tc.in), entry); return err },
				"Unchain": func() error { _, err := Unchain(tc.file, []byte(tc.in)); return err },
				"Chained": func() error { _, err := Chained(tc.file, []byte(tc.in), entry); return err },
			} {
				err := f()
				require.Error(t, err, op)
				assert.Contains(t, err.Error(), tc.want, op)
				assert.Contains(t, err.Error(), "CNI configuration "+tc.file, op)
			}
		})
	}
}

func TestPrimary(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"the first by name", []string{"20-b.conflist", "10-a.conf", "99-z.json"}, "10-a.conf"},
		{"other files are not configurations", []string{"decco-cni.kubeconfig", ".decco-cni-123.tmp", "README", "30-c.conflist"}, "30-c.conflist"},
		{"a .conf sorts before its .conflist", []string{"10-flannel.conflist", "10-flannel.conf"}, "10-flannel.conf"},
		{"none", []string{"decco-cni.kubeconfig"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Primary(tc.files)
			assert.Equal(t, tc.want != "", ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

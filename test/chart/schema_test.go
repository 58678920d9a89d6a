package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yamlv3 "go.yaml.in/yaml/v3"
)

// A misspelled or invalid value fails `helm install` with a message that
// names it, instead of being silently ignored.
func TestSchemaRefusesBadValues(t *testing.T) {
	for _, c := range []struct {
		name   string
		values string
		// want are substrings of the error: the key's path and the reason.
		want []string
	}{
		{"misspelled top-level key", "replicaCont: 3", []string{"replicaCont", "additional properties"}},
		{"misspelled nested key", "webhook: {certificate: {mod: selfSigned}}", []string{"/webhook/certificate", "'mod'", "additional properties"}},
		{"misspelled sidecar resource", "sidecar: {resources: {limits: {cpu: 100m}}}", []string{"/sidecar/resources/limits", "'cpu'"}},
		{"unknown routing mode", "routing: {mode: istio}", []string{"/routing/mode", "must be one of 'gateway', 'gateway-per-space', 'ingress'"}},
		{"gateway per space without a class", "routing: {mode: gateway-per-space}", []string{"/routing/gateway", "className"}},
		{"gateway port out of range", "routing: {gateway: {port: 0}}", []string{"/routing/gateway/port"}},
		{"certificate mode", "webhook: {certificate: {mode: vault}}", []string{"/webhook/certificate/mode"}},
		{"ingress mode without classes", "routing: {mode: ingress}", []string{"/routing/ingress", "className"}},
		{"rfc2136 without a server", "dns: {provider: rfc2136, ownerID: a, rfc2136: {tsigSecret: tsig}}", []string{"/dns/rfc2136/server"}},
		{"rfc2136 server without a port", `dns: {provider: rfc2136, ownerID: a, rfc2136: {server: ns1.example.com, tsigSecret: tsig}}`, []string{"/dns/rfc2136/server"}},
		{"rfc2136 without an owner id", `dns: {provider: rfc2136, rfc2136: {server: "ns1.example.com:53", tsigSecret: tsig}}`, []string{"/dns/ownerID"}},
		{"issuer of an unknown kind", "defaultIssuer: Vault/corp", []string{"/defaultIssuer"}},
		{"string where a number goes", "replicaCount: two", []string{"/replicaCount", "integer"}},
		{"bad duration", "reconciler: {leaderElection: {leaseDuration: 15}}", []string{"/reconciler/leaderElection/leaseDuration"}},
		{"bad quantity", "sidecar: {resources: {requests: {memory: lots}}}", []string{"/sidecar/resources/requests/memory"}},
		{"extra arg that is not a flag", "extraArgs: [debug]", []string{"/extraArgs/0"}},
		{"gateway created without a class", "routing: {gateway: {create: true}}", []string{"/routing/gateway/className"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, "decco-system", parseValues(t, c.values))
			require.Error(t, err, "values %s were accepted", c.values)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// Template-level checks for what the schema can't express.
func TestTemplatesRefuseContradictoryValues(t *testing.T) {
	for _, c := range []struct{ values, want string }{
		{"webhook: {enabled: false}\nreconciler: {enabled: false}", "nothing to run"},
		{"reconciler: {leaderElection: {enabled: false}}", "every replica would reconcile"},
		{"podDisruptionBudget: {minAvailable: 2}", "would block every node drain"},
	} {
		_, err := render(t, "decco-system", parseValues(t, c.values))
		require.Error(t, err, "values %s were accepted", c.values)
		assert.Contains(t, err.Error(), c.want)
	}
}

// A cluster without webhook match conditions (GA in 1.30) is refused
// before anything is installed.
func TestChartRefusesOldClusters(t *testing.T) {
	_, err := renderFor(t, "v1.29.9", "decco-system", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kubeVersion")
	_, err = renderFor(t, "v1.30.0", "decco-system", nil)
	assert.NoError(t, err)
}

// Every object in the schema forbids undeclared keys, or constrains the
// values of a map whose keys are the user's; none is left open.
func TestSchemaClosesEveryObject(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir(), "values.schema.json"))
	require.NoError(t, err)
	var schema map[string]any
	require.NoError(t, json.Unmarshal(raw, &schema))
	var open []string
	walkSchema("#", schema, func(path string, node map[string]any) {
		if node["type"] != "object" {
			return
		}
		if _, ok := node["additionalProperties"]; !ok {
			open = append(open, path)
		} else if node["additionalProperties"] == true {
			open = append(open, path)
		}
	})
	assert.Empty(t, open, "schema objects without additionalProperties: false (or a schema for their values)")
}

func walkSchema(path string, node map[string]any, visit func(string, map[string]any)) {
	visit(path, node)
	for k, v := range node {
		switch child := v.(type) {
		case map[string]any:
			walkSchema(path+"/"+k, child, visit)
		case []any:
			for _, item := range child {
				if m, ok := item.(map[string]any); ok {
					walkSchema(path+"/"+k, m, visit)
				}
			}
		}
	}
}

// values.yaml documents every key with a comment, and the schema types
// exactly the keys values.yaml has.
func TestEveryValueIsDocumentedAndTyped(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir(), "values.yaml"))
	require.NoError(t, err)
	var doc yamlv3.Node
	require.NoError(t, yamlv3.Unmarshal(raw, &doc))
	var undocumented []string
	keys := map[string]bool{}
	walkValues("", doc.Content[0], func(path string, documented bool) {
		keys[path] = true
		if !documented {
			undocumented = append(undocumented, path)
		}
	})
	assert.Empty(t, undocumented, "values.yaml keys without a comment saying what they do")

	schemaRaw, err := os.ReadFile(filepath.Join(chartDir(), "values.schema.json"))
	require.NoError(t, err)
	var schema map[string]any
	require.NoError(t, json.Unmarshal(schemaRaw, &schema))
	var untyped, phantom []string
	declared := schemaKeys("", schema, schema)
	for k := range keys {
		if !declared[k] {
			untyped = append(untyped, k)
		}
	}
	for k := range declared {
		// Keys of an object values.yaml leaves empty ({}) are described
		// in that object's comment.
		if !keys[k] && !keys[k[:max(strings.LastIndex(k, "."), 0)]] {
			phantom = append(phantom, k)
		}
	}
	sort.Strings(untyped)
	sort.Strings(phantom)
	assert.Empty(t, untyped, "values.yaml keys the schema does not declare")
	assert.Empty(t, phantom, "schema keys values.yaml does not document")
}

// walkValues visits each key of a values.yaml mapping node. A key is
// documented when it has a comment, or groups keys that have one.
func walkValues(prefix string, node *yamlv3.Node, visit func(path string, documented bool)) {
	if node.Kind != yamlv3.MappingNode {
		return
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, val := node.Content[i], node.Content[i+1]
		path := strings.TrimPrefix(prefix+"."+key.Value, ".")
		comment := key.HeadComment + key.LineComment
		visit(path, comment != "" || (val.Kind == yamlv3.MappingNode && len(val.Content) > 0))
		if val.Kind == yamlv3.MappingNode && len(val.Content) > 0 {
			walkValues(path, val, visit)
		}
	}
}

// schemaKeys lists the dotted paths of every declared property, following
// local $refs.
func schemaKeys(prefix string, node map[string]any, root map[string]any) map[string]bool {
	out := map[string]bool{}
	if ref, ok := node["$ref"].(string); ok {
		node = resolveRef(root, ref)
	}
	props, _ := node["properties"].(map[string]any)
	for k, v := range props {
		path := strings.TrimPrefix(prefix+"."+k, ".")
		out[path] = true
		if child, ok := v.(map[string]any); ok {
			for p := range schemaKeys(path, child, root) {
				out[p] = true
			}
		}
	}
	return out
}

// resolveRef follows a local reference such as #/$defs/quantity.
func resolveRef(root map[string]any, ref string) map[string]any {
	node := root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		node, _ = node[part].(map[string]any)
	}
	return node
}

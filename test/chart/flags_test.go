package chart

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/decco-dev/decco/manager"
)

// managerFlags is the manager's flag set, built by the one definition of
// its flags.
func managerFlags() (*pflag.FlagSet, *manager.Options) {
	opts := manager.DefaultOptions()
	fs := pflag.NewFlagSet("decco", pflag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	opts.BindFlags(fs)
	return fs, &opts
}

// parseArgs parses args as the manager does and returns the flag set.
func parseArgs(t *testing.T, args []string) (*pflag.FlagSet, *manager.Options) {
	t.Helper()
	fs, opts := managerFlags()
	require.NoError(t, fs.Parse(args), "the rendered Deployment's args do not parse as manager flags: %q", args)
	require.Zero(t, fs.NArg(), "rendered args %q are not flags", fs.Args())
	return fs, opts
}

// flagName is the name in "--name=value".
func flagName(arg string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
	return name
}

// repeatable flags may appear more than once.
var repeatable = map[string]bool{"dns-target": true, "dns-rfc2136-zone": true}

// Every argument of the rendered Deployment is one of the manager's flags,
// written --name=value, at most once, and the options it gives validate:
// renaming or removing a flag in Go, or misspelling one in the chart,
// fails here.
func TestRenderedArgsAreManagerFlags(t *testing.T) {
	for _, set := range valueSets {
		t.Run(set.name, func(t *testing.T) {
			args := mustRender(t, set).managerArgs(t)
			seen := map[string]bool{}
			for _, arg := range args {
				assert.Regexp(t, `^--[a-z0-9-]+=`, arg, "write every flag as --name=value so a bool can't swallow the next argument")
				name := flagName(arg)
				assert.False(t, seen[name] && !repeatable[name], "--%s is rendered twice", name)
				seen[name] = true
			}
			_, opts := parseArgs(t, args)
			assert.NoError(t, opts.Validate(), "the rendered flags give options the manager refuses")
		})
	}
}

// leftOut are the manager's flags the chart never sets, and why. Every
// other flag must be rendered by some value set, so a flag added to the
// manager fails this test until the chart (and values.yaml) offer it.
var leftOut = map[string]string{
	"webhook-host":              "the webhook listens on every interface of the pod",
	"pprof-bind-address":        "a diagnosis tool, off by default; pass it in extraArgs while investigating",
	"leader-election-namespace": "the Lease lives in --system-namespace, the release namespace, where the chart grants leases",
}

func TestEveryManagerFlagIsRenderedOrLeftOutOnPurpose(t *testing.T) {
	rendered := map[string]bool{}
	for _, set := range valueSets {
		for _, arg := range mustRender(t, set).managerArgs(t) {
			rendered[flagName(arg)] = true
		}
	}
	fs, _ := managerFlags()
	var missing []string
	fs.VisitAll(func(f *pflag.Flag) {
		_, out := leftOut[f.Name]
		switch {
		case out && rendered[f.Name]:
			t.Errorf("--%s is listed as left out of the chart, but the chart renders it", f.Name)
		case !out && !rendered[f.Name]:
			missing = append(missing, "--"+f.Name+" ("+f.Usage+")")
		}
	})
	assert.Empty(t, missing, "manager flags the chart never sets: add a value for each (values.yaml, values.schema.json, decco.args) or list it in leftOut with a reason")
	for name := range leftOut {
		assert.NotNil(t, fs.Lookup(name), "leftOut names --%s, which the manager no longer has", name)
	}
}

// flagValue is one value of values.yaml that becomes a manager flag.
type flagValue struct {
	path  string // in values.yaml
	value string // YAML
	also  string // other values the case needs, a YAML document
	flag  string
	want  string // the flag's value after parsing
}

// rfc2136 turns the RFC2136 provider on, for the cases of its flags.
const rfc2136Values = `dns: {provider: rfc2136, ownerID: cluster-a, rfc2136: {server: "127.0.0.1:53", tsigSecret: tsig}}`

// flagValues map every value that becomes a flag. Each case changes the
// value from its default and expects the flag to follow.
var flagValues = []flagValue{
	{path: "dataPlane.interception", value: "cni", also: "dataPlane: {podCIDRs: [10.244.0.0/16], serviceCIDRs: [10.96.0.0/12]}", flag: "interception", want: "cni"},
	{path: "dataPlane.podCIDRs", value: "[10.244.0.0/16, \"fd00::/64\"]", also: "dataPlane: {interception: cni, serviceCIDRs: [10.96.0.0/12]}", flag: "pod-cidrs", want: "[10.244.0.0/16,fd00::/64]"},
	{path: "dataPlane.serviceCIDRs", value: "[10.96.0.0/12]", also: "dataPlane: {interception: cni, podCIDRs: [10.244.0.0/16]}", flag: "service-cidrs", want: "[10.96.0.0/12]"},
	{path: "dataPlane.excludeCIDRs", value: "[10.96.0.1/32]", also: "dataPlane: {interception: cni, podCIDRs: [10.244.0.0/16], serviceCIDRs: [10.96.0.0/12]}", flag: "interception-exclude-cidrs", want: "[10.96.0.1/32]"},
	{path: "webhook.enabled", value: "false", flag: "enable-webhook", want: "false"},
	{path: "webhook.port", value: "10443", flag: "webhook-port", want: "10443"},
	{path: "webhook.maxRequestBytes", value: "1048576", flag: "max-request-bytes", want: "1048576"},
	{path: "kubeAPI.qps", value: "300", flag: "kube-api-qps", want: "300"},
	{path: "shutdownDelay", value: "8s", flag: "shutdown-delay", want: "8s"},
	{path: "kubeAPI.burst", value: "600", flag: "kube-api-burst", want: "600"},
	{path: "reconciler.enabled", value: "false", flag: "enable-reconciler", want: "false"},
	{path: "reconciler.workers", value: "9", flag: "reconciler-workers", want: "9"},
	{path: "reconciler.leaderElection.enabled", value: "false", also: "replicaCount: 1", flag: "leader-elect", want: "false"},
	{path: "reconciler.leaderElection.leaseDuration", value: "45s", flag: "leader-election-lease-duration", want: "45s"},
	{path: "reconciler.clusterDomain", value: "corp.internal", flag: "cluster-domain", want: "corp.internal"},
	{path: "reconciler.workloadCertDuration", value: "24h", flag: "workload-cert-duration", want: "24h0m0s"},
	{path: "reconciler.egressDNS", value: "169.254.20.10/32", flag: "egress-dns", want: "169.254.20.10/32"},
	{path: "reconciler.verifyBYOSecrets", value: "true", flag: "verify-byo-secrets", want: "true"},
	{path: "tenancy.podSecurityLevel", value: "baseline", flag: "pod-security-level", want: "baseline"},
	{path: "reconciler.limits.services", value: "7", flag: "space-max-services", want: "7"},
	{path: "reconciler.limits.hostnames", value: "0", flag: "space-max-hostnames", want: "0"},
	{path: "reconciler.limits.dnsRecords", value: "20000", flag: "space-max-dns-records", want: "20000"},
	{path: "defaultIssuer", value: "ClusterIssuer/corp-ca", flag: "default-issuer", want: "ClusterIssuer/corp-ca"},
	{path: "httpIssuer", value: "ClusterIssuer/letsencrypt", flag: "http-issuer", want: "ClusterIssuer/letsencrypt"},
	{path: "sidecar.image.repository", value: "registry.example.com/sidecar", flag: "sidecar-image", want: "registry.example.com/sidecar:0.1.0"},
	{path: "sidecar.image.tag", value: "v2", flag: "sidecar-image", want: "ghcr.io/decco-dev/decco-sidecar:v2"},
	{path: "sidecar.resources.requests.cpu", value: "25m", flag: "sidecar-cpu-request", want: "25m"},
	{path: "sidecar.resources.requests.memory", value: "20Mi", flag: "sidecar-memory-request", want: "20Mi"},
	{path: "sidecar.resources.limits.memory", value: "80Mi", flag: "sidecar-memory-limit", want: "80Mi"},
	{path: "sidecar.uid", value: "70000", flag: "sidecar-uid", want: "70000"},
	{path: "sidecar.native", value: `"true"`, flag: "native-sidecar", want: "true"},
	{path: "routing.mode", value: "ingress", also: "routing: {ingress: {className: nginx, sniClassName: sni}}", flag: "route-mode", want: "ingress"},
	{path: "routing.gateway.name", value: "public", flag: "gateway", want: "decco-system/public"},
	{path: "routing.gateway.namespace", value: "edge", flag: "gateway", want: "edge/decco"},
	{path: "routing.gateway.className", value: "traefik", also: "routing: {mode: gateway-per-space}", flag: "gateway-class", want: "traefik"},
	{path: "routing.gateway.port", value: "8443", flag: "gateway-port", want: "8443"},
	{path: "routing.gateway.podPort", value: "10443", flag: "gateway-pod-port", want: "10443"},
	{path: "routing.ingress.podPort", value: "8443", also: "routing: {mode: ingress, ingress: {className: nginx, sniClassName: sni}}", flag: "gateway-pod-port", want: "8443"},
	{path: "routing.ingress.namespace", value: "ingress-nginx", also: "routing: {mode: ingress, ingress: {className: nginx, sniClassName: sni}}", flag: "gateway", want: "ingress-nginx/"},
	{path: "routing.ingress.className", value: "nginx", also: "routing: {mode: ingress, ingress: {sniClassName: sni}}", flag: "ingress-class", want: "nginx"},
	{path: "routing.ingress.sniClassName", value: "sni", also: "routing: {mode: ingress, ingress: {className: nginx}}", flag: "sni-ingress-class", want: "sni"},
	{path: "dns.provider", value: "dnsendpoint", flag: "dns-provider", want: "dnsendpoint"},
	{path: "dns.targets", value: "[192.0.2.1, 192.0.2.2]", flag: "dns-target", want: "[192.0.2.1,192.0.2.2]"},
	{path: "dns.ttl", value: "60", flag: "dns-ttl", want: "60"},
	{path: "dns.ownerID", value: "cluster-a", flag: "dns-owner-id", want: "cluster-a"},
	{path: "dns.rfc2136.server", value: `"127.0.0.1:5353"`, also: "dns: {provider: rfc2136, ownerID: cluster-a, rfc2136: {tsigSecret: tsig}}", flag: "dns-rfc2136-server", want: "127.0.0.1:5353"},
	{path: "dns.rfc2136.tsigSecret", value: "tsig", also: "dns: {provider: rfc2136, ownerID: cluster-a, rfc2136: {server: \"127.0.0.1:53\"}}", flag: "dns-rfc2136-tsig-secret", want: "decco-system/tsig"},
	{path: "dns.rfc2136.zones", value: "[example.com, example.net]", also: rfc2136Values, flag: "dns-rfc2136-zone", want: "[example.com,example.net]"},
	{path: "dns.rfc2136.timeout", value: "3s", also: rfc2136Values, flag: "dns-rfc2136-timeout", want: "3s"},
	{path: "metrics.enabled", value: "false", flag: "metrics-bind-address", want: "0"},
	{path: "metrics.port", value: "9090", flag: "metrics-bind-address", want: ":9090"},
	{path: "healthProbePort", value: "9091", flag: "health-probe-bind-address", want: ":9091"},
}

// notFlags are the values that shape Kubernetes objects rather than the
// manager's flags (a path covers everything under it), and where they go.
var notFlags = map[string]string{
	"replicaCount":                      "Deployment replicas",
	"image":                             "manager container image",
	"imagePullSecrets":                  "pod imagePullSecrets",
	"serviceAccount":                    "ServiceAccount",
	"webhook.certificate":               "webhook serving certificate and caBundle",
	"routing.gateway.create":            "Gateway",
	"routing.gateway.className":         "Gateway",
	"metrics.serviceMonitor":            "ServiceMonitor",
	"resources":                         "manager container resources",
	"podDisruptionBudget":               "PodDisruptionBudget",
	"podAntiAffinity":                   "pod affinity",
	"nodeSelector":                      "pod nodeSelector",
	"tolerations":                       "pod tolerations",
	"priorityClassName":                 "pod priorityClassName",
	"podAnnotations":                    "pod annotations",
	"podLabels":                         "pod labels",
	"tenancy.projects":                  "a join ClusterRole per project",
	"tenancy.certManagerServiceAccount": "the certificate ValidatingAdmissionPolicy",
	"extraArgs":                         "appended to the args verbatim; the manager checks them",
}

// Each value that maps to a flag reaches it: changing the value changes
// the parsed flag.
func TestValuesReachTheirFlags(t *testing.T) {
	defaults := flagsOf(t, valueSets[0].namespace, nil)
	for _, c := range flagValues {
		t.Run(c.path, func(t *testing.T) {
			vals := parseValues(t, c.also)
			var v any
			require.NoError(t, yamlUnmarshal(c.value, &v))
			setPath(vals, c.path, v)
			got := flagsOf(t, valueSets[0].namespace, vals)
			require.NotNil(t, got.Lookup(c.flag), "--%s is not a manager flag", c.flag)
			assert.Equal(t, c.want, got.Lookup(c.flag).Value.String(), "--%s after setting %s=%s", c.flag, c.path, c.value)
			if d := defaults.Lookup(c.flag); d != nil {
				assert.NotEqual(t, c.want, d.Value.String(), "the default already gives --%s=%s: the case proves nothing", c.flag, c.want)
			}
		})
	}
}

// flagsOf renders vals and parses the Deployment's args.
func flagsOf(t *testing.T, namespace string, vals map[string]any) *pflag.FlagSet {
	t.Helper()
	rel, err := render(t, namespace, vals)
	require.NoError(t, err)
	objs, err := decodeManifest(rel.Manifest)
	require.NoError(t, err)
	fs, _ := parseArgs(t, rendered{release: rel, objects: objs}.managerArgs(t))
	return fs
}

// Every value in values.yaml is either mapped to a flag above or listed in
// notFlags, so a new value can't be added without saying where it goes.
func TestEveryValueIsAccountedFor(t *testing.T) {
	mapped := map[string]bool{}
	for _, c := range flagValues {
		mapped[c.path] = true
	}
	for p := range notFlags {
		mapped[p] = true
	}
	var unaccounted []string
	leaves := valueLeaves("", loadChart(t).Values)
	for _, leaf := range leaves {
		if !coveredBy(leaf, mapped) {
			unaccounted = append(unaccounted, leaf)
		}
	}
	assert.Empty(t, unaccounted, "values that reach neither a flag (flagValues) nor an object (notFlags)")
	for p := range mapped {
		assert.True(t, hasPrefixPath(leaves, p), "%s is mapped but is not in values.yaml", p)
	}
}

// valueLeaves lists the paths of the non-map values under prefix; an
// empty map is a leaf (a map the user fills).
func valueLeaves(prefix string, v map[string]any) []string {
	var out []string
	for k, child := range v {
		p := strings.TrimPrefix(prefix+"."+k, ".")
		if m, ok := child.(map[string]any); ok && len(m) > 0 {
			out = append(out, valueLeaves(p, m)...)
			continue
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func coveredBy(leaf string, paths map[string]bool) bool {
	for p := leaf; ; {
		if paths[p] {
			return true
		}
		i := strings.LastIndex(p, ".")
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

func hasPrefixPath(leaves []string, p string) bool {
	for _, l := range leaves {
		if l == p || strings.HasPrefix(l, p+".") {
			return true
		}
	}
	return false
}

// setPath sets a dotted path in vals, creating maps on the way.
func setPath(vals map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := vals[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			vals[k] = next
		}
		vals = next
	}
	vals[keys[len(keys)-1]] = v
}

func yamlUnmarshal(doc string, into any) error {
	if err := yaml.Unmarshal([]byte(doc), into); err != nil {
		return fmt.Errorf("test value %q: %w", doc, err)
	}
	return nil
}

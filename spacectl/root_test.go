package spacectl

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/decco-dev/decco/space"
)

// run runs the command line in-process and returns its exit code, stdout
// and stderr.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	streams, in, out, errOut := genericiooptions.NewTestIOStreams()
	in.WriteString(stdin)
	code := Run(context.Background(), append([]string{"spacectl"}, args...), streams)
	return code, out.String(), errOut.String()
}

func TestCommandName(t *testing.T) {
	for argv0, want := range map[string]string{
		"spacectl":                  StandaloneName,
		"/usr/local/bin/spacectl":   StandaloneName,
		"/home/u/bin/kubectl-space": PluginName,
		"kubectl-space.exe":         PluginName,
		"kubectl-spaces":            StandaloneName,
	} {
		assert.Equal(t, want, CommandName(argv0), argv0)
	}
}

// Every command explains itself with examples, under the name the user
// typed.
func TestEveryCommandHasExamples(t *testing.T) {
	for _, name := range []string{StandaloneName, PluginName} {
		root := NewRoot(genericiooptions.NewTestIOStreamsDiscard(), name)
		var walk func(*cobra.Command)
		walk = func(c *cobra.Command) {
			if c.Hidden || c.Name() == "help" {
				return
			}
			if c.Parent() == nil || c.Parent().Name() != "completion" {
				assert.NotEmpty(t, c.Example, "%s has no examples", c.CommandPath())
				assert.Contains(t, c.Example, name+" ", "%s's examples don't use %q", c.CommandPath(), name)
			}
			for _, sub := range c.Commands() {
				walk(sub)
			}
		}
		walk(root)
	}
}

func TestPluginModeHelp(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	code := Run(context.Background(), []string{"/usr/bin/kubectl-space", "create", "space", "--help"}, streams)
	require.Equal(t, ExitOK, code)
	assert.Contains(t, out.String(), "kubectl space create space NAME --domain DOMAIN")
	assert.Contains(t, out.String(), "kubectl space create space acme --domain example.com --project retail")
	assert.NotContains(t, out.String(), "spacectl create")

	code, help, _ := run(t, "", "--help")
	require.Equal(t, ExitOK, code)
	assert.Contains(t, help, "3  not ready: a --wait timed out, or doctor found a failing check", "exit codes are documented")
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"get", "spaces", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"get"}, "get what? try spacectl get spaces"},
		{[]string{"get", "spaces", "-o", "xml"}, `-o "xml": want one of table, yaml, json`},
		{[]string{"describe", "space"}, "takes 1 argument(s)"},
		{[]string{"create", "space", "acme", "--dry-run"}, "--domain: decco.io/domain \"\": is required"},
		{[]string{"create", "space", "acme", "--domain", "example.com", "--dry-run=maybe"}, `--dry-run="maybe"`},
		{[]string{"create", "space", "Acme", "--domain", "example.com"}, "not a valid namespace name"},
		{[]string{"create", "space", "acme", "--domain", "x", "--project", "Team A", "--dry-run"}, "--project: decco.io/project \"Team A\""},
		{[]string{"expose", "deployment/web"}, "choose one of --http-path PATH (HTTP) or --tcp"},
		{[]string{"expose", "pod/web", "--tcp"}, `can't expose a "pod"`},
		{[]string{"render"}, `required flag(s) "filename" not set`},
		{[]string{"render", "-f", "-", "--domain", "example.com"}, "pass -n NAMESPACE"},
		{[]string{"render", "-f", "-", "--native-sidecar", "sometimes"}, `--native-sidecar="sometimes"`},
		{[]string{"render", "-f", "/does/not/exist"}, "no such file"},
		{[]string{"cert", "client", "acme", "Not_A_Name"}, `client name "Not_A_Name"`},
		{[]string{"doctor", "--issuer", "Vault/x"}, `kind "Vault" is neither Issuer nor ClusterIssuer`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, "", tc.args...)
			assert.Equal(t, ExitUsage, code, "stderr: %s", errOut)
			assert.Contains(t, errOut, tc.msg)
			assert.Contains(t, errOut, "--help'.", "a usage error points at help")
			assert.Empty(t, out)
		})
	}
}

func TestExitCode(t *testing.T) {
	nf := apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "x")
	assert.Equal(t, ExitOK, ExitCode(nil))
	assert.Equal(t, ExitError, ExitCode(errors.New("boom")))
	assert.Equal(t, ExitNotFound, ExitCode(nf))
	assert.Equal(t, ExitNotReady, ExitCode(notReadyf("timed out")))
	assert.Equal(t, ExitUsage, ExitCode(errors.Join(usageErrorf("bad"), errors.New("other"))))
	assert.Equal(t, ExitNotFound, ExitCode(joinKeepingCode([]error{notFoundf("a"), errors.New("b")})))
}

// --dry-run prints the Namespace, valid as the webhook would judge it,
// without a cluster.
func TestCreateSpaceDryRunNeedsNoCluster(t *testing.T) {
	code, out, errOut := run(t, "", "create", "space", "acme", "--domain", "example.com", "--project", "retail",
		"--dry-run", "--kubeconfig", "/does/not/exist")
	require.Equal(t, ExitOK, code, errOut)
	ns := &corev1.Namespace{}
	require.NoError(t, yaml.Unmarshal([]byte(out), ns))
	assert.Equal(t, "Namespace", ns.Kind)
	sp, err := space.FromNamespace(ns)
	require.NoError(t, err)
	assert.Equal(t, space.Space{Name: "acme", Domain: "example.com", Project: "retail"}, sp, "HTTP is always encrypted to the pod")

	code, out, _ = run(t, "", "create", "space", "acme", "--domain", "example.com", "--dry-run", "-o", "json")
	require.Equal(t, ExitOK, code)
	assert.Contains(t, out, `"decco.io/domain": "example.com"`)
}

func TestRenderCommandReadsStdin(t *testing.T) {
	in := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {decco.io/space: acme}}\nspec: {containers: [{name: a, image: a, ports: [{containerPort: 80}]}]}\n"
	code, out, errOut := run(t, in, "render", "-f", "-", "-n", "acme", "--domain", "example.com", "--sidecar-image", "sidecar:v2")
	require.Equal(t, ExitOK, code, errOut)
	pod := &corev1.Pod{}
	require.NoError(t, yaml.Unmarshal([]byte(out), pod))
	require.Len(t, pod.Spec.InitContainers, 1, "native sidecar: auto means native offline")
	assert.Equal(t, "sidecar:v2", pod.Spec.InitContainers[0].Image)

	code, out, _ = run(t, in, "render", "-f", "-", "-n", "acme", "--domain", "example.com", "--native-sidecar=false")
	require.Equal(t, ExitOK, code)
	require.NoError(t, yaml.Unmarshal([]byte(out), pod))
	assert.Len(t, pod.Spec.Containers, 2, "--native-sidecar=false: the sidecar is a regular container")

	code, out, errOut = run(t, strings.Replace(in, "spec: {", "spec: {hostNetwork: true, ", 1), "render", "-f", "-", "-n", "acme", "--domain", "example.com")
	assert.Equal(t, ExitError, code)
	assert.Empty(t, out, "nothing is printed when an object is refused")
	assert.Contains(t, errOut, `document 1 (Pod p)`)
}

package spacectl_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/spacectl"
	"github.com/decco-dev/decco/test/controlplane"
)

// docsHeader opens docs/cli.md, before the walkthrough.
const docsHeader = `## The CLI: spacectl

` + "`spacectl`" + ` is the platform engineer's tool for spaces. It reads the kubeconfig as kubectl does
(` + "`--kubeconfig`, `--context`, `-n`" + ` and kubectl's other connection flags), and installed as
` + "`kubectl-space`" + ` it is the kubectl plugin ` + "`kubectl space`" + `:

` + "```console" + `
$ go build -o ~/bin/kubectl-space ./cmd/spacectl    # then: kubectl space get spaces
$ go build -o ~/bin/spacectl ./cmd/spacectl         # or standalone
` + "```" + `

| command | what it does |
| --- | --- |
| ` + "`create space NAME --domain D`" + ` | creates a namespace as a space, or converts one; ` + "`--dry-run`" + ` prints it; ` + "`--wait`" + ` waits for its PKI, policies, routes and DNS |
| ` + "`get spaces`" + ` | one line per space: each part's readiness, and its pods' injection |
| ` + "`describe space NAME`" + ` | everything decco made for the space, why a part is not ready, pods whose injection is missing or outdated |
| ` + "`expose deployment/NAME`" + ` or ` + "`service/NAME`" + ` | HTTP by path (` + "`--http-path`" + `) or TCP by SNI (` + "`--tcp`" + `), with ` + "`--dns`" + `; ` + "`--wait`" + ` for the route |
| ` + "`render -f FILE\\|DIR\\|-`" + ` | the webhook's injection, offline: ` + "`helm template ... \\| spacectl render -f -`" + ` |
| ` + "`cert client SPACE NAME`" + ` | a client certificate from the space's CA, for a client outside the cluster |
| ` + "`doctor`" + ` | checks the installation and says how to fix what is wrong |
| ` + "`completion bash\\|zsh\\|fish\\|powershell`" + ` | shell completion (as a plugin, through a ` + "`kubectl_complete-space`" + ` script: see ` + "`spacectl completion --help`" + `) |

Reads take ` + "`-o table|yaml|json`" + `; ` + "`yaml`" + ` and ` + "`json`" + ` print ` + "`spacectl.decco.io/v1alpha1`" + ` objects for
scripts (` + "`get`" + `, a ` + "`v1 List`" + ` of them). Every command's ` + "`--help`" + ` has examples. Exit codes: 0 ok, 1 error, 2 usage
error (nothing was changed), 3 not ready (a ` + "`--wait`" + ` timed out, or ` + "`doctor`" + ` found a failing check),
4 not found.

` + "`get`" + ` and ` + "`describe`" + ` judge whether a pod's sidecar is up to date against the installation's sidecar
settings, which they read from the webhook itself with a dry-run pod; ` + "`render`" + ` works offline, so give it
the manager's ` + "`--sidecar-*`" + ` values when they are not the defaults.

The session below is real output, captured by ` + "`SPACECTL_DOCS=$PWD/docs/cli.md go test ./test/spacectl -run TestCLIWalkthrough`" + `
against the test control plane: decco's manager, cert-manager's controllers, and no Gateway controller
(so routes stay Pending).

`

// step is one command of the CLI walkthrough.
type step struct {
	// prose comes before the command in the document.
	prose string
	// args are spacectl's arguments; shown is how the document writes
	// them when that differs (relative paths).
	args  []string
	shown string
	stdin string
	code  int
	// retry repeats the step until it exits with code and its output
	// holds until (for state other tests leave behind, such as a space
	// still being set up or torn down), up to a minute.
	retry bool
	until string
	// settle waits, before the step, until the space's status is ready
	// again (exposing a Service reissues the workload certificate), so
	// the document shows the settled state.
	settle bool
}

// TestCLIWalkthrough runs the README's CLI section against the test
// cluster: every step must exit as documented, and docs/cli.md must be
// what the walkthrough prints, up to what changes from run to run
// (durations, pod names, dates; see comparableDoc). With
// SPACECTL_DOCS=FILE it writes the section, with each command's real
// output, to FILE instead; run it alone (-run TestCLIWalkthrough) so other
// tests' spaces don't show up in it.
func TestCLIWalkthrough(t *testing.T) {
	cluster.Need(t)
	root := controlplane.RepoRoot()
	ex := func(f string) string { return filepath.Join(root, "examples", f) }
	outDir := filepath.Join(t.TempDir(), "reporting")
	deleteAfter(t, "acme")
	steps := []step{
		{prose: "Make a namespace a space (or create it), and wait until decco has set it up:",
			args: []string{"create", "space", "acme", "--domain", "example.com", "--project", "retail", "--wait"}},
		{prose: "The same settings as a manifest, for GitOps, without a cluster:",
			args: []string{"create", "space", "acme", "--domain", "example.com", "--project", "retail", "--dry-run"}},
		{prose: "Settings are checked by the same code as the webhook's, before anything is sent (exit code 2):",
			args: []string{"create", "space", "globex", "--domain", "localhost", "--issuer", "Vault/corp"}, code: spacectl.ExitUsage},
		{prose: "With the Deployments of `examples/web.yaml` and `examples/mysql.yaml` applied, expose them: `web` over HTTP under a path, `mysql` over TCP by SNI with a DNS record:",
			args: []string{"expose", "deployment/web", "-n", "acme", "--http-path", "/shop", "--wait"}},
		{args: []string{"expose", "deployment/mysql", "-n", "acme", "--tcp", "--dns", "--wait"}},
		{prose: "One line per space. PKI, POLICIES, ROUTES and DNS are the reconciler's status of each part; PODS counts pods with an up-to-date sidecar out of those that should have one:",
			args: []string{"get", "spaces", "acme"}, settle: true},
		{prose: "Everything decco made for a space, the state of each part, where each Service is reachable, and the pods whose injection is missing or outdated (here, judged against a newer sidecar image, as after an upgrade):",
			args: []string{"describe", "space", "acme", "--sidecar-image", "ghcr.io/decco-dev/decco-sidecar:v0.2.0"}},
		{prose: "See what the webhook will do to manifests, without a cluster. The space comes from the Namespace manifest in the input (or `--space-file`, or `-n` with `--domain`):",
			args: []string{"render", "-f", ex("space.yaml"), "-f", ex("web.yaml")}, shown: "render -f examples/space.yaml -f examples/web.yaml"},
		{prose: "An object the webhook would refuse is reported with its document, and nothing is printed (exit code 1):",
			args: []string{"render", "-f", "-", "-n", "acme", "--domain", "example.com"}, shown: "render -f - -n acme --domain example.com <<EOF ... hostNetwork: true ... EOF",
			stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: debug, labels: {decco.io/space: acme}}\nspec: {hostNetwork: true, containers: [{name: sh, image: busybox, ports: [{containerPort: 80}]}]}\n",
			code:  spacectl.ExitError},
		{prose: "A client certificate from the space's CA, for a client outside the cluster (here, a reporting job's MySQL client):",
			args: []string{"cert", "client", "acme", "reporting", "--out", outDir}, shown: "cert client acme reporting --out ./reporting"},
		{prose: "Check the installation:",
			args: []string{"doctor", "--issuer", "ClusterIssuer/decco-root"}, retry: true},
		{prose: "A failing check says how to fix it, and doctor exits 3:",
			args: []string{"doctor", "--issuer", "ClusterIssuer/letsencrypt"}, code: spacectl.ExitNotReady,
			retry: true, until: "1 of 7 checks failed"},
	}
	setupWalkthrough(t)
	var doc bytes.Buffer
	doc.WriteString(docsHeader)
	for i, s := range steps {
		if i == 3 {
			applyDeployments(t, "acme", ex("web.yaml"), ex("mysql.yaml"))
		}
		if s.settle {
			eventually(t, time.Minute, "space acme ready", func() error {
				st, err := space.ParseStatus(getNS(t, "acme").Annotations[space.AnnotationStatus])
				if err != nil || !st.Ready() {
					return fmt.Errorf("status %+v (%v)", st, err)
				}
				return nil
			})
		}
		out := runStep(t, s)
		if s.prose != "" {
			fmt.Fprintf(&doc, "%s\n\n", s.prose)
		}
		shown := s.shown
		if shown == "" {
			shown = strings.Join(s.args, " ")
		}
		fmt.Fprintf(&doc, "```console\n$ spacectl %s\n%s", shown, strings.ReplaceAll(out, outDir, "./reporting"))
		if s.code != spacectl.ExitOK {
			fmt.Fprintf(&doc, "$ echo $?\n%d\n", s.code)
		}
		fmt.Fprintf(&doc, "```\n\n")
	}
	if path := os.Getenv("SPACECTL_DOCS"); path != "" {
		require.NoError(t, os.WriteFile(path, doc.Bytes(), 0o644))
		return
	}
	committed, err := os.ReadFile(filepath.Join(root, "docs", "cli.md"))
	require.NoError(t, err)
	assert.Equal(t, comparableDoc(string(committed)), comparableDoc(doc.String()),
		"docs/cli.md is stale: regenerate it with SPACECTL_DOCS=$PWD/docs/cli.md go test ./test/spacectl -run TestCLIWalkthrough")
}

// volatile matches what differs between two runs of the walkthrough
// against the same code, with what stands in for it.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^waiting for .*\n`), ""}, // printed only if not ready at once
	{regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b`), "TIME"},
	{regexp.MustCompile(`\b\d+(\.\d+)?(ms|s|m|h)\b`), "DURATION"},
	{regexp.MustCompile(`-[a-z0-9]{6,10}-[a-z0-9]{5}\b`), "-POD"},
	{regexp.MustCompile(`held by \S+,`), "held by HOLDER,"},
	{regexp.MustCompile(`all \d+ space CA`), "all N space CA"},
	{regexp.MustCompile(` {2,}`), " "}, // table columns follow the widths above
}

// comparableDoc is doc with what varies from run to run replaced.
func comparableDoc(doc string) string {
	for _, v := range volatile {
		doc = v.re.ReplaceAllString(doc, v.with)
	}
	return doc
}

func TestComparableDocKeepsWhatTheCodeDecides(t *testing.T) {
	a := "waiting for space acme (0s): no status yet\nspace acme: ready after 1s\nweb-77856bc5d9-fb9bk   Outdated\nvalid until 2027-02-20T23:48:57Z\n"
	b := "space acme: ready after 12s\nweb-5d8c6b7f4-x2x9q  Outdated\nvalid until 2027-03-01T01:02:03Z\n"
	assert.Equal(t, comparableDoc(a), comparableDoc(b))
	assert.NotEqual(t, comparableDoc(a), comparableDoc(strings.Replace(b, "Outdated", "Injected", 1)))
	assert.NotEqual(t, comparableDoc(a), comparableDoc(strings.Replace(b, "ready", "not ready", 1)))
}

// runStep runs one step with stdout and stderr in one buffer, as a
// terminal shows them, and checks its exit code.
func runStep(t *testing.T, s step) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var buf bytes.Buffer
		streams := genericiooptions.IOStreams{In: strings.NewReader(s.stdin), Out: &buf, ErrOut: &buf}
		code := spacectl.Run(context.Background(), append([]string{"spacectl", "--kubeconfig", cluster.Kubeconfig}, s.args...), streams)
		done := code == s.code && strings.Contains(buf.String(), s.until)
		if done || !s.retry || time.Now().After(deadline) {
			assert.Equal(t, s.code, code, "spacectl %s:\n%s", strings.Join(s.args, " "), buf.String())
			t.Logf("$ spacectl %s\n%s", strings.Join(s.args, " "), buf.String())
			return buf.String()
		}
		time.Sleep(time.Second)
	}
}

// setupWalkthrough makes the installation's default issuer the doctor
// step checks.
func setupWalkthrough(t *testing.T) {
	t.Helper()
	iss := &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "decco-root"},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{SelfSigned: &cmapi.SelfSignedIssuer{}}}}
	require.NoError(t, k8s.Create(context.Background(), iss))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), iss) })
}

// applyDeployments creates the Deployments of manifest files in ns.
func applyDeployments(t *testing.T, ns string, files ...string) {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, o := range decodeAll(t, string(b)) {
			if o.GetKind() != "Deployment" {
				continue
			}
			o.SetNamespace(ns)
			require.NoError(t, k8s.Create(context.Background(), o))
		}
		podsOf(t, ns, "app="+strings.TrimSuffix(filepath.Base(f), ".yaml"), 1)
	}
}

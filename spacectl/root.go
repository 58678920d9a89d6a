package spacectl

import (
	"context"
	"fmt"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Names the program answers to.
const (
	// StandaloneName is the binary's own name.
	StandaloneName = "spacectl"
	// PluginName is how kubectl runs it when installed as kubectl-space.
	PluginName = "kubectl space"
	// pluginBinary is the executable name kubectl looks for.
	pluginBinary = "kubectl-space"
)

// CommandName is the name help text uses: "kubectl space" when the binary
// was started as kubectl-space (by kubectl's plugin mechanism), else
// "spacectl".
func CommandName(argv0 string) string {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	if base == pluginBinary {
		return PluginName
	}
	return StandaloneName
}

// root holds what every subcommand shares.
type root struct {
	streams   genericiooptions.IOStreams
	kube      *genericclioptions.ConfigFlags
	name      string
	verbosity int
}

// log writes structured debug lines to stderr at -v 1 and up.
func (r *root) log() logr.Logger {
	return funcr.New(func(prefix, args string) {
		fmt.Fprintln(r.streams.ErrOut, prefix, args)
	}, funcr.Options{Verbosity: r.verbosity}).WithName("spacectl")
}

// NewRoot builds the command tree. name is StandaloneName or PluginName
// (see CommandName); it only changes help text and examples.
func NewRoot(streams genericiooptions.IOStreams, name string) *cobra.Command {
	r := &root{streams: streams, kube: genericclioptions.NewConfigFlags(true), name: name}
	cmd := &cobra.Command{
		Use:   StandaloneName,
		Short: "Manage decco spaces: create, expose, inspect, render and debug",
		Long: `spacectl manages decco spaces: namespaces whose workloads decco fences, encrypts
and exposes. It reads your kubeconfig like kubectl does, and works as the kubectl
plugin "kubectl space" when installed as kubectl-space on your PATH.

` + exitCodesHelp,
		Example: r.examples(`  # Make namespace acme a space reachable at acme.example.com, and wait until it is ready
  spacectl create space acme --domain example.com --wait

  # One line per space: readiness of its PKI, policies, routes, DNS and pods
  spacectl get spaces

  # See what the webhook will do to a Helm chart, without a cluster
  helm template shop ./chart | spacectl render -f - -n acme --domain example.com

  # Check the cluster's decco installation
  spacectl doctor --issuer ClusterIssuer/decco-root`),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		// Alone it prints help; a word that is no command is a usage error.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			hint := ""
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return usageErrorf("unknown command %q for %q%s", args[0], cmd.CommandPath(), hint)
		},
	}
	if name == PluginName {
		cmd.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: PluginName}
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	r.kube.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().IntVarP(&r.verbosity, "verbosity", "v", 0, "Debug log level on stderr (0: none, 1: requests and decisions, 2: polling).")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return withCode(ExitUsage, err)
	})
	cmd.AddCommand(
		r.newCreate(),
		r.newGet(),
		r.newDescribe(),
		r.newExpose(),
		r.newRender(),
		r.newCert(),
		r.newDoctor(),
	)
	registerCompletions(r, cmd)
	r.documentCompletion(cmd)
	return cmd
}

// examples rewrites "spacectl " in example text to the name the user
// runs, so plugin users see "kubectl space ...".
func (r *root) examples(text string) string {
	if r.name == StandaloneName {
		return text
	}
	return strings.ReplaceAll(text, StandaloneName+" ", r.name+" ")
}

// Main runs the command line in args (args[0] is the program) and returns
// the exit code. Ctrl-C cancels whatever is in flight.
func Main(args []string, streams genericiooptions.IOStreams) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, streams)
}

// Run is Main without signal handling, for tests.
func Run(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	argv0 := StandaloneName
	if len(args) > 0 {
		argv0, args = args[0], args[1:]
	}
	cmd := NewRoot(streams, CommandName(argv0))
	cmd.SetArgs(args)
	failed, err := cmd.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	if code == ExitUsage && failed != nil {
		fmt.Fprintf(streams.ErrOut, "See '%s --help'.\n", failed.CommandPath())
	}
	return code
}

// exactArgs is cobra.ExactArgs with a usage exit code and a message that
// names what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %d argument(s), %s; got %d", cmd.CommandPath(), n, what, len(args))
		}
		return nil
	}
}

// completionExamples documents shell completion, for the standalone binary
// and the kubectl plugin.
const completionExamples = `  # bash: load completion now, and in every new shell
  source <(spacectl completion bash)
  spacectl completion bash > /etc/bash_completion.d/spacectl

  # zsh
  spacectl completion zsh > "${fpath[1]}/_spacectl"

  # As a kubectl plugin, kubectl completes "kubectl space ..." through a helper on the PATH:
  printf '#!/bin/sh\nkubectl-space __complete "$@"\n' > ~/bin/kubectl_complete-space && chmod +x ~/bin/kubectl_complete-space`

// documentCompletion gives cobra's generated completion command an example.
func (r *root) documentCompletion(cmd *cobra.Command) {
	cmd.InitDefaultCompletionCmd()
	for _, c := range cmd.Commands() {
		if c.Name() == "completion" {
			c.Example = r.examples(completionExamples)
		}
	}
}

// group is a parent command such as "get": alone, it is a usage error
// that says what to type.
func (r *root) group(use, short, hint, example string, children ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: r.examples(example),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErrorf("%s what? try %s %s", cmd.CommandPath(), cmd.CommandPath(), hint)
		},
	}
	cmd.AddCommand(children...)
	return cmd
}

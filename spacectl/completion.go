package spacectl

import (
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
)

// registerCompletions adds completion of flags whose values the cluster
// knows. cobra adds the `completion` command itself (bash, zsh, fish,
// powershell); as a kubectl plugin, completion works through a
// kubectl_complete-space script that calls `kubectl-space __complete`.
func registerCompletions(r *root, cmd *cobra.Command) {
	_ = cmd.RegisterFlagCompletionFunc("namespace", r.completeNamespaces)
}

// completeSpaces completes space names.
func (r *root) completeSpaces(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	return r.listNames(cmd, true), cobra.ShellCompDirectiveNoFileComp
}

// completeNamespaces completes namespace names, spaces first.
func (r *root) completeNamespaces(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	return r.listNames(cmd, false), cobra.ShellCompDirectiveNoFileComp
}

// listNames lists namespace names; completion must never fail loudly, so
// errors give no suggestions.
func (r *root) listNames(cmd *cobra.Command, spacesOnly bool) []string {
	cl, err := r.connect()
	if err != nil {
		return nil
	}
	list := &corev1.NamespaceList{}
	if spacesOnly {
		err = cl.c.List(cmd.Context(), list, spaceSelector)
	} else {
		err = cl.c.List(cmd.Context(), list)
	}
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	return names
}

// Package spacectl is decco's command line for platform engineers: create
// and inspect spaces, expose workloads, render injection offline, issue
// client certificates and check a cluster's decco installation.
//
// It is a cobra command tree (NewRoot) that works as the standalone
// `spacectl` binary and as the kubectl plugin `kubectl space` (installed as
// kubectl-space): the kubeconfig, context and namespace flags are
// cli-runtime's, so it reads the same configuration kubectl does.
//
// Every decco-specific decision goes through package space (parsing the
// decco.io/ keys) and package inject (what the webhook does to a pod), so
// spacectl can never disagree with the webhook about what a label means.
// I/O (the apiserver, files, the terminal) stays in the command functions;
// the rest (rendering, classifying pods, summarising object states) is
// pure and table-tested.
//
// Exit codes are part of the interface; see the Exit* constants.
package spacectl

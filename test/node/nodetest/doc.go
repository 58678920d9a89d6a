// Package nodetest holds what the suites that run decco on a real node
// (test/e2e/node, ports interception, and test/e2e/cninode, cni
// interception) share: installing decco with its Helm chart once the node
// is up, spaces and the testapp workloads in them, waiting for pods, and
// asking a pod's testapp agent to connect somewhere.
//
// The suites are separate packages because the interception mode is the
// cluster's; what differs between them (the chart's values, the probe's
// timeout) is a parameter here, and the cluster is passed in explicitly
// (Suite) rather than read from package globals.
package nodetest

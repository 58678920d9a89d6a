// Package chart tests decco's Helm chart (charts/decco) through Helm's Go
// SDK, the way `helm install` renders it: its webhook configurations must
// equal the Go builders' (webhook/configuration.go), its Deployment's
// arguments must parse with the manager's own flag set
// (manager.Options.BindFlags), its values must obey values.schema.json, and
// every object it renders must be accepted by a real kube-apiserver with
// the CRDs it refers to. One test starts the decco binary with the
// rendered arguments, authenticated as the rendered ServiceAccount, and
// checks that the apiserver, configured by the rendered webhook
// configurations, gets pods injected through it.
//
// The package has no non-test code: Helm is a test-only dependency.
package chart

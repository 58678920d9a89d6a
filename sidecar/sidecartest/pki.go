// Package sidecartest holds test helpers for the TLS sidecar: a per-space
// PKI as cert-manager would issue it, a cert dir in kubelet's atomic-writer
// layout, and helpers to build and run the real decco-sidecar binary
// against Debian's stunnel4. Everything listens on loopback only.
package sidecartest

import (
	"testing"

	"github.com/decco-dev/decco/test/testkit"
)

// CA is a space's certificate authority; Leaf a certificate it issued
// (test/testkit holds them for every suite).
type (
	CA   = testkit.CA
	Leaf = testkit.Leaf
)

// KeyAlgorithm is the key type of a CA and of the leaves it issues.
type KeyAlgorithm = testkit.KeyAlgorithm

// Key types cert-manager can issue.
const (
	ECDSAP256 = testkit.ECDSAP256
	Ed25519   = testkit.Ed25519
)

// NewCA makes a self-signed ECDSA P-256 CA for space.
func NewCA(t testing.TB, space string) *CA { return testkit.NewCA(t, space+" space CA") }

// NewCAWith makes a self-signed CA for space whose keys, and those of the
// leaves it issues, are of type alg.
func NewCAWith(t testing.TB, space string, alg KeyAlgorithm) *CA {
	return testkit.NewCAWith(t, space+" space CA", alg)
}

// SpaceNames are the DNS names cert-manager issues for a space's workloads
// in these tests: the wildcard and the apex of <space>.example.com.
func SpaceNames(space string) []string {
	return []string{"*." + space + ".example.com", space + ".example.com"}
}

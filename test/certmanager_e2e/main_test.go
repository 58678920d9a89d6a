// Package certmanager_e2e checks decco's PKI against cert-manager's real
// controllers: the objects pki.Objects builds are accepted by the
// apiserver, issued by cert-manager, and give each space a CA that trusts
// its own certificates and no other space's.
package certmanager_e2e

import (
	"os"
	"testing"

	"github.com/decco-dev/decco/test/controlplane"
)

var cluster *controlplane.Cluster

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(m, &cluster, controlplane.Options{WithCertManager: true}))
}

package faults

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/decco-dev/decco/test/reliability/reltest"
	"github.com/decco-dev/decco/test/testkit"
)

// The webhook's serving certificate rotates to one from a new CA while
// pods are created without pause: as cert-manager's cainjector would, the
// webhook configurations first trust the old and the new CA, then the
// files in --webhook-cert-dir are replaced (the kubelet's atomic Secret
// update), and once the new certificate is served the old CA is dropped.
// Not one pod creation may fail: no handshake failure, no refusal.
func TestWebhookServingCertRotation(t *testing.T) {
	cluster.Need(t)
	c := cluster.Client
	w := startWebhook(t)
	ns := reltest.EnsureSpace(t, c, "rotation")
	oldSerial, err := testkit.ServedSerial(w.addr(), "localhost", w.ca.PEM)
	require.NoError(t, err)

	churn := reltest.StartChurn(c, ns, 2, 20*time.Millisecond)
	churn.WaitCreated(t, 25, 30*time.Second)

	newCA := testkit.NewCA(t, "decco-webhook-ca-next")
	reltest.SetCABundle(t, c, slices.Concat(w.ca.PEM, newCA.PEM))
	reltest.WaitAdmissionConfigSeen(t, c) // the apiserver trusts both CAs
	next := newCA.Issue(t, "localhost", "127.0.0.1")
	next.Write(t, w.certDir)
	swapped := time.Now()
	var served time.Duration
	reltest.WaitFor(t, 30*time.Second, "the new serving certificate served", func() error {
		serial, err := testkit.ServedSerial(w.addr(), "localhost", newCA.PEM)
		if err != nil {
			return err
		}
		if serial.Cmp(next.Cert.SerialNumber) != 0 {
			return assert.AnError
		}
		served = time.Since(swapped)
		return nil
	})
	churn.WaitCreated(t, 25, 30*time.Second) // admissions go on after the swap
	// The old CA retired: any connection still presenting the old
	// certificate would fail from here on.
	reltest.SetCABundle(t, c, newCA.PEM)
	reltest.WaitAdmissionConfigSeen(t, c)
	churn.WaitCreated(t, 25, 30*time.Second)
	res := churn.Stop()

	t.Logf("rotation under churn: new certificate served %s after the files changed; %s", served.Round(time.Millisecond), res)
	assert.NotEqual(t, oldSerial, next.Cert.SerialNumber)
	assert.Empty(t, res.Errors, "pod creations failed during the rotation")
	assert.Empty(t, res.NotInjected)
	assert.Greater(t, res.Created, 50, "too little churn to prove anything")
}

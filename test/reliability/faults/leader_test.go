package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/install"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/reliability/reltest"
)

// leaseDuration is the managers' --leader-election-lease-duration in the
// failover test; retry is the retry period the manager derives from it
// (2/15 of the lease, manager/lease.go).
const (
	leaseDuration = 4 * time.Second
	leaseRetry    = leaseDuration * 2 / 15
)

// The shared Gateway spaces attach to.
const (
	gatewayNamespace = "decco-gateway"
	gatewayName      = "shared"
)

var gatewayOnce sync.Once

func ensureGateway(t *testing.T) {
	t.Helper()
	gatewayOnce.Do(func() {
		require.NoError(t, deccotest.Gateway(context.Background(), cluster.Client, gatewayNamespace, gatewayName, "192.0.2.10"))
	})
}

// reconcilerArgs are the flags of a reconciler-only manager replica.
func reconcilerArgs() []string {
	return []string{
		"--kubeconfig=" + cluster.Kubeconfig,
		"--enable-webhook=false",
		"--leader-elect=true",
		"--leader-election-lease-duration=" + leaseDuration.String(),
		"--system-namespace=" + reltest.SystemNamespace,
		"--health-probe-bind-address=0",
		"--metrics-bind-address=0",
		"--gateway=" + gatewayNamespace + "/" + gatewayName,
		// The suite's pods are written for brevity, not for Pod Security
		// restricted, and this reconciler labels every space of the
		// shared cluster.
		"--pod-security-level=baseline",
	}
}

// Two reconciler replicas; the leader is killed (SIGKILL: no chance to
// release its lease) while it converges a batch of new spaces. The other
// takes the lease over within a lease duration and a few retry periods, a
// space created during the failover converges, and so does every space
// the dead leader had started: each ends with exactly the objects of a
// space converged from scratch.
func TestLeaderKilledMidReconcile(t *testing.T) {
	cluster.Need(t)
	ensureGateway(t)
	c := cluster.Client
	reltest.EnsureNamespace(t, c, reltest.SystemNamespace)
	replicas := []*reltest.Proc{
		reltest.Start(t, "decco replica a", reconcilerArgs(), reltest.StartOptions{}),
		reltest.Start(t, "decco replica b", reconcilerArgs(), reltest.StartOptions{}),
	}
	var leader, standby *reltest.Proc
	reltest.WaitFor(t, 60*time.Second, "a leader", func() error {
		for i, p := range replicas {
			if p.LogContains("Successfully acquired lease") {
				leader, standby = p, replicas[1-i]
				return nil
			}
		}
		return errors.New("no replica has acquired the lease")
	})
	holder := leaseHolder(t)
	require.NotEmpty(t, holder)

	var spaces []string
	for i := range 5 {
		spaces = append(spaces, reltest.EnsureSpace(t, c, fmt.Sprintf("failover-%d", i)))
	}
	reltest.WaitFor(t, 60*time.Second, "the leader reconciling", func() error {
		if len(deccoObjects(t, spaces[0])) == 0 {
			return errors.New("no decco objects yet")
		}
		return nil
	})
	leader.Kill()
	killed := time.Now()
	spaces = append(spaces, reltest.EnsureSpace(t, c, "failover-late"))
	ready := 0
	for _, ns := range spaces[:5] {
		if st, ok := spaceStatus(t, ns); ok && st.Ready() {
			ready++
		}
	}

	var takeover time.Duration
	reltest.WaitFor(t, 3*leaseDuration, "the standby taking the lease over", func() error {
		if h := leaseHolder(t); h == "" || h == holder {
			return fmt.Errorf("holder %q", h)
		}
		takeover = time.Since(killed)
		return nil
	})
	// The standby logs the acquisition after its write of the Lease
	// returns, which can be after this test reads the new holder.
	reltest.WaitFor(t, 10*time.Second, "the standby logging that it took the lease", func() error {
		if !standby.LogContains("Successfully acquired lease") {
			return errors.New("not logged yet")
		}
		return nil
	})
	// The standby sees the last renewal up to a jittered retry period
	// (1.2×) after it happened, and acquires at its first retry after the
	// lease, so observed, expires: a lease and about two retry periods,
	// plus this test's polling and a loaded machine's scheduling.
	bound := leaseDuration + 4*leaseRetry
	assert.LessOrEqual(t, takeover, bound, "takeover after the leader's death")

	var converged time.Duration
	for _, ns := range spaces {
		waitSpaceReady(t, ns, 2*time.Minute)
		converged = time.Since(killed)
	}
	want := deccoObjects(t, "failover-late")
	require.NotEmpty(t, want)
	for _, ns := range spaces {
		assert.Equal(t, want, deccoObjects(t, ns), "space %s: objects after the failover", ns)
	}
	t.Logf("leader killed with %d of 5 spaces ready; standby took over %s later (lease %s, retry %s, bound %s); all %d spaces ready %s after the kill, each with %d decco objects",
		ready, takeover.Round(time.Millisecond), leaseDuration, leaseRetry.Round(time.Millisecond), bound.Round(time.Millisecond),
		len(spaces), converged.Round(time.Millisecond), len(want))
}

// leaseHolder is the reconciler Lease's holder, or "".
func leaseHolder(t *testing.T) string {
	t.Helper()
	var lease coordinationv1.Lease
	err := cluster.Client.Get(context.Background(), client.ObjectKey{Namespace: reltest.SystemNamespace, Name: install.LeaderElectionID}, &lease)
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// spaceStatus reads a space's decco.io/status annotation.
func spaceStatus(t *testing.T, ns string) (space.Status, bool) {
	t.Helper()
	var n corev1.Namespace
	require.NoError(t, cluster.Client.Get(context.Background(), client.ObjectKey{Name: ns}, &n))
	v, ok := n.Annotations[space.AnnotationStatus]
	if !ok {
		return space.Status{}, false
	}
	st, err := space.ParseStatus(v)
	require.NoError(t, err)
	return st, true
}

func waitSpaceReady(t *testing.T, ns string, timeout time.Duration) {
	t.Helper()
	reltest.WaitFor(t, timeout, "space "+ns+" ready", func() error {
		st, ok := spaceStatus(t, ns)
		switch {
		case !ok:
			return errors.New("no status yet")
		case !st.Ready():
			return fmt.Errorf("status %s", st.Format())
		}
		return nil
	})
}

var (
	deccoClientOnce sync.Once
	deccoClient     client.Client
)

// deccoObjects lists, sorted, every object labeled as decco's in ns, of
// every kind the reconciler writes, as "Kind/name". Duplicates would show
// as a name twice.
func deccoObjects(t *testing.T, ns string) []string {
	t.Helper()
	deccoClientOnce.Do(func() {
		var err error
		deccoClient, err = client.New(cluster.Config, client.Options{Scheme: install.Scheme})
		require.NoError(t, err)
	})
	var out []string
	for _, list := range []client.ObjectList{
		&certmanagerv1.CertificateList{}, &certmanagerv1.IssuerList{}, &networkingv1.NetworkPolicyList{},
		&gatewayv1.ListenerSetList{}, &gatewayv1.HTTPRouteList{}, &gatewayv1.TLSRouteList{},
		&endpoint.DNSEndpointList{},
	} {
		require.NoError(t, deccoClient.List(context.Background(), list, client.InNamespace(ns),
			client.MatchingLabels{space.LabelManagedBy: space.ManagedByValue}))
		items, err := meta.ExtractList(list)
		require.NoError(t, err)
		for _, item := range items {
			obj := item.(client.Object)
			kind := strings.TrimSuffix(fmt.Sprintf("%T", list), "List")
			out = append(out, kind[strings.LastIndex(kind, ".")+1:]+"/"+obj.GetName())
		}
	}
	sort.Strings(out)
	return slices.Clip(out)
}

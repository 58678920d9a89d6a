package regions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns/rfc2136"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/sidecar/sidecartest"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/reliability/reltest"
)

const (
	systemNS   = "decco-system"
	globalName = "foo." + zone
	// foreignAddr is a third cluster's record at the global name, made
	// by hand: neither decco touches it.
	foreignAddr = "192.0.2.99"
	nodeName    = "region-node"
	ttl         = 30
)

// region is one cluster with its decco manager and its region space.
type region struct {
	name    string // the cluster's name, decco's --dns-owner-id
	cluster *controlplane.Cluster
	space   string
	addr    string // the Gateway's address
	mgr     *reltest.Proc
}

func (r *region) client() client.Client { return r.cluster.Client }

func (r *region) args() []string {
	return []string{
		"--kubeconfig=" + r.cluster.Kubeconfig,
		"--enable-webhook=false",
		"--leader-elect=false",
		"--system-namespace=" + systemNS,
		"--health-probe-bind-address=0",
		"--metrics-bind-address=0",
		"--gateway=gateway/shared",
		"--pod-security-level=baseline",
		"--dns-provider=rfc2136",
		"--dns-rfc2136-server=" + named.Addr,
		"--dns-rfc2136-tsig-secret=" + systemNS + "/tsig",
		"--dns-owner-id=" + r.name,
		fmt.Sprintf("--dns-ttl=%d", ttl),
	}
}

// start runs the region's decco manager as a real process.
func (r *region) start(t *testing.T) {
	t.Helper()
	r.mgr = reltest.Start(t, "decco "+r.name, r.args(), reltest.StartOptions{})
}

// install prepares the cluster as its platform team would: decco's
// namespace with the TSIG key, the shared Gateway, a node for the
// backends, and the customer's CA distributed into the region space's
// namespace before the space is labeled.
func (r *region) install(t *testing.T, ca *sidecartest.CA) {
	t.Helper()
	ctx := context.Background()
	c := r.client()
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNS}}))
	require.NoError(t, c.Create(ctx, rfc2136.NewSecret(systemNS, "tsig", named.KeyName, named.Algorithm, named.Secret)))
	require.NoError(t, deccotest.Gateway(ctx, c, "gateway", "shared", r.addr))
	heartbeat(t, c)
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.space}}))
	require.NoError(t, c.Create(ctx, caSecret(t, r.space, "foo-ca", ca)))
}

// caSecret is the operator's copy of a customer CA in namespace ns.
func caSecret(t *testing.T, ns, name string, ca *sidecartest.CA) *corev1.Secret {
	t.Helper()
	s, err := deccotest.CASecret(ns, name, ca)
	require.NoError(t, err)
	return s
}

// label makes namespace ns a space, with annotations.
func label(t *testing.T, c client.Client, ns string, ann map[string]string) {
	t.Helper()
	var n corev1.Namespace
	err := c.Get(context.Background(), client.ObjectKey{Name: ns}, &n)
	if apierrors.IsNotFound(err) {
		n = corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		require.NoError(t, c.Create(context.Background(), &n))
	} else {
		require.NoError(t, err)
	}
	n.Labels = map[string]string{space.LabelSpace: ns}
	n.Annotations = ann
	require.NoError(t, c.Update(context.Background(), &n))
}

// service is a TCP Service of the space with a DNS record, in front of
// pods labeled app=db.
func service(ns string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db", Labels: map[string]string{space.LabelSpace: ns},
			Annotations: map[string]string{space.AnnotationDNS: "true"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "db"}, Ports: []corev1.ServicePort{{Name: "db", Port: 3306}}},
	}
}

// backend creates a pod behind the Service on the test node and reports
// it running and ready, as its kubelet would, so kube-controller-manager
// lists it as a ready endpoint.
func backend(t *testing.T, c client.Client, ns, name, ip string) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "db"}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "db", Image: "db:test",
			Ports: []corev1.ContainerPort{{Name: "db", ContainerPort: 3306}}}}},
	}
	require.NoError(t, c.Create(ctx, pod))
	now := metav1.Now()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}}
	require.NoError(t, c.Status().Update(ctx, pod))
}

// removeBackend deletes the pod at once (no kubelet runs to finish a
// graceful deletion).
func removeBackend(t *testing.T, c client.Client, ns, name string) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	require.NoError(t, c.Delete(context.Background(), pod, client.GracePeriodSeconds(0)))
}

// heartbeat registers the test node and keeps its Lease and Ready
// condition fresh for the test's life, as a kubelet does, so the node
// lifecycle controller never marks its pods unready. No kubelet runs:
// the pods' status is the test's to report.
func heartbeat(t *testing.T, c client.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}
	require.NoError(t, c.Create(ctx, node))
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: nodeName},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(nodeName), LeaseDurationSeconds: ptr.To[int32](40)}}
	beat := func() error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := c.Get(ctx, client.ObjectKey{Name: nodeName}, node); err != nil {
				return err
			}
			now := metav1.Now()
			node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: now, LastTransitionTime: now}}
			if err := c.Status().Update(ctx, node); err != nil {
				return err
			}
			lease.Spec.RenewTime = &metav1.MicroTime{Time: now.Time}
			if lease.ResourceVersion == "" {
				return c.Create(ctx, lease)
			}
			if err := c.Update(ctx, lease); err != nil {
				_ = c.Get(ctx, client.ObjectKeyFromObject(lease), lease)
				return err
			}
			return nil
		})
	}
	require.NoError(t, beat())
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
				_ = beat()
			}
		}
	}()
}

// globalAddrs are the A records at the global name, sorted.
func globalAddrs(t *testing.T) []string {
	t.Helper()
	v := named.Values(t, globalName, dns.TypeA)
	slices.Sort(v)
	return v
}

// waitAddrs waits until the global name serves exactly want, and
// returns how long that took.
func waitAddrs(t *testing.T, timeout time.Duration, want ...string) time.Duration {
	t.Helper()
	slices.Sort(want)
	start := time.Now()
	deccotest.WaitFor(t, timeout, fmt.Sprintf("A %s = %v", globalName, want), func() error {
		if got := globalAddrs(t); !slices.Equal(got, want) {
			return fmt.Errorf("A %s = %v", globalName, got)
		}
		return nil
	})
	return time.Since(start)
}

// dnsPart is the dns part of the space's status.
func dnsPart(t *testing.T, c client.Client, ns string) space.Condition {
	t.Helper()
	var n corev1.Namespace
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: ns}, &n))
	st, err := space.ParseStatus(n.Annotations[space.AnnotationStatus])
	require.NoError(t, err)
	return st.Parts[space.PartDNS]
}

func waitDNSReason(t *testing.T, c client.Client, ns, reason string) space.Condition {
	t.Helper()
	var got space.Condition
	deccotest.WaitFor(t, 60*time.Second, ns+" dns "+reason, func() error {
		if got = dnsPart(t, c, ns); got.Reason != reason {
			return fmt.Errorf("dns part %+v", got)
		}
		return nil
	})
	return got
}

func waitEvent(t *testing.T, c client.Client, ns, reason string) {
	t.Helper()
	deccotest.WaitFor(t, 30*time.Second, reason+" Event on "+ns, func() error {
		var list eventsv1.EventList
		if err := c.List(context.Background(), &list); err != nil {
			return err
		}
		for _, ev := range list.Items {
			if ev.Regarding.Kind == "Namespace" && ev.Regarding.Name == ns && ev.Reason == reason {
				return nil
			}
		}
		return errors.New("not recorded yet")
	})
}

// checkZone: the global name's ownership records and addresses agree:
// every address a region's record lists is served, and every served
// address is a region's or the foreign one.
func checkZone(t *testing.T) {
	t.Helper()
	listed := map[string]bool{foreignAddr: true}
	markers := named.Values(t, "_decco-owner."+globalName, dns.TypeTXT)
	for _, m := range markers {
		_, targets, ok := strings.Cut(m, ",targets=")
		require.True(t, ok, "marker %q", m)
		for _, a := range strings.Split(targets, "+") {
			listed[a] = true
		}
	}
	served := globalAddrs(t)
	for a := range listed {
		assert.Contains(t, served, a, "listed by %v", markers)
	}
	for _, a := range served {
		assert.True(t, listed[a], "%s served without an ownership record (%v)", a, markers)
	}
}

func TestRegions(t *testing.T) {
	needAll(t)
	foo := sidecartest.NewCA(t, "foo")
	eastR := &region{name: "cluster-east", cluster: east, space: "foo-east", addr: "192.0.2.1"}
	westR := &region{name: "cluster-west", cluster: west, space: "foo-west", addr: "192.0.2.2"}
	named.Insert(t, globalName+". 300 IN A "+foreignAddr)
	for _, r := range []*region{eastR, westR} {
		r.install(t, foo)
		r.start(t)
		label(t, r.client(), r.space, map[string]string{
			space.AnnotationDomain: zone, space.AnnotationGlobalName: globalName, space.AnnotationCASecret: "foo-ca"})
		require.NoError(t, r.client().Create(context.Background(), service(r.space)))
	}
	// Another customer's space in the east cluster, with a CA of its own.
	label(t, east.Client, "bar-east", map[string]string{space.AnnotationDomain: zone})
	backend(t, east.Client, "foo-east", "db-1", "10.244.0.11")
	backend(t, west.Client, "foo-west", "db-1", "10.244.1.11")

	t.Run("both regions serve the global name, each its own record", func(t *testing.T) {
		took := waitAddrs(t, 3*time.Minute, eastR.addr, westR.addr, foreignAddr)
		t.Logf("both regions published %s after %s (certificates issued from the shared CA first)", globalName, took.Round(time.Millisecond))
		markers := named.Values(t, "_decco-owner."+globalName, dns.TypeTXT)
		slices.Sort(markers)
		require.Len(t, markers, 2)
		assert.True(t, strings.HasPrefix(markers[0], "heritage=decco,owner=cluster-east,space=foo-east,trust="), markers[0])
		assert.True(t, strings.HasSuffix(markers[0], ",targets="+eastR.addr), markers[0])
		assert.True(t, strings.HasPrefix(markers[1], "heritage=decco,owner=cluster-west,space=foo-west,trust="), markers[1])
		trust := func(m string) string { v, _, _ := strings.Cut(strings.SplitAfter(m, "trust=")[1], ","); return v }
		assert.Equal(t, trust(markers[0]), trust(markers[1]), "one trust domain: the shared CA's")
		assert.Equal(t, []string{eastR.addr}, named.Values(t, "foo-east."+zone, dns.TypeA))
		assert.Equal(t, []string{westR.addr}, named.Values(t, "foo-west."+zone, dns.TypeA))
		// The region that published second saw the first; the status is
		// what the provider found at the region's last reconcile.
		deccotest.WaitFor(t, 60*time.Second, "a region's status naming the other", func() error {
			e, w := dnsPart(t, east.Client, "foo-east"), dnsPart(t, west.Client, "foo-west")
			if !e.Ready || !w.Ready || !strings.Contains(e.Message+w.Message, "other regions publishing it: cluster-") {
				return fmt.Errorf("dns parts %+v, %+v", e, w)
			}
			return nil
		})
	})

	t.Run("each region's gateway answers the global name", func(t *testing.T) {
		// DNS sends the name's clients to either region's gateway: the
		// space's listeners and routes there, as the apiserver stores
		// them, name it beside the region's own.
		for _, r := range []*region{eastR, westR} {
			deccotest.WaitFor(t, time.Minute, r.space+"'s TLSRoute by both names", func() error {
				var rt gatewayv1.TLSRoute
				if err := r.client().Get(context.Background(), client.ObjectKey{Namespace: r.space, Name: "decco-db"}, &rt); err != nil {
					return err
				}
				want := []gatewayv1.Hostname{gatewayv1.Hostname("db." + r.space + "." + zone), gatewayv1.Hostname("db." + globalName)}
				if !slices.Equal(rt.Spec.Hostnames, want) || len(rt.Spec.ParentRefs) != 2 {
					return fmt.Errorf("hostnames %v, parents %d", rt.Spec.Hostnames, len(rt.Spec.ParentRefs))
				}
				return nil
			})
			var ls gatewayv1.ListenerSet
			require.NoError(t, r.client().Get(context.Background(), client.ObjectKey{Namespace: r.space, Name: route.ListenerSetName}, &ls))
			hosts := map[string]string{}
			for _, l := range ls.Spec.Listeners {
				hosts[string(l.Name)] = string(*l.Hostname)
			}
			assert.Equal(t, map[string]string{route.ListenerTLS: "*." + r.space + "." + zone, route.ListenerTLSGlobal: "*." + globalName}, hosts)
		}
	})

	t.Run("an unready region is withdrawn and restored", func(t *testing.T) {
		removeBackend(t, west.Client, "foo-west", "db-1")
		withdraw := waitAddrs(t, time.Minute, eastR.addr, foreignAddr)
		c := waitDNSReason(t, west.Client, "foo-west", reconciler.ReasonRegionWithdrawn)
		assert.Contains(t, c.Message, "no ready pod behind Service db")
		waitEvent(t, west.Client, "foo-west", reconciler.ReasonRegionWithdrawn)
		assert.Equal(t, []string{westR.addr}, named.Values(t, "foo-west."+zone, dns.TypeA), "the region's own name stays")
		checkGlobalView(t, `NotReady\s+withdrawn\s+-`, false)

		backend(t, west.Client, "foo-west", "db-2", "10.244.1.12")
		restore := waitAddrs(t, time.Minute, eastR.addr, westR.addr, foreignAddr)
		waitDNSReason(t, west.Client, "foo-west", reconciler.ReasonPublished)
		checkGlobalView(t, `Ready\s+published\s+-`, true)
		t.Logf("backing pod deleted: address withdrawn from %s in %s; new pod ready: restored in %s (zone TTL %ds)",
			globalName, withdraw.Round(time.Millisecond), restore.Round(time.Millisecond), ttl)
		assert.Less(t, withdraw, 15*time.Second)
		assert.Less(t, restore, 15*time.Second)
	})

	t.Run("a broken PKI withdraws the region", func(t *testing.T) {
		// The shared CA and the issued certificate vanish: cert-manager
		// can't reissue, the pki part fails, the region leaves the name.
		ctx := context.Background()
		for _, name := range []string{"foo-ca", space.DefaultWorkloadCertSecret} {
			require.NoError(t, west.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "foo-west", Name: name}}))
		}
		withdraw := waitAddrs(t, 2*time.Minute, eastR.addr, foreignAddr)
		c := waitDNSReason(t, west.Client, "foo-west", reconciler.ReasonRegionWithdrawn)
		assert.Contains(t, c.Message, "pki ")
		require.NoError(t, west.Client.Create(ctx, caSecret(t, "foo-west", "foo-ca", foo)))
		restore := waitAddrs(t, 2*time.Minute, eastR.addr, westR.addr, foreignAddr)
		t.Logf("PKI broken: withdrawn in %s; CA restored: back in %s (through cert-manager's reissue)", withdraw.Round(time.Millisecond), restore.Round(time.Millisecond))
	})

	t.Run("the last address is never withdrawn", func(t *testing.T) {
		removeBackend(t, west.Client, "foo-west", "db-2")
		waitAddrs(t, time.Minute, eastR.addr, foreignAddr)
		removeBackend(t, east.Client, "foo-east", "db-1")
		c := waitDNSReason(t, east.Client, "foo-east", reconciler.ReasonLastRegion)
		assert.Contains(t, c.Message, "no other region publishes it")
		waitEvent(t, east.Client, "foo-east", reconciler.ReasonLastRegion)
		assert.Equal(t, []string{eastR.addr, foreignAddr}, globalAddrs(t), "east keeps the name alive")
		assert.Equal(t, reconciler.ReasonRegionWithdrawn, dnsPart(t, west.Client, "foo-west").Reason)

		backend(t, west.Client, "foo-west", "db-3", "10.244.1.13")
		// West is back: sick east leaves at its next look
		// (reconciler.LastRegionRecheck), nothing in its cluster having
		// changed.
		left := waitAddrs(t, time.Minute, westR.addr, foreignAddr)
		t.Logf("both regions unready: east's address kept as the last; it left %s after west was ready again (recheck every %s)",
			left.Round(time.Millisecond), reconciler.LastRegionRecheck)
		assert.Less(t, left, reconciler.LastRegionRecheck+5*time.Second)
		backend(t, east.Client, "foo-east", "db-2", "10.244.0.12")
		waitAddrs(t, time.Minute, eastR.addr, westR.addr, foreignAddr)
	})

	t.Run("a manager killed mid-update leaves the zone consistent", func(t *testing.T) {
		// Each round flips west's readiness and kills its manager
		// (SIGKILL) 0-120 ms later: the update follows a flip by about
		// 100 ms, so some kills land before it, some during, some after.
		// After every kill the zone must be consistent, and the restarted
		// manager must bring it to the region's state.
		ready, landed := true, 0
		var slowest time.Duration
		for i := range 8 {
			if ready {
				removeBackend(t, west.Client, "foo-west", currentWestPod(t))
			} else {
				backend(t, west.Client, "foo-west", fmt.Sprintf("db-k%d", i), fmt.Sprintf("10.244.1.%d", 20+i))
			}
			ready = !ready
			time.Sleep(time.Duration(i%4*40) * time.Millisecond)
			westR.mgr.Kill()
			checkZone(t)
			if slices.Contains(globalAddrs(t), westR.addr) == ready {
				landed++
			}
			westR.start(t)
			want := []string{eastR.addr, foreignAddr}
			if ready {
				want = append(want, westR.addr)
			}
			slowest = max(slowest, waitAddrs(t, 2*time.Minute, want...))
			checkZone(t)
		}
		t.Logf("8 kills 0-120 ms after a readiness flip: the flip's update had landed before %d of them; zone consistent after each; the restarted manager converged within %s (process start and cache sync included)",
			landed, slowest.Round(time.Millisecond))
	})

	t.Run("one trust domain: foo-east's client certificate opens foo-west's sidecar, bar's does not", func(t *testing.T) {
		trustAcrossRegions(t, foo)
	})
}

// currentWestPod names foo-west's backing pod.
func currentWestPod(t *testing.T) string {
	t.Helper()
	var pods corev1.PodList
	require.NoError(t, west.Client.List(context.Background(), &pods, client.InNamespace("foo-west")))
	require.Len(t, pods.Items, 1)
	return pods.Items[0].Name
}

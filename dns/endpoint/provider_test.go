package endpoint_test

import (
	"context"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
)

var cluster *controlplane.Cluster

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(m, &cluster, controlplane.Options{WithoutControllerManager: true}))
}

// countingClient counts the writes that reach the apiserver, so a test
// can assert that converging an unchanged space writes nothing.
type countingClient struct {
	client.Client
	writes atomic.Int32
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.writes.Add(1)
	return c.Client.Create(ctx, obj, opts...)
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c.writes.Add(1)
	return c.Client.Update(ctx, obj, opts...)
}

func (c *countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.writes.Add(1)
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *countingClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c.writes.Add(1)
	return c.Client.Delete(ctx, obj, opts...)
}

// setup returns a counting client and a fresh namespace for one test.
func setup(t *testing.T, ns string) (*countingClient, *endpoint.Provider) {
	t.Helper()
	if cluster == nil {
		t.Skip("needs the local control plane; run without -short")
	}
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(endpoint.AddToScheme(s))
	c, err := client.New(cluster.Config, client.Options{Scheme: s})
	require.NoError(t, err)
	require.NoError(t, c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	cc := &countingClient{Client: c}
	return cc, endpoint.NewProvider(cc)
}

func get(t *testing.T, c client.Client, ns string) *endpoint.DNSEndpoint {
	t.Helper()
	obj := &endpoint.DNSEndpoint{}
	err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: endpoint.ObjectName}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return obj
}

func TestEnsureConvergesWithoutRedundantWrites(t *testing.T) {
	ctx := context.Background()
	c, p := setup(t, "dns-converge")
	sp := space.Space{Name: "dns-converge", Domain: "example.com"}
	svcs := []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: sp.Name, Name: "db",
		Labels: map[string]string{space.LabelSpace: sp.Name}, Annotations: map[string]string{space.AnnotationDNS: "true"}}}}
	records := dns.Desired(sp, svcs, []string{"192.0.2.10", "2001:db8::10"}, 120)

	require.NoError(t, p.Ensure(ctx, sp.Name, records))
	got := get(t, c, sp.Name)
	require.NotNil(t, got)
	assert.Equal(t, map[string]string{space.LabelManagedBy: space.ManagedByValue, space.LabelSpace: sp.Name}, got.Labels)
	assert.Equal(t, []endpoint.Endpoint{
		{DNSName: "db.dns-converge.example.com", RecordType: "A", Targets: []string{"192.0.2.10"}, RecordTTL: 120},
		{DNSName: "db.dns-converge.example.com", RecordType: "AAAA", Targets: []string{"2001:db8::10"}, RecordTTL: 120},
		{DNSName: "dns-converge.example.com", RecordType: "A", Targets: []string{"192.0.2.10"}, RecordTTL: 120},
		{DNSName: "dns-converge.example.com", RecordType: "AAAA", Targets: []string{"2001:db8::10"}, RecordTTL: 120},
	}, got.Spec.Endpoints, "the apiserver kept every field: the mirror types match the CRD")
	assert.Equal(t, int32(1), c.writes.Load())

	// A resync with nothing changed writes nothing.
	require.NoError(t, p.Ensure(ctx, sp.Name, records))
	assert.Equal(t, int32(1), c.writes.Load(), "unchanged records must not cause a write")
	assert.Equal(t, got.ResourceVersion, get(t, c, sp.Name).ResourceVersion)

	// Labels added by others are kept and do not count as a difference.
	got.Labels["team"] = "payments"
	require.NoError(t, c.Client.Update(ctx, got))
	require.NoError(t, p.Ensure(ctx, sp.Name, records))
	assert.Equal(t, int32(1), c.writes.Load())

	// The gateway moves: the records follow.
	moved := dns.Desired(sp, nil, []string{"lb.example.net"}, 0)
	require.NoError(t, p.Ensure(ctx, sp.Name, moved))
	assert.Equal(t, int32(2), c.writes.Load())
	got = get(t, c, sp.Name)
	assert.Equal(t, []endpoint.Endpoint{{DNSName: "dns-converge.example.com", RecordType: "CNAME", Targets: []string{"lb.example.net"}}}, got.Spec.Endpoints)
	assert.Equal(t, "payments", got.Labels["team"])

	// Someone edits decco's records: the next resync puts them back.
	got.Spec.Endpoints[0].Targets = []string{"evil.example.org"}
	require.NoError(t, c.Client.Update(ctx, got))
	require.NoError(t, p.Ensure(ctx, sp.Name, moved))
	assert.Equal(t, []string{"lb.example.net"}, get(t, c, sp.Name).Spec.Endpoints[0].Targets)

	// Nothing desired (no gateway address any more): the object goes.
	require.NoError(t, p.Ensure(ctx, sp.Name, nil))
	assert.Nil(t, get(t, c, sp.Name))
	writes := c.writes.Load()
	require.NoError(t, p.Ensure(ctx, sp.Name, nil))
	assert.Equal(t, writes, c.writes.Load(), "nothing to delete, nothing written")
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	c, p := setup(t, "dns-remove")
	require.NoError(t, p.Ensure(ctx, "dns-remove", []dns.Record{{Name: "dns-remove.example.com", Targets: []string{"192.0.2.1"}}}))
	require.NotNil(t, get(t, c, "dns-remove"))
	require.NoError(t, p.Remove(ctx, "dns-remove"))
	assert.Nil(t, get(t, c, "dns-remove"))
	require.NoError(t, p.Remove(ctx, "dns-remove"), "removing twice is fine")
}

func TestNeverTouchesSomeoneElsesEndpoint(t *testing.T) {
	ctx := context.Background()
	c, p := setup(t, "dns-foreign")
	theirs := &endpoint.DNSEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: "dns-foreign", Name: endpoint.ObjectName},
		Spec: endpoint.DNSEndpointSpec{Endpoints: []endpoint.Endpoint{
			{DNSName: "mine.example.org", RecordType: "A", Targets: []string{"198.51.100.1"}},
		}},
	}
	require.NoError(t, c.Client.Create(ctx, theirs))

	err := p.Ensure(ctx, "dns-foreign", []dns.Record{{Name: "dns-foreign.example.com", Targets: []string{"192.0.2.1"}}})
	require.ErrorIs(t, err, endpoint.ErrNotOwned)
	assert.Contains(t, err.Error(), "dns-foreign/decco", "the error names the object")
	require.NoError(t, p.Remove(ctx, "dns-foreign"))
	assert.Equal(t, int32(0), c.writes.Load())
	got := get(t, c, "dns-foreign")
	require.NotNil(t, got)
	assert.Equal(t, theirs.Spec, got.Spec)
}

// staleCache answers every read NotFound, as a cache that has not seen an
// object yet (after an apiserver restart, say).
type staleCache struct{ client.Client }

func (s staleCache) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(schema.GroupResource{Group: "externaldns.k8s.io", Resource: "dnsendpoints"}, key.Name)
}

// A create that finds the object already there reads it live and
// converges, instead of failing until the cache catches up.
func TestStaleCacheConvergesThroughTheLiveReader(t *testing.T) {
	ctx := context.Background()
	c, p := setup(t, "dns-stale")
	first := []dns.Record{{Name: "dns-stale.example.com", Targets: []string{"192.0.2.1"}}}
	require.NoError(t, p.Ensure(ctx, "dns-stale", first))

	stale := endpoint.NewProvider(staleCache{c}).WithLiveReader(c)
	moved := []dns.Record{{Name: "dns-stale.example.com", Targets: []string{"192.0.2.2"}}}
	require.NoError(t, stale.Ensure(ctx, "dns-stale", moved))
	got := get(t, c, "dns-stale")
	require.NotNil(t, got)
	assert.Equal(t, []string{"192.0.2.2"}, []string(got.Spec.Endpoints[0].Targets))

	without := endpoint.NewProvider(staleCache{c})
	assert.Error(t, without.Ensure(ctx, "dns-stale", first), "without a live reader the stale create fails")
}

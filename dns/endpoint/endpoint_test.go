package endpoint_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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

// The DNSEndpoint Build makes, server-side applied as the reconciler
// applies it, comes back from the apiserver's CRD field for field: the
// mirror types match it.
func TestBuildRoundTripsThroughTheCRD(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(endpoint.AddToScheme(s))
	c, err := client.New(cluster.Config, client.Options{Scheme: s})
	require.NoError(t, err)
	sp := space.Space{Name: "dns-build", Domain: "example.com"}
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sp.Name}}))
	svcs := []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: sp.Name, Name: "db",
		Labels: map[string]string{space.LabelSpace: sp.Name}, Annotations: map[string]string{space.AnnotationDNS: "true"}}}}
	global := dns.Record{Name: "dns-build.example.net", Targets: []string{"192.0.2.10"}, TTL: 120, Shared: &dns.Shared{Trust: "ca1"}}
	want := endpoint.Build(sp, append(dns.Desired(sp, svcs, []string{"192.0.2.10", "2001:db8::10"}, 120), global), "cluster-east")

	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(want)
	require.NoError(t, err)
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	require.NoError(t, c.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u}), client.FieldOwner("decco")))

	var got endpoint.DNSEndpoint
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(want), &got))
	assert.Equal(t, map[string]string{space.LabelManagedBy: space.ManagedByValue, space.LabelSpace: sp.Name}, got.Labels)
	assert.Equal(t, []endpoint.Endpoint{
		{DNSName: "db.dns-build.example.com", RecordType: "A", Targets: []string{"192.0.2.10"}, RecordTTL: 120},
		{DNSName: "db.dns-build.example.com", RecordType: "AAAA", Targets: []string{"2001:db8::10"}, RecordTTL: 120},
		{DNSName: "dns-build.example.com", RecordType: "A", Targets: []string{"192.0.2.10"}, RecordTTL: 120},
		{DNSName: "dns-build.example.com", RecordType: "AAAA", Targets: []string{"2001:db8::10"}, RecordTTL: 120},
		{DNSName: "dns-build.example.net", RecordType: "A", Targets: []string{"192.0.2.10"}, RecordTTL: 120, SetIdentifier: "cluster-east"},
	}, got.Spec.Endpoints, "the apiserver kept every field, setIdentifier included")
}

// Records without targets are left out; the order is by name, then type;
// only a shared name's endpoint carries the set identifier.
func TestBuild(t *testing.T) {
	sp := space.Space{Name: "shop", Domain: "example.com"}
	got := endpoint.Build(sp, []dns.Record{
		{Name: "shop.example.com", Targets: []string{"2001:db8::1"}},
		{Name: "db.shop.example.com", Targets: []string{"lb.example.net"}},
		{Name: "empty.shop.example.com"},
		{Name: "shop.example.com", Targets: []string{"192.0.2.1"}},
		{Name: "shop.example.net", Targets: []string{"192.0.2.1"}, Shared: &dns.Shared{Trust: "ca1"}},
	}, "cluster-east")
	assert.Equal(t, sp.ObjectMeta(endpoint.ObjectName), got.ObjectMeta)
	assert.Equal(t, []endpoint.Endpoint{
		{DNSName: "db.shop.example.com", RecordType: "CNAME", Targets: []string{"lb.example.net"}},
		{DNSName: "shop.example.com", RecordType: "A", Targets: []string{"192.0.2.1"}},
		{DNSName: "shop.example.com", RecordType: "AAAA", Targets: []string{"2001:db8::1"}},
		{DNSName: "shop.example.net", RecordType: "A", Targets: []string{"192.0.2.1"}, SetIdentifier: "cluster-east"},
	}, got.Spec.Endpoints)
}

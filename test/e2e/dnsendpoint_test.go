package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/space"
)

// The space's DNSEndpoint is server-side applied by decco like its other
// objects: its fields belong to field manager decco, and a hand edit of
// its records is put back.
func TestDNSEndpointIsApplied(t *testing.T) {
	name := "dnsep-" + rand.String(5)
	createSpace(t, name, nil)
	exposeTCP(t, name, "db", true)
	waitReady(t, name)
	ctx := context.Background()
	c := deccoClient(t)
	var ep endpoint.DNSEndpoint
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: name, Name: endpoint.ObjectName}, &ep))
	assert.True(t, slices.ContainsFunc(ep.ManagedFields, func(f metav1.ManagedFieldsEntry) bool {
		return f.Manager == reconciler.FieldOwner && f.Operation == metav1.ManagedFieldsOperationApply
	}), "decco's fields are applied: %+v", ep.ManagedFields)

	host := "db." + name + ".example.com"
	for i := range ep.Spec.Endpoints {
		ep.Spec.Endpoints[i].Targets = []string{"198.51.100.66"}
	}
	require.NoError(t, c.Update(ctx, &ep), "a hand edit")
	waitFor(t, 30*time.Second, "the records put back", func() error {
		if got := dnsRecords(t, name)[host]; got != gatewayAddress {
			return fmt.Errorf("%s points at %s", host, got)
		}
		return nil
	})
}

// A DNSEndpoint of the user's holding decco's name is left as it is, and
// the space's DNS status says whose it is and what to do.
func TestUsersDNSEndpointIsNotTakenOver(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	name := "dnsown-" + rand.String(5)
	require.NoError(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	c := deccoClient(t)
	theirs := &endpoint.DNSEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: endpoint.ObjectName},
		Spec: endpoint.DNSEndpointSpec{Endpoints: []endpoint.Endpoint{
			{DNSName: "mine.example.org", RecordType: "A", Targets: []string{"198.51.100.1"}},
		}},
	}
	require.NoError(t, c.Create(ctx, theirs))

	makeSpace(t, name)

	dnsPart := waitPart(t, name, space.PartDNS, reconciler.ReasonNameInUse)
	assert.Contains(t, dnsPart.Message, "DNSEndpoint "+name+"/"+endpoint.ObjectName)
	assert.Contains(t, dnsPart.Message, "rename or delete that object")
	var after endpoint.DNSEndpoint
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(theirs), &after))
	assert.Empty(t, after.Labels[space.LabelManagedBy], "decco must not label a user's object as its own")
	assert.Equal(t, theirs.Spec, after.Spec, "decco must not change a user's object")
}

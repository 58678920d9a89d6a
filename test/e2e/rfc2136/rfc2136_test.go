// Package rfc2136 runs the reconciler end to end with the RFC2136 DNS
// provider against a real BIND server: spaces and services publish,
// change and withdraw their records in the zone, and a record decco did
// not create is left alone and reported in the space's status.
package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/dns/dnstest"
	"github.com/decco-dev/decco/dns/rfc2136"
	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/testkit"
)

const (
	zone           = "example.com"
	gatewayAddress = "192.0.2.20" // written into records, never dialed
	systemNS       = "decco-system"
)

var (
	cluster *controlplane.Cluster
	named   *dnstest.Server
)

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(&withDNS{m}, &cluster, controlplane.Options{WithCertManager: true}))
}

type withDNS struct{ m *testing.M }

func (w *withDNS) Run() int {
	if cluster == nil {
		return w.m.Run()
	}
	// Without named nothing is started; each test then fails or skips by
	// prereq's rule (requireNamed).
	if _, err := dnstest.Binary(); err == nil {
		err := w.setup()
		if named != nil {
			defer func() { _ = named.Stop() }()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return w.m.Run()
}

// requireNamed is each test's check that the suite has its DNS server.
func requireNamed(t *testing.T) {
	t.Helper()
	cluster.Need(t)
	dnstest.Require(t)
}

// setup starts BIND with a zone and a TSIG key, stores the key in a
// Secret, and runs decco's manager with --dns-provider=rfc2136.
func (w *withDNS) setup() error {
	ctx := context.Background()
	var err error
	if named, err = dnstest.Start(dnstest.Options{Zones: []string{zone}}); err != nil {
		return err
	}
	if err := cluster.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNS}}); err != nil {
		return err
	}
	if err := cluster.Client.Create(ctx, rfc2136.NewSecret(systemNS, "tsig", named.KeyName, named.Algorithm, named.Secret)); err != nil {
		return err
	}
	if err := deccotest.Gateway(ctx, cluster.Client, "gateway", "shared", gatewayAddress); err != nil {
		return err
	}
	_, err = deccotest.StartManager(ctx, cluster.Config, cluster.Client, func(o *manager.Options) {
		o.Reconciler.Gateway = "gateway/shared"
		o.Reconciler.DNSProvider = manager.DNSProviderRFC2136
		o.Reconciler.DNSTTL = 120
		o.RFC2136.Server = named.Addr
		o.RFC2136.TSIGSecret = systemNS + "/tsig"
		o.RFC2136.OwnerID = "e2e"
	})
	return err
}

func TestRecordsFollowSpacesAndServices(t *testing.T) {
	requireNamed(t)
	ctx := t.Context()
	createSpace(t, "shop")
	svc := tcpService("shop", "db", true)
	require.NoError(t, cluster.Client.Create(ctx, svc))

	waitA(t, "shop."+zone, []string{gatewayAddress})
	waitA(t, "db.shop."+zone, []string{gatewayAddress})
	assert.Equal(t, uint32(120), named.TTL(t, "db.shop."+zone, mdns.TypeA))

	// The service withdraws its DNS opt-in: only its record goes.
	require.NoError(t, cluster.Client.Get(ctx, client.ObjectKeyFromObject(svc), svc))
	svc.Annotations[space.AnnotationDNS] = "false"
	require.NoError(t, cluster.Client.Update(ctx, svc))
	waitA(t, "db.shop."+zone, nil)
	assert.Equal(t, []string{gatewayAddress}, named.Values(t, "shop."+zone, mdns.TypeA))

	// The namespace stops being a space: its records go too. (The
	// reconciler writes the namespace too, its status and Pod Security
	// labels, so the update is retried on a conflict.)
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var ns corev1.Namespace
		if err := cluster.Client.Get(ctx, client.ObjectKey{Name: "shop"}, &ns); err != nil {
			return err
		}
		delete(ns.Labels, space.LabelSpace)
		return cluster.Client.Update(ctx, &ns)
	}))
	waitA(t, "shop."+zone, nil)
}

func TestForeignRecordIsLeftAloneAndReported(t *testing.T) {
	requireNamed(t)
	named.Insert(t, "taken."+zone+". 300 IN A 198.51.100.7")
	createSpace(t, "taken")

	st := waitStatus(t, "taken", func(st space.Status) bool {
		c := st.Parts[space.PartDNS]
		return !c.Ready && c.Message != ""
	})
	dnsPart := st.Parts[space.PartDNS]
	assert.Equal(t, reconciler.ReasonNameConflict, dnsPart.Reason)
	assert.Contains(t, dnsPart.Message, "taken."+zone)
	t.Logf("dns status: %s: %s", dnsPart.Reason, dnsPart.Message)
	// decco never overwrites it, even when it writes the space's other
	// records: a service's record appearing shows the provider updated
	// the zone for this space after the conflict.
	require.NoError(t, cluster.Client.Create(t.Context(), tcpService("taken", "db", true)))
	waitA(t, "db.taken."+zone, []string{gatewayAddress})
	assert.Equal(t, []string{"198.51.100.7"}, named.Values(t, "taken."+zone, mdns.TypeA))
}

func createSpace(t *testing.T, name string) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{space.LabelSpace: name}, Annotations: map[string]string{space.AnnotationDomain: zone}}}
	require.NoError(t, cluster.Client.Create(t.Context(), ns))
}

func tcpService(ns, name string, dns bool) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels:      map[string]string{space.LabelSpace: ns},
			Annotations: map[string]string{space.AnnotationDNS: fmt.Sprint(dns)}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "db", Port: 3306}}},
	}
}

// waitA waits until name's A records are want (nil: none).
func waitA(t *testing.T, name string, want []string) {
	t.Helper()
	testkit.WaitFor(t, 60*time.Second, "A "+name+" in named", func() error {
		if got := named.Values(t, name, mdns.TypeA); fmt.Sprint(got) != fmt.Sprint(want) && (len(got) > 0 || len(want) > 0) {
			return fmt.Errorf("got %v, want %v\nnamed log:\n%s", got, want, named.Log())
		}
		return nil
	})
}

func waitStatus(t *testing.T, ns string, ok func(space.Status) bool) space.Status {
	t.Helper()
	var st space.Status
	testkit.WaitFor(t, 90*time.Second, "space "+ns+": status as expected", func() error {
		var n corev1.Namespace
		if err := cluster.Client.Get(t.Context(), client.ObjectKey{Name: ns}, &n); err != nil {
			return err
		}
		var err error
		if st, err = space.ParseStatus(n.Annotations[space.AnnotationStatus]); err != nil {
			return err
		}
		if !ok(st) {
			return errors.New(st.Format())
		}
		return nil
	})
	return st
}

package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/install"
	"github.com/decco-dev/decco/manager"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/reconciler"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
)

// The shared Gateway the reconciler attaches spaces to, and the address it
// reports, which DNS records must point at.
const (
	gatewayNamespace = "decco-gateway"
	gatewayName      = "shared"
	gatewayAddress   = "192.0.2.10"
)

// tuneReconciler points the in-process manager's reconciler at the test
// Gateway; everything else is the flags' defaults (Gateway API routes,
// DNSEndpoint records, a self-signed CA per space).
func tuneReconciler(o *manager.Options) {
	o.Reconciler.Gateway = gatewayNamespace + "/" + gatewayName
}

// writeLog records every write request the manager sends to the
// apiserver, so a test can tell "decco wrote nothing" from "decco wrote
// the same thing again". Reads (GET, LIST, WATCH) are not recorded.
type writeLog struct {
	mu     sync.Mutex
	writes []string // "METHOD path"
}

var managerWrites = &writeLog{}

// wrap returns a copy of cfg whose requests pass through the log.
func (w *writeLog) wrap(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodGet {
				w.mu.Lock()
				w.writes = append(w.writes, req.Method+" "+req.URL.Path)
				w.mu.Unlock()
			}
			return rt.RoundTrip(req)
		})
	})
	return out
}

// since returns the writes after mark that concern namespace ns (objects
// in it, or the namespace itself).
func (w *writeLog) since(mark int, ns string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, wr := range w.writes[mark:] {
		path := wr[strings.Index(wr, " ")+1:]
		if strings.Contains(path, "/namespaces/"+ns+"/") || strings.HasSuffix(path, "/namespaces/"+ns) {
			out = append(out, wr)
		}
	}
	return out
}

func (w *writeLog) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.writes)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// deccoClient knows decco's DNSEndpoint mirror type, which the cluster's
// own client does not.
func deccoClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(cluster.Config, client.Options{Scheme: install.Scheme})
	require.NoError(t, err)
	return c
}

var gatewayOnce sync.Once

// ensureGateway creates the shared Gateway, admitting ListenerSets from
// every namespace, and reports an address in its status as a load
// balancer would.
func ensureGateway(t *testing.T) {
	t.Helper()
	gatewayOnce.Do(func() {
		require.NoError(t, deccotest.Gateway(context.Background(), k8s, gatewayNamespace, gatewayName, gatewayAddress))
	})
}

// createSpace creates namespace name as a space with extra annotations.
func createSpace(t *testing.T, name string, ann map[string]string) {
	t.Helper()
	cluster.Need(t)
	ensureGateway(t)
	annotations := map[string]string{space.AnnotationDomain: "example.com"}
	for k, v := range ann {
		annotations[k] = v
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{space.LabelSpace: name}, Annotations: annotations}}
	require.NoError(t, k8s.Create(context.Background(), ns))
}

// makeSpace makes the existing namespace name a space, as createSpace
// does, for a test that put something there first.
func makeSpace(t *testing.T, name string) {
	t.Helper()
	ensureGateway(t)
	var ns corev1.Namespace
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Name: name}, &ns))
	ns.Labels = map[string]string{space.LabelSpace: name}
	ns.Annotations = map[string]string{space.AnnotationDomain: "example.com"}
	require.NoError(t, k8s.Update(context.Background(), &ns))
}

// exposeTCP and exposeHTTP create a Service labeled with the space whose
// named target port the sidecar takes over.
func exposeTCP(t *testing.T, ns, name string, dns bool) {
	t.Helper()
	ann := map[string]string{}
	if dns {
		ann[space.AnnotationDNS] = "true"
	}
	createService(t, ns, name, ann)
}

func exposeHTTP(t *testing.T, ns, name, path string) {
	t.Helper()
	createService(t, ns, name, map[string]string{space.AnnotationHTTPPath: path})
}

func createService(t *testing.T, ns, name string, ann map[string]string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{space.LabelSpace: ns}, Annotations: ann},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			// A numeric target: the webhook moves it to the listener and
			// records it, which is all the policy needs. (A named target
			// resolves through EndpointSlices, which list only pods with
			// an address: pods that run, on a node; see test/e2e/node.)
			Ports: []corev1.ServicePort{{Name: "tls", Port: 443, TargetPort: intstr.FromInt32(8443)}},
		},
	}
	require.NoError(t, k8s.Create(context.Background(), svc))
}

// status reads the space's decco.io/status annotation.
func status(t *testing.T, ns string) (space.Status, bool) {
	t.Helper()
	var n corev1.Namespace
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Name: ns}, &n))
	v, ok := n.Annotations[space.AnnotationStatus]
	if !ok {
		return space.Status{}, false
	}
	st, err := space.ParseStatus(v)
	require.NoError(t, err)
	return st, true
}

// waitFor polls check until it returns nil or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deccotest.WaitFor(t, timeout, what, check)
}

// waitPart waits until the space's part has reason and returns it.
func waitPart(t *testing.T, ns, part, reason string) space.Condition {
	t.Helper()
	var c space.Condition
	waitFor(t, time.Minute, part+" "+reason, func() error {
		st, ok := status(t, ns)
		if c = st.Parts[part]; !ok || c.Reason != reason {
			return fmt.Errorf("status %s", st.Format())
		}
		return nil
	})
	return c
}

// waitReady waits until every part of the space is ready.
func waitReady(t *testing.T, ns string) space.Status {
	t.Helper()
	var st space.Status
	waitFor(t, 2*time.Minute, "space "+ns+" ready", func() error {
		var ok bool
		if st, ok = status(t, ns); !ok {
			return errors.New("no status annotation yet")
		}
		if !st.Ready() {
			return fmt.Errorf("status %s", st.Format())
		}
		return nil
	})
	return st
}

// A space with an HTTP and a TCP service gets its PKI, issued by
// cert-manager's real controllers, its NetworkPolicies, its Gateway API
// objects under the seed's names (accepted by the CRDs' validation), a
// DNSEndpoint pointing at the Gateway, and a status saying so.
func TestSpaceGetsPKIPoliciesRoutesAndDNS(t *testing.T) {
	name := "shop-" + rand.String(5)
	createSpace(t, name, nil)
	exposeHTTP(t, name, "web", "/store")
	exposeTCP(t, name, "db", true)
	ctx := context.Background()
	host := name + ".example.com"

	st := waitReady(t, name)
	assert.Equal(t, pki.ReasonIssued, st.Parts[space.PartPKI].Reason)
	assert.Equal(t, reconciler.ReasonPublished, st.Parts[space.PartDNS].Reason)

	// PKI: the CA, its Issuer and the certificates, issued.
	for _, c := range []string{pki.CACertificateName, pki.WorkloadCertificateName, pki.HTTPCertificateName} {
		var cert certmanagerv1.Certificate
		require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: c}, &cert), c)
		assert.Equal(t, space.ManagedByValue, cert.Labels[space.LabelManagedBy])
	}
	var caIssuer certmanagerv1.Issuer
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: pki.CAIssuerName}, &caIssuer))
	var workload corev1.Secret
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: space.DefaultWorkloadCertSecret}, &workload))
	leaf := parseCert(t, workload.Data[corev1.TLSCertKey])
	assert.Contains(t, leaf.DNSNames, host)
	assert.Contains(t, leaf.DNSNames, "*."+host)
	assert.Contains(t, leaf.DNSNames, "*."+name+".svc")

	// Policies: default deny, and the listener port open, to the gateway
	// too since both Services have routes.
	var listeners networkingv1.NetworkPolicy
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: netpol.ListenerPolicy}, &listeners))
	require.Len(t, listeners.Spec.Ingress, 2)
	assert.Equal(t, intstr.FromInt32(inject.ListenerPort(8443)), *listeners.Spec.Ingress[0].Ports[0].Port)
	assert.Equal(t, intstr.FromInt32(inject.ListenerPort(8443)), *listeners.Spec.Ingress[1].Ports[0].Port)
	assert.Equal(t, []string{gatewayNamespace}, listeners.Spec.Ingress[1].From[0].NamespaceSelector.MatchExpressions[0].Values)
	var isolation networkingv1.NetworkPolicy
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: netpol.IsolationPolicy}, &isolation))
	assert.Empty(t, isolation.Spec.Ingress)

	// Routes: the seed's names.
	var ls gatewayv1.ListenerSet
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: route.ListenerSetName}, &ls))
	assert.Equal(t, gatewayv1.ObjectName(gatewayName), ls.Spec.ParentRef.Name)
	var web gatewayv1.HTTPRoute
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: route.ObjectPrefix + "web"}, &web))
	assert.Equal(t, []gatewayv1.Hostname{gatewayv1.Hostname(host)}, web.Spec.Hostnames)
	assert.Equal(t, "/store", *web.Spec.Rules[0].Matches[0].Path.Value)
	var db gatewayv1.TLSRoute
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: route.ObjectPrefix + "db"}, &db))
	assert.Equal(t, []gatewayv1.Hostname{gatewayv1.Hostname("db." + host)}, db.Spec.Hostnames)

	// DNS: both names, A records on the Gateway's address.
	assert.Equal(t, map[string]string{host: gatewayAddress, "db." + host: gatewayAddress}, dnsRecords(t, name))

	// Events on the namespace tell the same story, one per status change
	// (certificates issuing, then issued), not one per part.
	waitFor(t, 30*time.Second, "an Event for the converged space", func() error {
		reasons := namespaceEvents(t, name)
		if !slices.Contains(reasons, pki.ReasonIssued) && !slices.Contains(reasons, reconciler.ReasonReady) {
			return fmt.Errorf("events %v lack %s or %s", reasons, pki.ReasonIssued, reconciler.ReasonReady)
		}
		return nil
	})
	reasons := namespaceEvents(t, name)
	assert.LessOrEqual(t, len(reasons), 3, "one Event per status change, not one per part: %v", reasons)
	assert.NotContains(t, reasons, reconciler.ReasonPublished, "DNS shares the converging space's Event")
}

// One CA per space: a workload certificate verifies against its own
// space's CA and not against another space's (invariant 3).
func TestSpaceCertificatesVerifyOnlyAgainstTheirOwnCA(t *testing.T) {
	a, b := "ca-a-"+rand.String(5), "ca-b-"+rand.String(5)
	createSpace(t, a, nil)
	createSpace(t, b, nil)
	waitReady(t, a)
	waitReady(t, b)
	leafA, caA := workloadAndCA(t, a)
	_, caB := workloadAndCA(t, b)
	verify := func(ca *x509.Certificate) error {
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		_, err := leafA.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err
	}
	assert.NoError(t, verify(caA), "space %s's client certificate against its own CA", a)
	assert.Error(t, verify(caB), "space %s's client certificate must not verify against space %s's CA", a, b)
}

// workloadAndCA returns the sidecar's certificate and the space CA, both
// from the Secrets cert-manager wrote.
func workloadAndCA(t *testing.T, ns string) (*x509.Certificate, *x509.Certificate) {
	t.Helper()
	var workload, ca corev1.Secret
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: space.DefaultWorkloadCertSecret}, &workload))
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: space.CASecretName}, &ca))
	caCert := parseCert(t, ca.Data[corev1.TLSCertKey])
	assert.Equal(t, ca.Data[corev1.TLSCertKey], workload.Data["ca.crt"], "the sidecar's trust anchor is the space CA")
	return parseCert(t, workload.Data[corev1.TLSCertKey]), caCert
}

func parseCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	require.NotNil(t, block, "no PEM certificate")
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

// dnsRecords maps each name in the space's DNSEndpoint to its targets.
func dnsRecords(t *testing.T, ns string) map[string]string {
	t.Helper()
	var ep endpoint.DNSEndpoint
	require.NoError(t, deccoClient(t).Get(context.Background(), client.ObjectKey{Namespace: ns, Name: endpoint.ObjectName}, &ep))
	out := map[string]string{}
	for _, e := range ep.Spec.Endpoints {
		out[e.DNSName] = strings.Join(e.Targets, ",")
		assert.Equal(t, "A", e.RecordType, e.DNSName)
	}
	return out
}

// namespaceEvents lists the reasons of the Events about namespace ns.
// waitEvent waits until the namespace has an Event with reason: Events
// are recorded asynchronously, after the status they go with.
func waitEvent(t *testing.T, ns, reason string) {
	t.Helper()
	waitFor(t, 30*time.Second, reason+" Event on "+ns, func() error {
		if !slices.Contains(namespaceEvents(t, ns), reason) {
			return errors.New("not recorded yet")
		}
		return nil
	})
}

func namespaceEvents(t *testing.T, ns string) []string {
	t.Helper()
	var list eventsv1.EventList
	require.NoError(t, k8s.List(context.Background(), &list))
	var out []string
	for _, ev := range list.Items {
		if ev.Regarding.Kind == "Namespace" && ev.Regarding.Name == ns {
			out = append(out, ev.Reason)
		}
	}
	return out
}

// admitted returns the namespaces the space's listener policy admits to
// every listener; nil means every namespace (but the gateway's, which has
// a rule of its own for exposed Services).
func admitted(t *testing.T, ns string) []string {
	t.Helper()
	var np networkingv1.NetworkPolicy
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: netpol.ListenerPolicy}, &np))
	sel := np.Spec.Ingress[0].From[0].NamespaceSelector
	if len(sel.MatchExpressions) == 0 || sel.MatchExpressions[0].Operator == metav1.LabelSelectorOpNotIn {
		return nil
	}
	return sel.MatchExpressions[0].Values
}

// A space joining or leaving a project changes who may connect to every
// member of that project, not just to itself.
func TestProjectMembershipUpdatesEveryMember(t *testing.T) {
	suffix := rand.String(5)
	project := "team-" + suffix
	a, b, c := "pa-"+suffix, "pb-"+suffix, "pc-"+suffix
	createSpace(t, a, map[string]string{space.AnnotationProject: project})
	createSpace(t, b, map[string]string{space.AnnotationProject: project})
	createSpace(t, c, nil)
	for _, ns := range []string{a, b, c} {
		exposeTCP(t, ns, "svc", false)
	}
	system := install.SystemNamespace
	members := func(names ...string) []string {
		out := append([]string{system}, names...)
		slices.Sort(out)
		return out
	}
	waitAdmitted := func(ns string, want []string) {
		t.Helper()
		waitFor(t, time.Minute, "policy of "+ns, func() error {
			var np networkingv1.NetworkPolicy
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: netpol.ListenerPolicy}, &np); err != nil {
				return err
			}
			if got := admitted(t, ns); !slices.Equal(got, want) {
				return fmt.Errorf("admits %v, want %v", got, want)
			}
			return nil
		})
	}
	waitAdmitted(a, members(a, b))
	waitAdmitted(b, members(a, b))
	waitAdmitted(c, nil)
	// Wait out cert-manager's issuing, which reconciles every space again
	// and again, so what follows shows the membership change alone
	// reaching the other members.
	for _, ns := range []string{a, b, c} {
		waitReady(t, ns)
	}
	settle(t)

	// c joins: a and b admit it too.
	setAnnotation(t, c, space.AnnotationProject, project)
	waitAdmitted(a, members(a, b, c))
	waitAdmitted(b, members(a, b, c))
	waitAdmitted(c, members(a, b, c))
	settle(t)

	// A label claiming the project does nothing: membership is the
	// annotation on a space, and policies select by namespace name.
	mallory := "mallory-" + suffix
	require.NoError(t, k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: mallory,
		Labels: map[string]string{"decco.io/project": project, "project": project}}}))

	// b leaves: the others stop admitting it; b is open again. The
	// reconciles this causes see mallory: the cache delivers namespace
	// events in order, and mallory was created before b changed. So the
	// exact lists below also prove mallory was not admitted.
	setAnnotation(t, b, space.AnnotationProject, "")
	waitAdmitted(a, members(a, c))
	waitAdmitted(c, members(a, c))
	waitAdmitted(b, nil)
	assert.NotContains(t, admitted(t, a), mallory)
}

// setAnnotation sets (or, with "", removes) a namespace annotation.
func setAnnotation(t *testing.T, ns, key, value string) {
	t.Helper()
	var n corev1.Namespace
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Name: ns}, &n))
	patch := client.MergeFrom(n.DeepCopy())
	if value == "" {
		delete(n.Annotations, key)
	} else {
		n.Annotations[key] = value
	}
	require.NoError(t, k8s.Patch(context.Background(), &n, patch))
}

// Two spaces wanting one hostname: the older namespace keeps it, the
// younger one's status names the owner, and the name passes to the
// younger one when the owner lets go.
func TestHostnameCollisionFirstComeFirstServed(t *testing.T) {
	suffix := rand.String(5)
	owner, later := "db-"+suffix, "shop-"+suffix
	host := owner + "." + later + ".example.com"
	// The older space is reachable at db-x.shop-x.example.com ...
	createSpace(t, owner, map[string]string{space.AnnotationDomain: later + ".example.com"})
	waitReady(t, owner)
	// ... which is also the SNI name of the younger space's TCP service db-x.
	createSpace(t, later, nil)
	exposeTCP(t, later, owner, true)

	waitFor(t, time.Minute, "HostnameTaken on "+later, func() error {
		st, ok := status(t, later)
		if !ok {
			return errors.New("no status yet")
		}
		c := st.Parts[space.PartRoutes]
		if c.Reason != route.ReasonHostnameTaken || !strings.Contains(c.Message, owner) || !strings.Contains(c.Message, host) {
			return fmt.Errorf("routes %+v", c)
		}
		return nil
	})
	waitEvent(t, later, route.ReasonHostnameTaken)
	var tr gatewayv1.TLSRoute
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: later, Name: route.ObjectPrefix + owner}, &tr)
	assert.True(t, apierrors.IsNotFound(err), "no route for a hostname another space holds: %v", err)
	assert.NotContains(t, dnsRecords(t, later), host, "nor a DNS record")
	assert.Equal(t, gatewayAddress, dnsRecords(t, owner)[host])

	// The owner stops being a space: the name is free, the younger space
	// gets it. (Once cert-manager is done with the younger space, so only
	// the owner's change can wake it.)
	waitFor(t, time.Minute, later+" certificates issued", func() error {
		if st, _ := status(t, later); !st.Parts[space.PartPKI].Ready {
			return fmt.Errorf("pki %+v", st.Parts[space.PartPKI])
		}
		return nil
	})
	settle(t)
	removeSpaceLabel(t, owner)
	waitFor(t, time.Minute, later+" takes the hostname", func() error {
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: later, Name: route.ObjectPrefix + owner}, &tr); err != nil {
			return err
		}
		st, _ := status(t, later)
		if !st.Parts[space.PartRoutes].Ready {
			return fmt.Errorf("routes %+v", st.Parts[space.PartRoutes])
		}
		return nil
	})
}

func removeSpaceLabel(t *testing.T, ns string) {
	t.Helper()
	var n corev1.Namespace
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Name: ns}, &n))
	patch := client.MergeFrom(n.DeepCopy())
	delete(n.Labels, space.LabelSpace)
	require.NoError(t, k8s.Patch(context.Background(), &n, patch))
}

// reconciles is how many reconciles the space controller has finished.
func reconciles(t *testing.T) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	require.NoError(t, err)
	var n float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == reconciler.ControllerName {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// A converged space reconciled again, after events that change nothing
// decco reads the result of, costs reads only: not one write.
func TestResyncWritesNothing(t *testing.T) {
	name := "calm-" + rand.String(5)
	createSpace(t, name, map[string]string{space.AnnotationEncryptHTTP: "true"})
	exposeHTTP(t, name, "web", "/")
	exposeTCP(t, name, "db", true)
	waitReady(t, name)
	// Let cert-manager's last status updates and their reconciles settle.
	settle(t)

	converging := managerWrites.since(0, name)
	require.NotEmpty(t, converging, "the log sees decco's writes while it converges the space")
	t.Logf("converging %s took %d writes: %v", name, len(converging), converging)
	mark, before := managerWrites.mark(), reconciles(t)
	// A user's own annotation on the namespace and on a Service: both
	// wake the reconciler for this space.
	setAnnotation(t, name, "example.com/owner", "team-calm")
	var svc corev1.Service
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: name, Name: "db"}, &svc))
	patch := client.MergeFrom(svc.DeepCopy())
	svc.Annotations["example.com/owner"] = "team-calm"
	require.NoError(t, k8s.Patch(context.Background(), &svc, patch))
	waitFor(t, 30*time.Second, "the reconciler to run", func() error {
		if reconciles(t) < before+1 {
			return errors.New("no reconcile yet")
		}
		return nil
	})
	settle(t)
	assert.Empty(t, managerWrites.since(mark, name), "writes by decco in %s after a resync with nothing changed", name)
}

// settle waits until the space controller has been idle for a second.
func settle(t *testing.T) {
	t.Helper()
	last, quiet := reconciles(t), 0
	waitFor(t, time.Minute, "the space controller to go idle", func() error {
		now := reconciles(t)
		if now != last {
			last, quiet = now, 0
			return errors.New("still reconciling")
		}
		if quiet++; quiet < 4 {
			return errors.New("quiet for less than a second")
		}
		return nil
	})
}

// Removing the space label removes what decco made, cert-manager's
// Secrets for it and the status included, and leaves the user's own
// objects alone.
func TestRemovingTheLabelRemovesDeccoObjectsOnly(t *testing.T) {
	name := "gone-" + rand.String(5)
	createSpace(t, name, nil)
	exposeHTTP(t, name, "web", "/")
	exposeTCP(t, name, "db", true)
	ctx := context.Background()
	mine := []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "app-config"}, Data: map[string]string{"k": "v"}},
		&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "allow-monitoring"},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}},
	}
	for _, obj := range mine {
		require.NoError(t, k8s.Create(ctx, obj))
	}
	waitReady(t, name)
	require.NotEmpty(t, deccoObjects(t, name), "decco's objects before")

	removeSpaceLabel(t, name)
	waitFor(t, time.Minute, "decco's objects removed from "+name, func() error {
		if left := deccoObjects(t, name); len(left) > 0 {
			return fmt.Errorf("left: %v", left)
		}
		if _, ok := status(t, name); ok {
			return errors.New("status annotation still there")
		}
		return nil
	})
	for _, obj := range mine {
		assert.NoError(t, k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj), "the user's %T %s stays", obj, obj.GetName())
	}
	var svc corev1.Service
	assert.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: "db"}, &svc), "the user's Service stays")
	waitEvent(t, name, reconciler.ReasonSpaceRemoved)
}

// deccoObjects lists every object labeled as decco's in ns, of every kind
// decco writes, as "Kind/name".
func deccoObjects(t *testing.T, ns string) []string {
	t.Helper()
	c := deccoClient(t)
	var out []string
	for _, list := range []client.ObjectList{
		&certmanagerv1.CertificateList{}, &certmanagerv1.CertificateRequestList{}, &certmanagerv1.IssuerList{}, &networkingv1.NetworkPolicyList{},
		&gatewayv1.ListenerSetList{}, &gatewayv1.HTTPRouteList{}, &gatewayv1.TLSRouteList{}, &gatewayv1.BackendTLSPolicyList{},
		&networkingv1.IngressList{}, &corev1.ConfigMapList{}, &corev1.SecretList{}, &endpoint.DNSEndpointList{},
	} {
		require.NoError(t, c.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{space.LabelManagedBy: space.ManagedByValue}))
		items, err := meta.ExtractList(list)
		require.NoError(t, err)
		for _, item := range items {
			obj := item.(client.Object)
			out = append(out, fmt.Sprintf("%T/%s", obj, obj.GetName()))
		}
	}
	return out
}

// An invalid space gets a status naming the bad key and its fix, and no
// objects.
func TestInvalidSpaceGetsStatusNotObjects(t *testing.T) {
	name := "bad-" + rand.String(5)
	createSpace(t, name, map[string]string{space.AnnotationDomain: "Not_A_Domain"})
	waitFor(t, 30*time.Second, "InvalidSpace status", func() error {
		st, ok := status(t, name)
		if !ok {
			return errors.New("no status yet")
		}
		c := st.Parts[space.PartPKI]
		if c.Reason != reconciler.ReasonInvalidSpace || !strings.Contains(c.Message, space.AnnotationDomain) {
			return fmt.Errorf("pki %+v", c)
		}
		return nil
	})
	assert.Empty(t, deccoObjects(t, name))
	waitEvent(t, name, reconciler.ReasonInvalidSpace)
}

// An object of the user's that holds a name decco wants is never taken
// over: the space's status says which, and the object stays as it was.
func TestUsersObjectWithDeccosNameIsNotTakenOver(t *testing.T) {
	cluster.Need(t)
	ctx := context.Background()
	name := "owned-" + rand.String(5)
	require.NoError(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	mine := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: netpol.IsolationPolicy},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "legacy"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
		},
	}
	require.NoError(t, k8s.Create(ctx, mine))

	makeSpace(t, name)

	c := waitPart(t, name, space.PartPolicies, reconciler.ReasonNameInUse)
	assert.Contains(t, c.Message, netpol.IsolationPolicy)
	var after networkingv1.NetworkPolicy
	require.NoError(t, k8s.Get(ctx, client.ObjectKeyFromObject(mine), &after))
	assert.Empty(t, after.Labels[space.LabelManagedBy], "decco must not label a user's object as its own")
	assert.Equal(t, mine.Spec, after.Spec, "decco must not change a user's object")
}

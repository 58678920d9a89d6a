package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/dns/endpoint"
	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/install"
	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/pki"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// tenant returns a client that acts as a tenant of namespace ns: a user
// bound to the built-in admin ClusterRole in ns alone, through
// impersonation (what `kubectl --as` does).
func tenant(t *testing.T, ns string) client.Client {
	t.Helper()
	user := "tenant-of-" + ns
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenant-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	require.NoError(t, client.IgnoreAlreadyExists(k8s.Create(context.Background(), rb)))
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: install.Scheme})
	require.NoError(t, err)
	// RBAC's authorizer works from an informer: wait until it sees the
	// binding.
	waitFor(t, 30*time.Second, user+" may create Services in "+ns, func() error {
		var list corev1.ServiceList
		return c.List(context.Background(), &list, client.InNamespace(ns))
	})
	return c
}

// tenantService is a Service labeled with space ns, exposing port 443 on
// the named target the sidecar takes over.
func tenantService(ns, name string, ann map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{space.LabelSpace: ns}, Annotations: ann},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			// A numeric target, which the webhook moves to the listener
			// (18443); named targets resolve through EndpointSlices, which
			// list only pods that run on a node (test/e2e/node).
			Ports: []corev1.ServicePort{{Name: "tls", Port: 443, TargetPort: intstr.FromInt32(8443)}},
		},
	}
}

// workloadIssuance is what identifies one issuance of the space's
// workload certificate: the Certificate's revision and the leaf's serial.
func workloadIssuance(t *testing.T, ns string) string {
	t.Helper()
	var cert certmanagerv1.Certificate
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: pki.WorkloadCertificateName}, &cert))
	leaf, _ := workloadAndCA(t, ns)
	rev := 0
	if cert.Status.Revision != nil {
		rev = *cert.Status.Revision
	}
	return fmt.Sprintf("revision %d, serial %s", rev, leaf.SerialNumber)
}

// Services coming and going leave the workload certificate alone: its
// names are wildcards over the namespace's in-cluster names, so no
// Service causes an issuance (and no sidecar of the space reloads).
func TestServicesLeaveTheWorkloadCertificateAlone(t *testing.T) {
	name := "cert-" + rand.String(5)
	createSpace(t, name, nil)
	waitReady(t, name)
	leaf, _ := workloadAndCA(t, name)
	assert.Contains(t, leaf.DNSNames, "*."+name+".svc")
	assert.Contains(t, leaf.DNSNames, "*."+name+".svc.cluster.local")
	before := workloadIssuance(t, name)
	c := tenant(t, name)

	for _, svc := range []string{"db", "cache", "queue"} {
		require.NoError(t, c.Create(context.Background(), tenantService(name, svc, nil)))
	}
	waitRoute(t, name, "queue", true)
	settle(t)
	assert.Equal(t, before, workloadIssuance(t, name), "three Services added")

	require.NoError(t, c.Delete(context.Background(), tenantService(name, "queue", nil)))
	waitRoute(t, name, "queue", false)
	settle(t)
	after := workloadIssuance(t, name)
	assert.Equal(t, before, after, "a Service removed")
	t.Logf("workload certificate before: %s; after 3 Services added and 1 removed: %s", before, after)
}

// waitRoute waits until the TLSRoute of Service svc exists (or is gone).
func waitRoute(t *testing.T, ns, svc string, exists bool) {
	t.Helper()
	waitFor(t, time.Minute, fmt.Sprintf("TLSRoute of %s/%s present=%v", ns, svc, exists), func() error {
		var tr gatewayv1.TLSRoute
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: route.ObjectPrefix + svc}, &tr)
		switch {
		case exists && err != nil:
			return err
		case !exists && err == nil:
			return errors.New("still there")
		case !exists && !apierrors.IsNotFound(err):
			return err
		}
		return nil
	})
}

// decco's annotations are decco's (invariant 9): a tenant's hand-written
// decco.io/rewritten-ports is replaced, on create and on update, so the
// target is still moved to its TLS listener and the listener policy never
// opens the port the forgery named; Services aiming at the app's
// plaintext port by its app-<port> name or at the health port are refused.
func TestTenantCannotForgeDeccoAnnotations(t *testing.T) {
	name := "forge-" + rand.String(5)
	createSpace(t, name, nil)
	c := tenant(t, name)
	ctx := context.Background()

	forged := tenantService(name, "db", map[string]string{
		space.AnnotationRewrittenPorts: "443=5021", space.AnnotationStatus: "routes Applied"})
	forged.Spec.Ports[0].TargetPort = intstr.FromInt32(15021)
	require.NoError(t, c.Create(ctx, forged))
	assert.Equal(t, intstr.FromInt32(25021), forged.Spec.Ports[0].TargetPort, "create: rewritten as if the record were absent")
	assert.Equal(t, "443=15021", forged.Annotations[space.AnnotationRewrittenPorts], "create: decco's record replaces the tenant's")
	assert.NotContains(t, forged.Annotations, space.AnnotationStatus)

	patch := client.MergeFrom(forged.DeepCopy())
	forged.Annotations[space.AnnotationRewrittenPorts] = "443=5021"
	forged.Spec.Ports[0].TargetPort = intstr.FromInt32(15021)
	require.NoError(t, c.Patch(ctx, forged, patch))
	assert.Equal(t, intstr.FromInt32(25021), forged.Spec.Ports[0].TargetPort, "update: rewritten again")
	assert.Equal(t, "443=15021", forged.Annotations[space.AnnotationRewrittenPorts], "update: the stored record is kept")

	for _, target := range []string{"app-8080", inject.HealthName} {
		svc := tenantService(name, "direct-"+strings.ToLower(strings.ReplaceAll(target, "-", "")), nil)
		svc.Spec.Ports[0].TargetPort = intstr.FromString(target)
		err := c.Create(ctx, svc)
		require.Error(t, err, "a Service targeting %s was admitted", target)
		assert.Contains(t, err.Error(), "set targetPort to the port's own name or number")
		t.Logf("refused: %v", err)
	}

	waitRoute(t, name, "db", true)
	waitFor(t, time.Minute, "listener policy opens the listener only", func() error {
		var np networkingv1.NetworkPolicy
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: netpol.ListenerPolicy}, &np); err != nil {
			return err
		}
		var open []string
		for _, r := range np.Spec.Ingress {
			for _, p := range r.Ports {
				open = append(open, p.Port.String())
			}
		}
		if !slices.Contains(open, "25021") {
			return fmt.Errorf("ports %v: the listener is not open yet", open)
		}
		for _, closed := range []string{"15021", "5021", "app-8080", inject.HealthName} {
			if slices.Contains(open, closed) {
				t.Fatalf("the listener policy opens %s: %v", closed, open)
			}
		}
		return nil
	})
}

// Only the tenant's own pods behind its routes (invariant 8): a Service
// without a selector, whose EndpointSlices could name any address in the
// cluster, gets no route and no DNS record, and the space says why; the
// gateway's namespace is admitted to the listener ports of routed
// Services only.
func TestSelectorlessServiceGetsNoRoute(t *testing.T) {
	name := "loose-" + rand.String(5)
	createSpace(t, name, nil)
	c := tenant(t, name)
	ctx := context.Background()
	require.NoError(t, c.Create(ctx, tenantService(name, "web", map[string]string{space.AnnotationDNS: "true"})))
	loose := tenantService(name, "mq", map[string]string{space.AnnotationDNS: "true"})
	loose.Spec.Selector = nil
	loose.Spec.Ports[0].TargetPort = intstr.FromInt32(5672)
	require.NoError(t, c.Create(ctx, loose))

	waitFor(t, time.Minute, "NoSelector on "+name, func() error {
		st, ok := status(t, name)
		if c := st.Parts[space.PartRoutes]; !ok || c.Reason != route.ReasonNoSelector || !strings.Contains(c.Message, `service "mq"`) {
			return fmt.Errorf("routes %+v", c)
		}
		return nil
	})
	waitRoute(t, name, "web", true)
	waitRoute(t, name, "mq", false)
	waitEvent(t, name, route.ReasonNoSelector)
	records := dnsRecords(t, name)
	assert.Contains(t, records, "web."+name+".example.com")
	assert.NotContains(t, records, "mq."+name+".example.com")

	var np networkingv1.NetworkPolicy
	require.NoError(t, k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: netpol.ListenerPolicy}, &np))
	require.Len(t, np.Spec.Ingress, 2)
	portsOf := func(r networkingv1.NetworkPolicyIngressRule) []string {
		var out []string
		for _, p := range r.Ports {
			out = append(out, p.Port.String())
		}
		return out
	}
	assert.Equal(t, []string{"15672", "18443"}, portsOf(np.Spec.Ingress[0]), "other namespaces reach every listener")
	assert.Equal(t, metav1.LabelSelectorOpNotIn, np.Spec.Ingress[0].From[0].NamespaceSelector.MatchExpressions[0].Operator)
	assert.Equal(t, []string{"18443"}, portsOf(np.Spec.Ingress[1]), "the gateway reaches the routed Service's listener only")
	assert.Equal(t, []string{gatewayNamespace}, np.Spec.Ingress[1].From[0].NamespaceSelector.MatchExpressions[0].Values)
}

// A live hostname is never taken away (invariant 8), the attack of issue
// 16: space db-x (domain att-x.example.com) serves HTTP at
// db-x.att-x.example.com with DNS; the older space att-x then creates a
// TCP Service db-x, wanting the same name. The serving space keeps its
// route, record and status; the later claimant gets HostnameTaken naming
// the holder. The claim is recorded on the holder's namespace.
func TestLiveHostnameIsNeverTaken(t *testing.T) {
	suffix := rand.String(5)
	attacker, victim := "att-"+suffix, "db-"+suffix
	host := victim + "." + attacker + ".example.com"
	createSpace(t, attacker, nil) // the older namespace
	waitReady(t, attacker)
	// Its domain is the attacker's hostname: the platform allows the nesting.
	createSpace(t, victim, map[string]string{space.AnnotationDomain: attacker + ".example.com", space.AnnotationNestedIn: attacker})
	exposeHTTP(t, victim, "web", "/")
	waitRoute := func() error {
		var hr gatewayv1.HTTPRoute
		return k8s.Get(context.Background(), client.ObjectKey{Namespace: victim, Name: route.ObjectPrefix + "web"}, &hr)
	}
	waitFor(t, time.Minute, "the victim's HTTPRoute", waitRoute)
	waitReady(t, victim)
	require.Equal(t, gatewayAddress, dnsRecords(t, victim)[host])
	var ns corev1.Namespace
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Name: victim}, &ns))
	claims, err := space.ParseClaims(ns.Annotations[space.AnnotationHostnames])
	require.NoError(t, err)
	require.Contains(t, claims, host, "the claim is on record")

	c := tenant(t, attacker)
	require.NoError(t, c.Create(context.Background(), tenantService(attacker, victim, map[string]string{space.AnnotationDNS: "true"})))
	waitFor(t, time.Minute, "HostnameTaken on "+attacker, func() error {
		st, _ := status(t, attacker)
		r := st.Parts[space.PartRoutes]
		if r.Reason != route.ReasonHostnameTaken || !strings.Contains(r.Message, `already belongs to space "`+victim+`"`) {
			return fmt.Errorf("routes %+v", r)
		}
		return nil
	})
	settle(t)
	assert.NoError(t, waitRoute(), "the serving space keeps its route")
	assert.Equal(t, gatewayAddress, dnsRecords(t, victim)[host], "and its record")
	st, _ := status(t, victim)
	assert.True(t, st.Ready(), "and its status: %s", st.Format())
	var tr gatewayv1.TLSRoute
	err = k8s.Get(context.Background(), client.ObjectKey{Namespace: attacker, Name: route.ObjectPrefix + victim}, &tr)
	assert.True(t, apierrors.IsNotFound(err), "the later claimant gets no route: %v", err)
	assert.NotContains(t, dnsRecords(t, attacker), host, "nor a record")
	waitEvent(t, attacker, route.ReasonHostnameTaken)
}

// A space past its limit (here the operator's decco.io/limits override of
// the chart's) reports it in status and Events and has none of its
// Services routed or published: not the first N. Back under the limit,
// they all come back.
func TestSpaceOverItsLimitPublishesNothingPartial(t *testing.T) {
	name := "limit-" + rand.String(5)
	createSpace(t, name, map[string]string{space.AnnotationLimits: "services=2"})
	c := tenant(t, name)
	ctx := context.Background()
	for _, svc := range []string{"a", "b", "c"} {
		require.NoError(t, c.Create(ctx, tenantService(name, svc, map[string]string{space.AnnotationDNS: "true"})))
	}
	waitFor(t, time.Minute, "LimitExceeded on "+name, func() error {
		st, _ := status(t, name)
		r := st.Parts[space.PartRoutes]
		if r.Reason != route.ReasonLimitExceeded || !strings.Contains(r.Message, "the space has 3 Services labeled decco.io/space, over its limit of 2") {
			return fmt.Errorf("routes %+v", r)
		}
		return nil
	})
	settle(t)
	var routes gatewayv1.TLSRouteList
	require.NoError(t, k8s.List(ctx, &routes, client.InNamespace(name)))
	assert.Empty(t, routes.Items, "no route at all")
	assert.Equal(t, map[string]string{name + ".example.com": gatewayAddress}, dnsRecords(t, name), "only the space's own record")
	waitEvent(t, name, route.ReasonLimitExceeded)

	require.NoError(t, c.Delete(ctx, tenantService(name, "c", nil)))
	waitRoute(t, name, "a", true)
	waitRoute(t, name, "b", true)
	waitFor(t, time.Minute, "routes ready", func() error {
		if st, _ := status(t, name); !st.Parts[space.PartRoutes].Ready {
			return fmt.Errorf("routes %+v", st.Parts[space.PartRoutes])
		}
		return nil
	})
	assert.Len(t, dnsRecords(t, name), 3)
}

// decco.io/egress-policy: declared gives the space an egress policy that
// follows its pods' decco.io/egress entries: cluster DNS, the space
// itself, and each entry's destination resolved to the target Service's
// namespace and TLS listener port. (What that policy lets through is the
// cyclonus matrix of netpol's TestEgressMatrix.) Without the annotation
// there is no egress policy: egress stays open.
func TestDeclaredEgressFollowsThePods(t *testing.T) {
	suffix := rand.String(5)
	name, target := "egress-"+suffix, "target-"+suffix
	createSpace(t, target, nil)
	createService(t, target, "db", nil) // port 443, target 8443: listener 18443
	createSpace(t, name, map[string]string{space.AnnotationEgressPolicy: space.EgressDeclared})
	ctx := context.Background()
	c := tenant(t, name)

	egressRules := func() ([]networkingv1.NetworkPolicyEgressRule, error) {
		var np networkingv1.NetworkPolicy
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: name, Name: netpol.EgressPolicy}, &np); err != nil {
			return nil, err
		}
		return np.Spec.Egress, nil
	}
	waitFor(t, time.Minute, "the egress policy with DNS and the space only", func() error {
		rules, err := egressRules()
		if err == nil && len(rules) != 2 {
			err = fmt.Errorf("%d rules", len(rules))
		}
		return err
	})

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "client", Labels: map[string]string{space.LabelSpace: name},
			Annotations: map[string]string{space.AnnotationEgress: "10443=db." + target + ".svc:443"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	require.NoError(t, c.Create(ctx, pod))
	waitFor(t, time.Minute, "a rule for the pod's destination", func() error {
		rules, err := egressRules()
		if err != nil {
			return err
		}
		if len(rules) != 3 {
			return fmt.Errorf("%d rules", len(rules))
		}
		to := rules[2].To[0]
		if got := to.NamespaceSelector.MatchExpressions[0].Values; !slices.Equal(got, []string{target}) || rules[2].Ports[0].Port.String() != "18443" {
			return fmt.Errorf("rule %+v", rules[2])
		}
		return nil
	})
	rules, _ := egressRules()
	assert.Equal(t, []string{netpol.ClusterDNSNamespace}, rules[0].To[0].NamespaceSelector.MatchExpressions[0].Values)
	assert.Equal(t, []string{name}, rules[1].To[0].NamespaceSelector.MatchExpressions[0].Values)
	assert.Equal(t, map[string]string{space.LabelSpace: target}, rules[2].To[0].PodSelector.MatchLabels, "only the target space's pods")

	// Back to open: the policy goes.
	setAnnotation(t, name, space.AnnotationEgressPolicy, "")
	waitFor(t, time.Minute, "the egress policy removed", func() error {
		_, err := egressRules()
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
}

// A name is released when its holder stops asking for it, and the space
// that was refused it gets it without any other event: space own-x holds
// svc-x.own-x.example.com for its TCP Service svc-x; space svc-x (domain
// own-x.example.com) wants the same name for itself and is refused until
// the tenant of own-x deletes the Service.
func TestReleasedHostnameGoesToTheWaitingSpace(t *testing.T) {
	suffix := rand.String(5)
	holder, waiting := "own-"+suffix, "svc-"+suffix
	host := waiting + "." + holder + ".example.com"
	createSpace(t, holder, nil)
	c := tenant(t, holder)
	require.NoError(t, c.Create(context.Background(), tenantService(holder, waiting, map[string]string{space.AnnotationDNS: "true"})))
	waitRoute(t, holder, waiting, true)
	createSpace(t, waiting, map[string]string{space.AnnotationDomain: holder + ".example.com", space.AnnotationNestedIn: holder})
	waitFor(t, time.Minute, "HostnameTaken on "+waiting, func() error {
		st, _ := status(t, waiting)
		if r := st.Parts[space.PartRoutes]; r.Reason != route.ReasonHostnameTaken || !strings.Contains(r.Message, `space "`+holder+`"`) {
			return fmt.Errorf("routes %+v", r)
		}
		return nil
	})
	var ep endpoint.DNSEndpoint
	err := deccoClient(t).Get(context.Background(), client.ObjectKey{Namespace: waiting, Name: endpoint.ObjectName}, &ep)
	if err == nil {
		assert.NotContains(t, dnsRecords(t, waiting), host, "no record for a name held elsewhere")
	} else {
		assert.True(t, apierrors.IsNotFound(err), "no record at all: %v", err)
	}

	require.NoError(t, c.Delete(context.Background(), tenantService(holder, waiting, nil)))
	waitFor(t, time.Minute, waiting+" gets its own name", func() error {
		st, _ := status(t, waiting)
		if r := st.Parts[space.PartRoutes]; !r.Ready {
			return fmt.Errorf("routes %+v", r)
		}
		if got := dnsRecords(t, waiting)[host]; got != gatewayAddress {
			return fmt.Errorf("record %q", got)
		}
		return nil
	})
	var ns corev1.Namespace
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Name: holder}, &ns))
	assert.NotContains(t, ns.Annotations[space.AnnotationHostnames], host, "released by the holder")
}

// A space whose domain is another space's hostname gets no name without
// the platform's permission (decco.io/nested-in), and the status says
// how to get it; once allowed, it converges.
func TestNestedDomainNeedsPermission(t *testing.T) {
	suffix := rand.String(5)
	parent, child := "par-"+suffix, "kid-"+suffix
	createSpace(t, parent, nil)
	waitReady(t, parent)
	createSpace(t, child, map[string]string{space.AnnotationDomain: parent + ".example.com"})
	waitFor(t, time.Minute, "NestedDomain on "+child, func() error {
		st, _ := status(t, child)
		if r := st.Parts[space.PartRoutes]; r.Reason != route.ReasonNestedDomain || !strings.Contains(r.Message, space.AnnotationNestedIn+`: "`+parent+`"`) {
			return fmt.Errorf("routes %+v", r)
		}
		return nil
	})
	waitEvent(t, child, route.ReasonNestedDomain)
	var ns corev1.Namespace
	require.NoError(t, k8s.Get(context.Background(), client.ObjectKey{Name: child}, &ns))
	assert.Empty(t, ns.Annotations[space.AnnotationHostnames], "no name claimed")

	setAnnotation(t, child, space.AnnotationNestedIn, parent)
	waitReady(t, child)
	assert.Equal(t, gatewayAddress, dnsRecords(t, child)[child+"."+parent+".example.com"])
}

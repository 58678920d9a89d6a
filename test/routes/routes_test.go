// Package routes_test applies everything route.Objects builds to a real
// kube-apiserver with Gateway API's standard-channel CRDs installed, so the
// CRDs' schemas and CEL rules judge every route decco writes.
package routes_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
)

var cluster *controlplane.Cluster

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunTests(m, &cluster, controlplane.Options{WithoutControllerManager: true}))
}

const gatewayNS = "gateway-system"

var gateway = route.GatewayRef{Namespace: gatewayNS, Name: "public"}

// createNamespace makes a namespace, labeled as a space when sp is set.
func createNamespace(t *testing.T, name string, sp bool) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if sp {
		ns.Labels = map[string]string{space.LabelSpace: name}
	}
	require.NoError(t, cluster.Client.Create(context.Background(), ns))
}

// sharedGateway is the operator's side: a GatewayClass and a Gateway that
// admits ListenerSets from space namespaces.
func sharedGateway(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	createNamespace(t, gatewayNS, false)
	require.NoError(t, cluster.Client.Create(ctx, &gatewayv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "decco-test"},
		Spec:       gatewayv1.GatewayClassSpec{ControllerName: "example.com/gateway-controller"},
	}))
	require.NoError(t, cluster.Client.Create(ctx, &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: gateway.Namespace, Name: gateway.Name},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: "decco-test",
			Listeners:        []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}},
			AllowedListeners: &gatewayv1.AllowedListeners{Namespaces: &gatewayv1.ListenerNamespaces{
				From: ptr.To(gatewayv1.NamespacesFromSelector),
				Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: space.LabelSpace, Operator: metav1.LabelSelectorOpExists},
				}},
			}},
		},
	}))
}

// services is a sample space: two HTTP services, two TCP ones (one with
// DNS), each with a port the injector rewrote to its TLS listener.
func services(ns string) []corev1.Service {
	mk := func(name string, ann map[string]string, port int32) corev1.Service {
		return corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann, Labels: map[string]string{space.LabelSpace: ns}},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": name},
				Ports:    []corev1.ServicePort{{Name: "main", Port: port, TargetPort: intstr.FromInt32(port + 10000)}},
			},
		}
	}
	return []corev1.Service{
		mk("web", map[string]string{space.AnnotationHTTPPath: "/"}, 80),
		mk("api", map[string]string{space.AnnotationHTTPPath: "/api/v1"}, 8080),
		mk("db", map[string]string{space.AnnotationDNS: "true"}, 3306),
		mk("mq", nil, 5671),
	}
}

// applySpace creates the space's Services and every object Objects builds,
// then checks that the apiserver stored each spec exactly as built: nothing
// pruned (field names match the CRDs) and nothing defaulted behind decco's
// back (so comparing before writing finds no difference).
func applySpace(t *testing.T, in route.Input) []client.Object {
	t.Helper()
	ctx := context.Background()
	createNamespace(t, in.Space.Name, true)
	for i := range in.Services {
		require.NoError(t, cluster.Client.Create(ctx, in.Services[i].DeepCopy()))
	}
	objs, conflicts := route.Objects(in)
	require.Empty(t, conflicts)
	var out []client.Object
	for _, o := range objs {
		built := o.DeepCopyObject().(client.Object)
		out = append(out, built)
		require.NoError(t, cluster.Client.Create(ctx, o), "%T %s rejected by the apiserver", o, o.GetName())
		stored := built.DeepCopyObject().(client.Object)
		require.NoError(t, cluster.Client.Get(ctx, client.ObjectKeyFromObject(built), stored))
		assert.True(t, equality.Semantic.DeepEqual(specOf(t, built), specOf(t, stored)),
			"%T %s: stored spec differs from the built one:\nbuilt:  %+v\nstored: %+v", o, o.GetName(), specOf(t, built), specOf(t, stored))
		assert.Equal(t, built.GetLabels(), stored.GetLabels())
	}
	return out
}

// specOf returns the spec of a built object, the part the apiserver
// validates and defaults.
func specOf(t *testing.T, o client.Object) any {
	t.Helper()
	switch v := o.(type) {
	case *gatewayv1.ListenerSet:
		return v.Spec
	case *gatewayv1.HTTPRoute:
		return v.Spec
	case *gatewayv1.TLSRoute:
		return v.Spec
	case *gatewayv1.BackendTLSPolicy:
		return v.Spec
	case *networkingv1.Ingress:
		return v.Spec
	}
	t.Fatalf("no spec accessor for %T", o)
	return nil
}

func kinds(objs []client.Object) map[string]int {
	out := map[string]int{}
	for _, o := range objs {
		out[o.GetObjectKind().GroupVersionKind().Kind]++
	}
	return out
}

func TestGatewayAPIObjectsAccepted(t *testing.T) {
	cluster.Need(t)
	sharedGateway(t)
	sp := space.Space{Name: "shop", Domain: "example.com"}
	objs := applySpace(t, route.Input{Space: sp, Services: services(sp.Name), Mode: route.ModeGatewayAPI, Gateway: gateway})
	assert.Equal(t, map[string]int{"ListenerSet": 1, "HTTPRoute": 2, "BackendTLSPolicy": 2, "TLSRoute": 2}, kinds(objs))

	// A second space with its own certificate and a custom port, next to
	// the first on the same Gateway.
	sp2 := space.Space{Name: "books", Domain: "example.com", HTTPCertSecret: "books-tls"}
	objs = applySpace(t, route.Input{Space: sp2, Services: services(sp2.Name), Mode: route.ModeGatewayAPI, Gateway: gateway, Port: 8443})
	assert.Equal(t, map[string]int{"ListenerSet": 1, "HTTPRoute": 2, "BackendTLSPolicy": 2, "TLSRoute": 2}, kinds(objs))

	var routes gatewayv1.TLSRouteList
	require.NoError(t, cluster.Client.List(context.Background(), &routes, client.InNamespace("shop")))
	var hosts []gatewayv1.Hostname
	for _, r := range routes.Items {
		hosts = append(hosts, r.Spec.Hostnames...)
	}
	assert.ElementsMatch(t, []gatewayv1.Hostname{"db.shop.example.com", "mq.shop.example.com"}, hosts)
}

func TestIngressObjectsAccepted(t *testing.T) {
	cluster.Need(t)
	sp := space.Space{Name: "shop-ingress", Domain: "example.com"}
	objs := applySpace(t, route.Input{Space: sp, Services: services(sp.Name), Mode: route.ModeIngress,
		IngressClass: "nginx", SNIIngressClass: "k8sniff"})
	assert.Equal(t, map[string]int{"Ingress": 4}, kinds(objs))
}

// The acceptance above means something only if the apiserver enforces the
// CRDs' rules: a route with a hostname Gateway API forbids is refused.
func TestAPIServerEnforcesGatewayAPIValidation(t *testing.T) {
	cluster.Need(t)
	createNamespace(t, "invalid", false)
	err := cluster.Client.Create(context.Background(), &gatewayv1.TLSRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: "invalid", Name: "bad"},
		Spec: gatewayv1.TLSRouteSpec{
			Hostnames: []gatewayv1.Hostname{"192.0.2.1"},
			Rules:     []gatewayv1.TLSRouteRule{{BackendRefs: []gatewayv1.BackendRef{{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "x", Port: ptr.To(gatewayv1.PortNumber(1))}}}}},
		},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Hostnames cannot contain an IP")
}

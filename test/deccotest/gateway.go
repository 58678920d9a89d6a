package deccotest

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Gateway creates the shared Gateway the reconciler attaches spaces to:
// its namespace, a GatewayClass, and a Gateway that accepts ListenerSets
// from every namespace and reports address in its status, as a gateway
// controller would (none runs in the test control plane). address is only
// ever written into DNS records, never dialed.
func Gateway(ctx context.Context, c client.Client, namespace, name, address string) error {
	ignoreExists := func(err error) error {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if err := ignoreExists(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})); err != nil {
		return err
	}
	class := &gatewayv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: "decco-test"},
		Spec:       gatewayv1.GatewayClassSpec{ControllerName: "example.com/decco-test"},
	}
	if err := ignoreExists(c.Create(ctx, class)); err != nil {
		return err
	}
	gw := &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: gatewayv1.ObjectName(class.Name),
			Listeners:        []gatewayv1.Listener{{Name: "http", Port: 80, Protocol: gatewayv1.HTTPProtocolType}},
			AllowedListeners: &gatewayv1.AllowedListeners{Namespaces: &gatewayv1.ListenerNamespaces{From: ptr.To(gatewayv1.NamespacesFromAll)}},
		},
	}
	if err := c.Create(ctx, gw); err != nil {
		return fmt.Errorf("creating Gateway %s/%s: %w", namespace, name, err)
	}
	gw.Status.Addresses = []gatewayv1.GatewayStatusAddress{{Type: ptr.To(gatewayv1.IPAddressType), Value: address}}
	return c.Status().Update(ctx, gw)
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/decco-dev/decco/manager"
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
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme})
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
			Ports:    []corev1.ServicePort{{Name: "tls", Port: 443, TargetPort: intstr.FromString("serve")}},
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
	assert.Equal(t, before, workloadIssuance(t, name), "a Service removed")
	t.Logf("workload certificate after 3 Services added and 1 removed: %s (unchanged)", before)
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

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/controlplane"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/webhook"
)

// These tests act as a tenant: a user holding the built-in admin
// ClusterRole in its own space and patch on its own namespace (as
// Capsule's namespace owners have), impersonated through the real
// apiserver, whose RBAC, admission webhooks, Pod Security admission and
// ValidatingAdmissionPolicies all apply.

// tenantOf grants user "tenant-<ns>" admin in ns and patch on the
// namespace itself, and returns a client acting as that user.
func tenantOf(t *testing.T, ns string) (client.Client, string) {
	t.Helper()
	ctx := context.Background()
	user := "tenant-" + ns
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "admin"}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"}})
	create(t, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "own-namespace-" + ns}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"namespaces"}, ResourceNames: []string{ns}, Verbs: []string{"get", "patch", "update"},
	}}})
	create(t, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "own-namespace-" + ns}, Subjects: subject,
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "own-namespace-" + ns}})
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: controlplane.Scheme})
	require.NoError(t, err)
	deccotest.WaitFor(t, 10*time.Second, "the tenant's RBAC", func() error {
		return c.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})
	})
	return c, user
}

// create makes obj as cluster administrator, and deletes it when the test
// ends; an object left by an earlier test of the same name is kept.
func create(t *testing.T, obj client.Object) {
	t.Helper()
	err := k8s.Create(context.Background(), obj)
	if apierrors.IsAlreadyExists(err) {
		return
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), obj) })
}

// grant binds ClusterRole role to user in namespace ns.
func grant(t *testing.T, ns, user, role string) {
	t.Helper()
	create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: role + "-" + user},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}})
}

// deccoRoles creates the ClusterRoles the chart ships: the space
// administrator and the join role of project bank.
func deccoRoles(t *testing.T) {
	t.Helper()
	for _, r := range deccotest.TenancyRoles("bank") {
		create(t, r)
	}
}

// patchNamespace merge-patches labels or annotations (nil value: remove)
// of namespace ns as c.
func patchNamespace(c client.Client, ns, field string, kv map[string]any) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{field: kv}})
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	return c.Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, patch))
}

// A tenant can't change its space's settings: not join another project,
// not change its domain, issuer or runtime class, not drop its Pod
// Security labels; each refusal names the key, the permission and the
// role that grants it. Its other namespace edits still go through, and
// with the project's join role, joining works.
func TestTenantCannotChangeSpaceSettings(t *testing.T) {
	victim := newSpace(t, "victim")
	require.NoError(t, patchNamespace(k8s, victim, "annotations", map[string]any{space.AnnotationProject: "bank"}))
	attacker := newSpace(t, "attacker")
	deccoRoles(t)
	tenant, user := tenantOf(t, attacker)
	waitForPodSecurity(t, attacker)

	update := `verb update on spaces.decco.io "` + attacker + `"`
	for _, tt := range []struct {
		name  string
		field string
		kv    map[string]any
		want  []string
	}{
		{"join another project", "annotations", map[string]any{space.AnnotationProject: "bank"}, []string{
			`admission webhook "namespaces.decco.io" denied the request`,
			`user "` + user + `" may not set annotation decco.io/project to "bank"`,
			`verb join on projects.decco.io "bank"`, "ClusterRole decco-join-project-bank", "RoleBinding in namespace " + attacker}},
		{"change the domain", "annotations", map[string]any{space.AnnotationDomain: "victim.example.com"}, []string{
			`may not set annotation decco.io/domain to "victim.example.com"`, update, "ClusterRole decco-space-admin"}},
		{"change the issuer", "annotations", map[string]any{space.AnnotationIssuer: "ClusterIssuer/shared"}, []string{
			`may not set annotation decco.io/issuer`, update}},
		{"change the runtime class", "annotations", map[string]any{space.AnnotationRuntimeClass: "runc"}, []string{
			`may not set annotation decco.io/runtime-class`, update}},
		{"remove the Pod Security label", "labels", map[string]any{space.PodSecurityPrefix + "enforce": nil}, []string{
			"may not remove label pod-security.kubernetes.io/enforce", update}},
		{"forge decco's status", "annotations", map[string]any{space.AnnotationStatus: `{"parts":{}}`}, []string{
			"annotation decco.io/status is written by decco alone"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := patchNamespace(tenant, attacker, tt.field, tt.kv)
			require.Error(t, err, "the tenant changed a space setting")
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	// Other namespace edits don't depend on decco.
	require.NoError(t, patchNamespace(tenant, attacker, "labels", map[string]any{"team": "payments"}))

	// Nor can it bind the join role to itself: admin in its namespace
	// doesn't hold the permission, and RBAC refuses to grant what one
	// doesn't hold.
	err := tenant.Create(context.Background(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: attacker, Name: "self-join"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: webhook.ProjectRolePrefix + "bank"}})
	require.Error(t, err, "the tenant granted itself the join role")
	assert.Contains(t, err.Error(), "is attempting to grant RBAC permissions not currently held")

	// With the join role for bank, in its own namespace, the tenant joins.
	grant(t, attacker, user, webhook.ProjectRolePrefix+"bank")
	deccotest.WaitFor(t, 10*time.Second, "joining project bank with its join role", func() error {
		return patchNamespace(tenant, attacker, "annotations", map[string]any{space.AnnotationProject: "bank"})
	})
	// ... and still can't change the domain without the space admin role.
	err = patchNamespace(tenant, attacker, "annotations", map[string]any{space.AnnotationDomain: "victim.example.com"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), update)
}

// waitForPodSecurity waits until the reconciler has set the space's Pod
// Security labels (at the suites' level, baseline).
func waitForPodSecurity(t *testing.T, ns string) {
	t.Helper()
	deccotest.WaitFor(t, 30*time.Second, "decco's Pod Security labels on space "+ns, func() error {
		var obj corev1.Namespace
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: ns}, &obj); err != nil {
			return err
		}
		if got := obj.Labels[space.PodSecurityPrefix+"enforce"]; got != "baseline" {
			return fmt.Errorf("label %senforce is %q", space.PodSecurityPrefix, got)
		}
		return nil
	})
}

// restrictedPod passes Pod Security restricted on its own.
func restrictedPod(ns, name string, labels map[string]string) *corev1.Pod {
	yes, no, uid := true, false, int64(1000)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "app", Image: "app",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no,
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
		},
	}
}

// No pod path escapes decco's checks: a pod reaching the node is refused
// whether labeled or not, a pod can't be labeled into the space after
// creation, and a tenant's ordinary restricted pod is injected as before,
// marked as injected, and passes Pod Security restricted with its sidecar.
func TestTenantPodsAreCheckedOnEveryPath(t *testing.T) {
	ns := newSpace(t, "pods")
	tenant, _ := tenantOf(t, ns)
	ctx := context.Background()
	yes := true
	sidecarUID := inject.DefaultUID
	labeled := map[string]string{space.LabelSpace: ns}

	for _, tt := range []struct {
		name   string
		labels map[string]string
		mutate func(*corev1.Pod)
		want   string
	}{
		{"an unlabeled pod on the node's processes", nil, func(p *corev1.Pod) { p.Spec.HostPID = true },
			"hostPID: true shows the pod every process on the node, and through /proc the TLS keys of every space's sidecars there; remove hostPID"},
		{"an unlabeled pod mounting the node's root", nil, func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}, `volume "root" is a hostPath (/): the node's filesystem holds every space's mounted keys`},
		{"a privileged pod", labeled, func(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes} },
			`container "app" is privileged: it reaches the node`},
		{"ptrace in a shared process namespace", labeled, func(p *corev1.Pod) {
			p.Spec.ShareProcessNamespace = &yes
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_PTRACE"}}}
		}, `container "app" adds capability SYS_PTRACE, which reads other processes' memory and files through /proc`},
		{"hostIPC", labeled, func(p *corev1.Pod) { p.Spec.HostIPC = true }, "hostIPC: true shares the node's IPC namespace"},
		{"unconfined seccomp", labeled, func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
		}, "seccompProfile is Unconfined"},
		{"decco's injected label on an opted-out pod", map[string]string{space.LabelSpace: ns, space.LabelInjected: "true"}, func(p *corev1.Pod) {
			p.Annotations = map[string]string{space.AnnotationInject: "false"}
		}, "label decco.io/injected is decco's"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "attack", Labels: tt.labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
			tt.mutate(pod)
			err := tenant.Create(ctx, pod)
			require.Error(t, err, "the apiserver stored the pod")
			assert.Contains(t, err.Error(), `admission webhook "pods.decco.io" denied the request`)
			assert.Contains(t, err.Error(), tt.want)
		})
	}

	// A pod created unlabeled, as the sidecar's UID, can't be labeled into
	// the space afterwards.
	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app",
			SecurityContext: &corev1.SecurityContext{RunAsUser: &sidecarUID}}}}}
	require.NoError(t, tenant.Create(ctx, plain))
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"`+space.LabelSpace+`":"`+ns+`"}}}`))
	err := tenant.Patch(ctx, plain, patch)
	require.Error(t, err, "kubectl label pod ... decco.io/space= was accepted")
	assert.Contains(t, err.Error(), `admission webhook "pod-updates.decco.io" denied the request`)
	assert.Contains(t, err.Error(), "adding label decco.io/space="+ns+" to an existing pod is refused")
	// Other label edits still work.
	require.NoError(t, tenant.Patch(ctx, plain, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"web"}}}`))))

	// An ordinary restricted pod is injected as before.
	web := restrictedPod(ns, "web", map[string]string{space.LabelSpace: ns})
	require.NoError(t, tenant.Create(ctx, web))
	require.True(t, deccotest.Injected(web))
	assert.Equal(t, "true", web.Labels[space.LabelInjected])

	// Nor can the sidecar be swapped (kubectl set image).
	swapped := web.DeepCopy()
	for i := range swapped.Spec.InitContainers {
		if swapped.Spec.InitContainers[i].Name == inject.SidecarName {
			swapped.Spec.InitContainers[i].Image = "attacker/stunnel:evil"
		}
	}
	err = tenant.Update(ctx, swapped)
	require.Error(t, err, "the sidecar's image was changed")
	assert.Contains(t, err.Error(), `admission webhook "pod-updates.decco.io" denied the request`)
	assert.Contains(t, err.Error(), `container "decco-tls" is decco's TLS sidecar and holds the space's key; it can't be changed in a running pod`)
	// The app's image can, as anywhere.
	require.NoError(t, tenant.Get(ctx, client.ObjectKeyFromObject(web), web))
	web.Spec.Containers[0].Image = "app:2"
	require.NoError(t, tenant.Update(ctx, web))

	// Its sidecar passes Pod Security restricted.
	requireRestricted(t, web, "the injected pod")
}

// Ephemeral containers (kubectl debug) are checked like containers, where
// a tenant may add them.
func TestTenantEphemeralContainersAreChecked(t *testing.T) {
	ns := newSpace(t, "debug")
	tenant, user := tenantOf(t, ns)
	waitForPodSecurity(t, ns)
	create(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "debug"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{"pods/ephemeralcontainers"}, Verbs: []string{"get", "patch", "update"},
	}}})
	create(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "debug"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "debug"}})
	ctx := context.Background()
	pod := restrictedPod(ns, "web", map[string]string{space.LabelSpace: ns})
	require.NoError(t, tenant.Create(ctx, pod))
	require.True(t, deccotest.Injected(pod))

	yes := true
	uid := inject.DefaultUID
	debug := func(mutate func(*corev1.EphemeralContainer)) error {
		var cur corev1.Pod
		require.NoError(t, tenant.Get(ctx, client.ObjectKeyFromObject(pod), &cur))
		ec := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debugger-" + time.Now().Format("150405.000000")[7:], Image: "busybox"}, TargetContainerName: "app"}
		mutate(&ec)
		cur.Spec.EphemeralContainers = append(cur.Spec.EphemeralContainers, ec)
		return tenant.SubResource("ephemeralcontainers").Update(ctx, &cur)
	}
	// The space's Pod Security admission (baseline here) runs before
	// validating webhooks and refuses NET_ADMIN and privileged first;
	// decco's own check stands behind it at any level (inject's
	// TestPodUpdate) and gives these messages where Pod Security allows.
	const podSecurity = `violates PodSecurity "baseline:latest"`
	for _, tt := range []struct {
		name   string
		mutate func(*corev1.EphemeralContainer)
		by     string
		want   string
	}{
		{"NET_ADMIN", func(ec *corev1.EphemeralContainer) {
			ec.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
		}, podSecurity, `must not include "NET_ADMIN" in securityContext.capabilities.add`},
		{"privileged", func(ec *corev1.EphemeralContainer) { ec.SecurityContext = &corev1.SecurityContext{Privileged: &yes} },
			podSecurity, "must not set securityContext.privileged=true"},
		{"the sidecar's UID", func(ec *corev1.EphemeralContainer) { ec.SecurityContext = &corev1.SecurityContext{RunAsUser: &uid} },
			"", "runs as UID 1337 (its securityContext.runAsUser), which is reserved for decco's TLS sidecar"},
		{"a mount of the key", func(ec *corev1.EphemeralContainer) {
			ec.VolumeMounts = []corev1.VolumeMount{{Name: inject.CertVolume, MountPath: "/k", ReadOnly: true}}
		}, "", `mounts volume "decco-tls", which only decco's sidecar may mount`},
		{"targeting the sidecar", func(ec *corev1.EphemeralContainer) { ec.TargetContainerName = inject.SidecarName },
			"", `targets "decco-tls", decco's TLS sidecar`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := debug(tt.mutate)
			require.Error(t, err, "the ephemeral container was stored")
			by := tt.by
			if by == "" {
				by = `admission webhook "pod-updates.decco.io" denied the request`
			}
			assert.Contains(t, err.Error(), by)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	// An ordinary debug container is fine.
	require.NoError(t, debug(func(*corev1.EphemeralContainer) {}))
}

// With cert-manager's edit rights, a tenant gets certificates for its own
// space's names only: a Certificate for another space's hostname is
// refused by the apiserver's ValidatingAdmissionPolicy, and so is a
// CertificateRequest made by anyone but cert-manager.
func TestTenantCertificatesOnlyForOwnNames(t *testing.T) {
	victim := newSpace(t, "certvictim")
	ns := newSpace(t, "certs")
	tenant, user := tenantOf(t, ns)
	// cert-manager-edit, as cert-manager's chart defines it, aggregated
	// into admin in real clusters.
	create(t, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "cert-manager-edit"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"cert-manager.io"}, Resources: []string{"certificates", "certificaterequests", "issuers"},
		Verbs: []string{"create", "delete", "deletecollection", "patch", "update", "get", "list", "watch"},
	}}})
	grant(t, ns, user, "cert-manager-edit")
	ctx := context.Background()
	cert := func(name string, dnsNames ...string) *certmanagerv1.Certificate {
		return &certmanagerv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: certmanagerv1.CertificateSpec{SecretName: name, DNSNames: dnsNames,
				IssuerRef: cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "shared-http"}}}
	}
	host := victim + ".example.com"
	deccotest.WaitFor(t, 10*time.Second, "the tenant's cert-manager rights", func() error {
		return tenant.Create(ctx, cert("probe", "probe."+ns+".example.com"), client.DryRunAll)
	})
	err := tenant.Create(ctx, cert("steal", host, "*."+host))
	require.Error(t, err, "a certificate for another space's hostname was stored")
	assert.Contains(t, err.Error(), `ValidatingAdmissionPolicy 'decco-space-certificates'`)
	assert.Contains(t, err.Error(), "Certificate steal names "+host+", *."+host+", outside space "+ns)

	err = tenant.Create(ctx, &certmanagerv1.CertificateRequest{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "csr"},
		Spec: certmanagerv1.CertificateRequestSpec{Request: []byte("-----BEGIN CERTIFICATE REQUEST-----\n"),
			IssuerRef: cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: "shared-http"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in a space only cert-manager makes CertificateRequests")

	// Its own names are fine.
	require.NoError(t, tenant.Create(ctx, cert("mine", ns+".example.com", "*."+ns+".example.com", "api."+ns+".svc")))
}

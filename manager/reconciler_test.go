package manager

import (
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

func parseReconcilerFlags(t *testing.T, args ...string) ReconcilerOptions {
	t.Helper()
	o := DefaultOptions()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.BindFlags(fs)
	require.NoError(t, fs.Parse(args))
	return o.Reconciler
}

func TestReconcilerFlags(t *testing.T) {
	o := parseReconcilerFlags(t,
		"--default-issuer=ClusterIssuer/root", "--http-issuer=acme",
		"--gateway=infra/public", "--route-mode=ingress", "--ingress-class=nginx", "--sni-ingress-class=sni",
		"--dns-provider=none", "--dns-target=192.0.2.1", "--dns-target=192.0.2.2", "--dns-ttl=60",
		"--cluster-domain=corp.local", "--reconciler-workers=8", "--verify-byo-secrets=true")
	ro, err := o.reconcilerOptions("decco-system", nil)
	require.NoError(t, err)
	assert.Equal(t, space.IssuerRef{Kind: space.KindClusterIssuer, Name: "root"}, ro.DefaultIssuer)
	assert.Equal(t, space.IssuerRef{Kind: space.KindIssuer, Name: "acme"}, ro.HTTPIssuer, "a bare name is an Issuer, as in decco.io/issuer")
	assert.Equal(t, route.GatewayRef{Namespace: "infra", Name: "public"}, ro.Gateway)
	assert.Equal(t, route.ModeIngress, ro.RouteMode)
	assert.Equal(t, []string{"192.0.2.1", "192.0.2.2"}, ro.DNSTargets)
	assert.Equal(t, int64(60), ro.DNSTTL)
	assert.Equal(t, "corp.local", ro.ClusterDomain)
	assert.Equal(t, 8, ro.Workers)
	assert.Equal(t, "nginx", ro.IngressClass)
	assert.Equal(t, "sni", ro.SNIIngressClass)
	assert.True(t, ro.VerifyBYOSecrets)
}

func TestGatewayPerSpaceFlags(t *testing.T) {
	o := parseReconcilerFlags(t, "--gateway=gateway/", "--route-mode=gateway-per-space", "--gateway-class=traefik", "--gateway-port=8443", "--gateway-pod-port=8443")
	ro, err := o.reconcilerOptions("decco-system", nil)
	require.NoError(t, err, "only the namespace of the gateway's proxies is needed")
	assert.Equal(t, route.ModeGatewayPerSpace, ro.RouteMode)
	assert.Equal(t, "traefik", ro.GatewayClass)
	assert.Equal(t, int32(8443), ro.GatewayPort)
	assert.Equal(t, int32(8443), ro.GatewayPodPort)
	assert.Equal(t, "gateway", ro.Gateway.Namespace)
}

// Tenants' Secrets are read only when the installation asks for it (and
// grants it): off by default.
func TestVerifyBYOSecretsIsOffByDefault(t *testing.T) {
	ro, err := parseReconcilerFlags(t).reconcilerOptions("decco-system", nil)
	require.NoError(t, err)
	assert.False(t, ro.VerifyBYOSecrets)
}

func TestReconcilerFlagsDefaultsAreValid(t *testing.T) {
	assert.NoError(t, DefaultReconcilerOptions().Validate())
}

// Each bad flag is reported by its name.
func TestReconcilerFlagErrors(t *testing.T) {
	for _, tc := range []struct{ arg, flag string }{
		{"--default-issuer=Vault/x", "--default-issuer"},
		{"--http-issuer=ClusterIssuer/", "--http-issuer"},
		{"--gateway=public", "--gateway"},
		{"--route-mode=mesh", "--route-mode"},
		{"--route-mode=gateway-per-space", "--gateway-class"},
		{"--gateway-port=70000", "--gateway-port"},
		{"--gateway-pod-port=-1", "--gateway-pod-port"},
		{"--dns-provider=route53", "--dns-provider"},
		{"--dns-target=not a host", "--dns-target"},
		{"--reconciler-workers=0", "--reconciler-workers"},
		{"--workload-cert-duration=30m", "--workload-cert-duration"},
		{"--workload-cert-duration=8760h", "--workload-cert-duration"},
		{"--egress-dns=169.254.20.10", "--egress-dns"},
		{"--egress-dns=kube-system/", "--egress-dns"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			err := parseReconcilerFlags(t, tc.arg).Validate()
			assert.ErrorContains(t, err, tc.flag)
		})
	}
}

// With the reconciler off, its flags are not checked.
func TestReconcilerOffSkipsItsFlags(t *testing.T) {
	o := DefaultOptions()
	o.EnableReconciler = false
	o.Reconciler.RouteMode = "mesh"
	assert.NoError(t, o.Validate())
}

package chart

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The Deployment agrees with its own flags: the probes and Services reach
// the ports the manager binds, and the certificate is mounted where
// --webhook-cert-dir looks, from the Secret the certificate is written to.
func TestDeploymentMatchesItsFlags(t *testing.T) {
	for _, set := range valueSets {
		t.Run(set.name, func(t *testing.T) {
			r := mustRender(t, set)
			flags, _ := parseArgs(t, r.managerArgs(t))
			c := r.managerContainer(t)
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}

			health := portOf(t, flags.Lookup("health-probe-bind-address").Value.String())
			for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
				require.NotNil(t, probe)
				assert.Equal(t, health, ports[probe.HTTPGet.Port.String()], "probe port")
			}
			assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
			assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)

			if metrics := flags.Lookup("metrics-bind-address").Value.String(); metrics != "0" {
				assert.Equal(t, portOf(t, metrics), ports["metrics"])
				var svc corev1.Service
				require.NoError(t, strictConvert(r.find("Service", "decco-metrics"), &svc))
				assert.Equal(t, intstr.FromString("metrics"), svc.Spec.Ports[0].TargetPort)
			} else {
				assert.Nil(t, r.find("Service", "decco-metrics"), "a metrics Service with metrics off")
				assert.Empty(t, r.ofKind("ServiceMonitor"))
			}

			if on, _ := flags.GetBool("enable-webhook"); !on {
				assert.Empty(t, c.VolumeMounts)
				return
			}
			dir := flags.Lookup("webhook-cert-dir").Value.String()
			require.Len(t, c.VolumeMounts, 1)
			assert.Equal(t, dir, c.VolumeMounts[0].MountPath)
			assert.True(t, c.VolumeMounts[0].ReadOnly)
			vol := r.deployment(t).Spec.Template.Spec.Volumes[0]
			require.NotNil(t, vol.Secret)
			assert.Equal(t, servingSecretName(t, r), vol.Secret.SecretName)
			var keys []string
			for _, item := range vol.Secret.Items {
				keys = append(keys, item.Key)
			}
			assert.Equal(t, []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey}, keys, "only the serving pair is mounted")
		})
	}
}

// servingSecretName is the Secret the webhook's certificate is written to:
// by cert-manager (the serving Certificate's secretName) or by the chart.
func servingSecretName(t *testing.T, r rendered) string {
	t.Helper()
	if secrets := r.ofKind("Secret"); len(secrets) > 0 {
		require.Len(t, secrets, 1)
		return secrets[0].GetName()
	}
	for _, c := range r.ofKind("Certificate") {
		if isCA, _, _ := unstructured.NestedBool(c.Object, "spec", "isCA"); !isCA {
			name, _, _ := unstructured.NestedString(c.Object, "spec", "secretName")
			return name
		}
	}
	t.Fatal("neither a Secret nor a serving Certificate is rendered")
	return ""
}

func portOf(t *testing.T, addr string) int32 {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err, "address %q", addr)
	n, err := strconv.ParseInt(port, 10, 32)
	require.NoError(t, err)
	return int32(n)
}

// The manager runs as the restricted Pod Security profile asks, spread
// over nodes, with a disruption budget when there is more than one
// replica. (The install test has Pod Security admission check it too.)
func TestDeploymentIsHardened(t *testing.T) {
	for _, set := range valueSets {
		t.Run(set.name, func(t *testing.T) {
			r := mustRender(t, set)
			d := r.deployment(t)
			pod := d.Spec.Template.Spec
			c := pod.Containers[0]
			require.NotNil(t, pod.SecurityContext)
			assert.True(t, *pod.SecurityContext.RunAsNonRoot)
			assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
			require.NotNil(t, c.SecurityContext)
			assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
			assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
			assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
			assert.NotEmpty(t, c.Resources.Requests, "resource requests")

			require.NotNil(t, pod.Affinity, "anti-affinity")
			anti := pod.Affinity.PodAntiAffinity
			require.NotNil(t, anti)
			assert.NotEmpty(t, append(anti.PreferredDuringSchedulingIgnoredDuringExecution, weighted(anti.RequiredDuringSchedulingIgnoredDuringExecution)...))

			assert.Zero(t, d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue(), "a rollout must not remove a serving replica first")
			pdbs := r.ofKind("PodDisruptionBudget")
			if *d.Spec.Replicas == 1 {
				assert.Empty(t, pdbs, "a budget on one replica blocks every drain")
				return
			}
			require.Len(t, pdbs, 1)
			var pdb policyv1.PodDisruptionBudget
			require.NoError(t, strictConvert(pdbs[0], &pdb))
			assert.Equal(t, d.Spec.Selector, pdb.Spec.Selector)
			assert.Less(t, pdb.Spec.MinAvailable.IntValue(), int(*d.Spec.Replicas))
		})
	}
}

func weighted(terms []corev1.PodAffinityTerm) []corev1.WeightedPodAffinityTerm {
	out := make([]corev1.WeightedPodAffinityTerm, len(terms))
	for i, term := range terms {
		out[i] = corev1.WeightedPodAffinityTerm{PodAffinityTerm: term}
	}
	return out
}

// Defaults are what the issue asks of an install: two replicas and leader
// election.
func TestDefaults(t *testing.T) {
	r := mustRender(t, valueSets[0])
	assert.EqualValues(t, 2, *r.deployment(t).Spec.Replicas)
	flags, _ := parseArgs(t, r.managerArgs(t))
	on, err := flags.GetBool("leader-elect")
	require.NoError(t, err)
	assert.True(t, on)
	assert.Equal(t, "decco-system", flags.Lookup("system-namespace").Value.String(), "the system namespace is the release namespace")
}

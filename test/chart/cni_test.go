package chart

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/build/oci"
	"github.com/decco-dev/decco/cniinstall"
)

// cniValues turn cni interception on with non-default node directories.
const cniValues = `
dataPlane:
  interception: cni
  podCIDRs: [10.244.0.0/16]
  serviceCIDRs: [10.96.0.0/12]
  cni:
    image: {repository: registry.example.com/decco-cni, tag: v1.2.3}
    binDir: /var/lib/cni/bin
    confDir: /var/run/multus/cni/net.d
`

// daemonSet is the rendered decco-cni DaemonSet, or nil.
func (r rendered) daemonSet(t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	objs := r.ofKind("DaemonSet")
	if len(objs) == 0 {
		return nil
	}
	var ds appsv1.DaemonSet
	r.typed(t, "DaemonSet", &ds)
	return &ds
}

// The DaemonSet exists with cni interception only, and what it runs is
// what decco-cni parses: `install` with the installer's own flags, the
// host's directories mounted where the flags say, the plugin's kubeconfig
// path as the host sees it, its own DaemonSet named for the uninstall
// decision, and `check` with the same directories as readiness.
func TestCNIDaemonSetRunsTheInstaller(t *testing.T) {
	assert.Nil(t, mustRender(t, valueSets[0]).daemonSet(t), "ports interception (the default) installs nothing on nodes")

	r := mustRender(t, valueSet{name: "cni", namespace: "decco-system", values: cniValues})
	ds := r.daemonSet(t)
	require.NotNil(t, ds)
	spec := ds.Spec.Template.Spec
	require.Len(t, spec.Containers, 1)
	c := spec.Containers[0]
	assert.Equal(t, "registry.example.com/decco-cni:v1.2.3", c.Image)
	require.NotEmpty(t, c.Args)
	assert.Equal(t, "install", c.Args[0])
	opts, err := cniinstall.Parse("install", c.Args[1:])
	require.NoError(t, err, "the DaemonSet's args must be decco-cni install flags: %q", c.Args)
	assert.Equal(t, "/var/run/multus/cni/net.d", opts.HostConfDir)
	assert.Equal(t, "decco-system/"+ds.Name, opts.DaemonSet)

	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		require.NotNil(t, v.HostPath, "volume %s", v.Name)
		hostPaths[v.Name] = v.HostPath.Path
	}
	assert.Equal(t, "/var/lib/cni/bin", hostPaths[mounts[opts.BinDir]], "--cni-bin-dir is the host's bin directory")
	assert.Equal(t, "/var/run/multus/cni/net.d", hostPaths[mounts[opts.ConfDir]], "--cni-conf-dir is the host's conf directory")

	require.NotNil(t, c.ReadinessProbe)
	require.NotNil(t, c.ReadinessProbe.Exec)
	probe := c.ReadinessProbe.Exec.Command
	require.GreaterOrEqual(t, len(probe), 2)
	assert.Equal(t, []string{oci.CNIImage.Program, "check"}, probe[:2], "readiness runs the image's program")
	check, err := cniinstall.Parse("check", probe[2:])
	require.NoError(t, err)
	check.DaemonSet, check.Resync = opts.DaemonSet, opts.Resync
	assert.Equal(t, opts, check, "check looks where install writes")

	// Root for the host's directories, and nothing more.
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.Nil(t, sc.Privileged)
	assert.True(t, spec.HostNetwork, "the installer must not depend on the network it installs")
	assert.Equal(t, ds.Name, spec.ServiceAccountName, "its own ServiceAccount, whose token the plugin carries, not the manager's")
	assert.Contains(t, r.release.Info.Notes, "rollout status daemonset/"+ds.Name, "NOTES say to wait for the installer")
	assert.Contains(t, r.release.Info.Notes, "pod-security.kubernetes.io/enforce=privileged", "NOTES say what the namespace must allow")
}

// The installer's token goes into a kubeconfig on every node, so it may
// get pods and its own DaemonSet, and nothing else.
func TestCNIRBACIsGetPodsAndItsDaemonSet(t *testing.T) {
	r := mustRender(t, valueSet{name: "cni", namespace: "decco-system", values: cniValues})
	ds := r.daemonSet(t)
	require.NotNil(t, ds)
	var got []grant
	for _, g := range r.grants(t) {
		if g.role == "ClusterRole/"+ds.Name || g.role == "Role/"+ds.Name {
			got = append(got, g)
		}
	}
	require.Len(t, got, 2)
	assert.Equal(t, []string{""}, got[0].rule.APIGroups)
	assert.Equal(t, []string{"pods"}, got[0].rule.Resources)
	assert.Equal(t, []string{"get"}, got[0].rule.Verbs)
	assert.Equal(t, []string{"apps"}, got[1].rule.APIGroups)
	assert.Equal(t, []string{"daemonsets"}, got[1].rule.Resources)
	assert.Equal(t, []string{ds.Name}, got[1].rule.ResourceNames)
	assert.Equal(t, []string{"get"}, got[1].rule.Verbs)
}

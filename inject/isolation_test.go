package inject

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/space"
)

func addCaps(caps ...corev1.Capability) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: caps}}
	}
}

// Every pod of a space is checked, whether it opts in, opts out or has no
// space label at all.
func TestIsolationRefusals(t *testing.T) {
	yes := true
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		reason Reason
		want   []string
	}{
		{"hostPID", func(p *corev1.Pod) { p.Spec.HostPID = true }, HostAccess, []string{"hostPID", "TLS keys", "remove hostPID"}},
		{"hostIPC", func(p *corev1.Pod) { p.Spec.HostIPC = true }, HostAccess, []string{"hostIPC", "remove hostIPC"}},
		{"hostPath", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}, HostAccess, []string{`volume "root" is a hostPath (/)`, "every space's mounted keys", "emptyDir"}},
		{"privileged init container", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", SecurityContext: &corev1.SecurityContext{Privileged: &yes}}}
		}, NetAdmin, []string{`container "init" is privileged`, "remove securityContext.privileged"}},
		{"SYS_PTRACE with a shared process namespace", func(p *corev1.Pod) {
			p.Spec.ShareProcessNamespace = &yes
			addCaps("SYS_PTRACE")(p)
		}, Capability, []string{"SYS_PTRACE", "/proc", "sidecar's key"}},
		{"SYS_MODULE", addCaps("SYS_MODULE"), Capability, []string{"SYS_MODULE", "Pod Security baseline forbids it"}},
		{"CAP_BPF", addCaps("NET_BIND_SERVICE", "CAP_BPF"), Capability, []string{"CAP_BPF"}},
		{"sys_admin lowercase", addCaps("sys_admin"), Capability, []string{"sys_admin"}},
		{"unconfined pod", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
		}, Unconfined, []string{"Unconfined", "RuntimeDefault"}},
		{"unconfined container", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
		}, Unconfined, []string{`container "app"`}},
		{"decco's label on a pod it did not inject", func(p *corev1.Pod) { p.Labels[space.LabelInjected] = "true" },
			ReservedLabel, []string{space.LabelInjected, "remove the label"}},
	}
	variants := map[string]func(*corev1.Pod){
		"opted in":  func(*corev1.Pod) {},
		"opted out": func(p *corev1.Pod) { p.Annotations = map[string]string{space.AnnotationInject: "false"} },
		"unlabeled": func(p *corev1.Pod) { delete(p.Labels, space.LabelSpace) },
	}
	for _, tt := range tests {
		for vname, variant := range variants {
			if tt.reason == ReservedLabel && vname == "opted in" {
				continue // decco injects it, so the label is true
			}
			t.Run(tt.name+"/"+vname, func(t *testing.T) {
				p := basePod()
				variant(p)
				tt.mutate(p)
				_, err := Pod(p, testSpace, testCfg)
				r, ok := IsRefusal(err)
				require.True(t, ok, "want a refusal, got %v", err)
				assert.Equal(t, tt.reason, r.Reason, r.Message)
				for _, w := range append([]string{`pod "team-a/web"`}, tt.want...) {
					assert.Contains(t, r.Message, w)
				}
			})
		}
	}
}

// What baseline allows, and shareProcessNamespace without ptrace, is
// injected as before.
func TestIsolationAllows(t *testing.T) {
	yes := true
	p := basePod()
	p.Spec.ShareProcessNamespace = &yes
	addCaps("NET_BIND_SERVICE", "CHOWN")(p)
	res := mustInject(t, p, testSpace, testCfg)
	assert.Equal(t, Injected, res.Decision)
	assert.Equal(t, "true", res.Pod.Labels[space.LabelInjected])
	again := mustInject(t, res.Pod, testSpace, testCfg)
	assert.Equal(t, UpToDate, again.Decision, "the label is part of an up-to-date injection")
}

func TestPodUpdate(t *testing.T) {
	injected := mustInject(t, basePod(), testSpace, testCfg).Pod
	plain := basePod()
	delete(plain.Labels, space.LabelSpace)
	uid := DefaultUID
	yes := true
	debug := func(mutate func(*corev1.EphemeralContainer)) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			ec := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox"}, TargetContainerName: "app"}
			mutate(&ec)
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, ec)
		}
	}
	tests := []struct {
		name   string
		old    *corev1.Pod
		mutate func(*corev1.Pod)
		reason Reason // "" allowed
		want   []string
	}{
		{"another label", injected, func(p *corev1.Pod) { p.Labels["tier"] = "web" }, "", nil},
		{"labeled into the space", plain, func(p *corev1.Pod) { p.Labels = map[string]string{space.LabelSpace: "team-a"} },
			Immutable, []string{"adding label decco.io/space=team-a", "can only be set", "create the pod with it"}},
		{"moved to another space", injected, func(p *corev1.Pod) { p.Labels[space.LabelSpace] = "team-b" },
			Immutable, []string{`changing label decco.io/space from "team-a" to "team-b"`}},
		{"space label removed", injected, func(p *corev1.Pod) { delete(p.Labels, space.LabelSpace) },
			Immutable, []string{"removing label decco.io/space"}},
		{"injected label forged", plain, func(p *corev1.Pod) { p.Labels = map[string]string{space.LabelInjected: "true"} },
			Immutable, []string{"adding label decco.io/injected=true", "NetworkPolicy opens"}},
		{"interception label forged on a ports-mode pod", injected, func(p *corev1.Pod) { p.Labels[space.LabelInterception] = "cni" },
			Immutable, []string{"adding label decco.io/interception=cni", "cluster's mode"}},
		{"injected annotation removed", injected, func(p *corev1.Pod) { delete(p.Annotations, space.AnnotationInjected) },
			Immutable, []string{"annotation decco.io/injected", "decco's alone"}},
		{"sidecar image swapped", injected, func(p *corev1.Pod) { sidecarOf(p).Image = "evil:1" },
			Immutable, []string{`container "decco-tls"`, "can't be changed"}},
		{"app image changed", injected, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "app:2" }, "", nil},
		{"ordinary debug container", injected, debug(func(*corev1.EphemeralContainer) {}), "", nil},
		{"debug container with NET_ADMIN", injected, debug(func(ec *corev1.EphemeralContainer) {
			ec.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
		}), NetAdmin, []string{`container "debugger" adds capability NET_ADMIN`}},
		{"privileged debug container", injected, debug(func(ec *corev1.EphemeralContainer) {
			ec.SecurityContext = &corev1.SecurityContext{Privileged: &yes}
		}), NetAdmin, []string{`container "debugger" is privileged`}},
		{"debug container as the sidecar's UID", injected, debug(func(ec *corev1.EphemeralContainer) {
			ec.SecurityContext = &corev1.SecurityContext{RunAsUser: &uid}
		}), ReservedUID, []string{`container "debugger" runs as UID 1337`}},
		{"debug container mounting the key", injected, debug(func(ec *corev1.EphemeralContainer) {
			ec.VolumeMounts = []corev1.VolumeMount{{Name: CertVolume, MountPath: "/k"}}
		}), VolumeConflict, []string{`container "debugger" mounts volume "decco-tls"`}},
		{"debugging the sidecar", injected, debug(func(ec *corev1.EphemeralContainer) { ec.TargetContainerName = SidecarName }),
			DebugSidecar, []string{`targets "decco-tls"`, "target the app's container instead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.old.DeepCopy()
			tt.mutate(p)
			err := PodUpdate(tt.old, p, testCfg)
			if tt.reason == "" {
				require.NoError(t, err)
				return
			}
			r, ok := IsRefusal(err)
			require.True(t, ok, "want a refusal, got %v", err)
			assert.Equal(t, tt.reason, r.Reason, r.Message)
			for _, w := range tt.want {
				assert.True(t, strings.Contains(r.Message, w), "message %q lacks %q", r.Message, w)
			}
		})
	}
}

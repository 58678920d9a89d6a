package inject

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
)

var testSpace = space.Space{Name: "team-a", Domain: "example.com"}

var testCfg = Config{
	Image:         "ghcr.io/decco-dev/decco-sidecar:v1",
	NativeSidecar: true,
	Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	},
}

// basePod: one app container with an http port (probed by name) and an
// unnamed 9090.
func basePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a",
			Labels: map[string]string{space.LabelSpace: "team-a"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "app",
			Image: "app:1",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {ContainerPort: 9090}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9090)}}},
		}}},
	}
}

func mustInject(t *testing.T, pod *corev1.Pod, sp space.Space, cfg Config) Result {
	t.Helper()
	res, err := Pod(pod, sp, cfg)
	if err != nil {
		t.Fatalf("Pod: %v", err)
	}
	return res
}

// findSidecar returns the sidecar and whether it is an init container.
func findSidecar(t *testing.T, pod *corev1.Pod) (*corev1.Container, bool) {
	t.Helper()
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == SidecarName {
			return &pod.Spec.InitContainers[i], true
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == SidecarName {
			return &pod.Spec.Containers[i], false
		}
	}
	t.Fatal("no sidecar")
	return nil, false
}

func sidecarConfig(t *testing.T, pod *corev1.Pod) sidecar.Config {
	t.Helper()
	c, _ := findSidecar(t, pod)
	sc, err := sidecar.ParseArgs(c.Args)
	if err != nil {
		t.Fatalf("sidecar args %q: %v", c.Args, err)
	}
	return sc
}

func TestListenerPort(t *testing.T) {
	for in, want := range map[int32]int32{1: 10001, 80: 10080, 8080: 18080, 55535: 65535, 55536: 45536, 65535: 55535} {
		if got := ListenerPort(in); got != want {
			t.Errorf("ListenerPort(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestPortTakeoverAndProbes(t *testing.T) {
	in := basePod()
	before := in.DeepCopy()
	res := mustInject(t, in, testSpace, testCfg)
	if !reflect.DeepEqual(in, before) {
		t.Fatal("Pod modified its input")
	}
	if res.Decision != Injected {
		t.Fatalf("decision %s", res.Decision)
	}
	out := res.Pod
	app := out.Spec.Containers[0]
	wantPorts := []corev1.ContainerPort{{Name: "app-8080", ContainerPort: 8080}, {Name: "app-9090", ContainerPort: 9090}}
	if !reflect.DeepEqual(app.Ports, wantPorts) {
		t.Errorf("app ports %+v", app.Ports)
	}
	if got := app.ReadinessProbe.HTTPGet.Port; got != intstr.FromInt32(8080) {
		t.Errorf("named probe not rewritten: %+v", got)
	}
	if got := app.LivenessProbe.TCPSocket.Port; got != intstr.FromInt32(9090) {
		t.Errorf("numeric probe changed: %+v", got)
	}
	sc, _ := findSidecar(t, out)
	wantSC := []corev1.ContainerPort{
		{Name: "http", ContainerPort: 18080, Protocol: corev1.ProtocolTCP},
		{Name: "tls-9090", ContainerPort: 19090, Protocol: corev1.ProtocolTCP},
		{Name: HealthName, ContainerPort: sidecar.HealthPort, Protocol: corev1.ProtocolTCP},
	}
	if !reflect.DeepEqual(sc.Ports, wantSC) {
		t.Errorf("sidecar ports %+v", sc.Ports)
	}
	cfg := sidecarConfig(t, out)
	// An HTTP-named port is reached through the gateway: no client cert.
	wantL := []sidecar.Listener{lis("http", 18080, 8080, false), lis("tls-9090", 19090, 9090, true)}
	if !reflect.DeepEqual(cfg.Listeners, wantL) || cfg.CertDir != sidecar.CertDir || cfg.HealthPort != sidecar.HealthPort {
		t.Errorf("sidecar config %+v", cfg)
	}
	if sc.Image != testCfg.Image || !reflect.DeepEqual(sc.Resources, testCfg.Resources) {
		t.Errorf("image/resources %q %+v", sc.Image, sc.Resources)
	}
}

func TestLifecycleHookRewritten(t *testing.T) {
	in := basePod()
	in.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
		HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}}
	out := mustInject(t, in, testSpace, testCfg).Pod
	if got := out.Spec.Containers[0].Lifecycle.PreStop.HTTPGet.Port; got != intstr.FromInt32(8080) {
		t.Errorf("preStop port %+v", got)
	}
}

func TestNativeVsClassic(t *testing.T) {
	in := basePod()
	in.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "m"}}
	native := mustInject(t, in, testSpace, testCfg).Pod
	if native.Spec.InitContainers[0].Name != SidecarName || len(native.Spec.Containers) != 1 {
		t.Fatalf("native sidecar not first init container: %v", names(native))
	}
	nc := native.Spec.InitContainers[0]
	if nc.RestartPolicy == nil || *nc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Error("native sidecar without restartPolicy Always")
	}
	if nc.StartupProbe == nil || nc.StartupProbe.HTTPGet.Path != sidecar.ReadyPath ||
		nc.StartupProbe.HTTPGet.Port.IntVal != sidecar.HealthPort || nc.StartupProbe.PeriodSeconds != 1 || nc.StartupProbe.FailureThreshold != 30 {
		t.Errorf("startup probe %+v", nc.StartupProbe)
	}
	if nc.ReadinessProbe == nil || nc.ReadinessProbe.HTTPGet.Path != sidecar.ReadyPath {
		t.Errorf("readiness probe %+v", nc.ReadinessProbe)
	}
	cfg := testCfg
	cfg.NativeSidecar = false
	classic := mustInject(t, in, testSpace, cfg).Pod
	last := classic.Spec.Containers[len(classic.Spec.Containers)-1]
	if last.Name != SidecarName || len(classic.Spec.InitContainers) != 1 {
		t.Fatalf("classic sidecar not last container: %v", names(classic))
	}
	if last.RestartPolicy != nil || last.StartupProbe != nil || last.ReadinessProbe == nil {
		t.Errorf("classic sidecar probes/restart: %+v", last)
	}
	// Switching mode reinjects and moves the sidecar.
	res := mustInject(t, native, testSpace, cfg)
	if res.Decision != Reinjected || !reflect.DeepEqual(res.Pod, classic) {
		t.Errorf("native->classic: %s\n%v", res.Decision, names(res.Pod))
	}
}

func names(p *corev1.Pod) []string {
	var out []string
	for _, c := range p.Spec.InitContainers {
		out = append(out, "init:"+c.Name)
	}
	for _, c := range p.Spec.Containers {
		out = append(out, c.Name)
	}
	return out
}

func TestSecretMountedOnlyInSidecar(t *testing.T) {
	sp := testSpace
	sp.TCPCertSecret = "my-tls"
	out := mustInject(t, basePod(), sp, testCfg).Pod
	var certVol *corev1.Volume
	for i, v := range out.Spec.Volumes {
		if v.Name == CertVolume {
			certVol = &out.Spec.Volumes[i]
		}
	}
	if certVol == nil || certVol.Secret == nil || certVol.Secret.SecretName != "my-tls" {
		t.Fatalf("cert volume %+v", certVol)
	}
	for _, c := range append(slices.Clone(out.Spec.InitContainers), out.Spec.Containers...) {
		for _, m := range c.VolumeMounts {
			if (m.Name == CertVolume || m.Name == TmpVolume) && c.Name != SidecarName {
				t.Errorf("container %s mounts %s", c.Name, m.Name)
			}
		}
	}
	sc, _ := findSidecar(t, out)
	want := []corev1.VolumeMount{{Name: CertVolume, MountPath: sidecar.CertDir, ReadOnly: true}, {Name: TmpVolume, MountPath: "/tmp"}}
	if !reflect.DeepEqual(sc.VolumeMounts, want) {
		t.Errorf("sidecar mounts %+v", sc.VolumeMounts)
	}
	if mustInject(t, basePod(), testSpace, testCfg).Pod.Spec.Volumes[0].Secret.SecretName != space.DefaultWorkloadCertSecret {
		t.Error("default secret not used")
	}
}

func TestSecurityContext(t *testing.T) {
	for _, uid := range []int64{0, 1234} {
		cfg := testCfg
		cfg.SidecarUID = uid
		sc, _ := findSidecar(t, mustInject(t, basePod(), testSpace, cfg).Pod)
		s := sc.SecurityContext
		want := uid
		if want == 0 {
			want = DefaultUID
		}
		switch {
		case s == nil, !*s.RunAsNonRoot, *s.RunAsUser != want, *s.RunAsGroup != want, !*s.ReadOnlyRootFilesystem,
			*s.AllowPrivilegeEscalation, !reflect.DeepEqual(s.Capabilities.Drop, []corev1.Capability{"ALL"}),
			len(s.Capabilities.Add) != 0, s.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault, s.Privileged != nil:
			t.Errorf("uid %d: security context %+v", uid, s)
		}
	}
}

func TestRuntimeClass(t *testing.T) {
	sp := testSpace
	sp.RuntimeClass = "kata"
	out := mustInject(t, basePod(), sp, testCfg).Pod
	if runtimeClass(out) != "kata" {
		t.Errorf("runtime class not set: %q", runtimeClass(out))
	}
	same := basePod()
	same.Spec.RuntimeClassName = &sp.RuntimeClass
	if rc := runtimeClass(mustInject(t, same, sp, testCfg).Pod); rc != "kata" {
		t.Errorf("runtime class %q", rc)
	}
	// Skipped pods still get the space's RuntimeClass.
	opt := basePod()
	opt.Annotations = map[string]string{space.AnnotationInject: "false"}
	res := mustInject(t, opt, sp, testCfg)
	if res.Decision != SkippedOptOut || runtimeClass(res.Pod) != "kata" || opt.Spec.RuntimeClassName != nil {
		t.Errorf("opt-out: %s %q", res.Decision, runtimeClass(res.Pod))
	}
	// An already injected pod whose space gained a RuntimeClass is reinjected.
	plain := mustInject(t, basePod(), testSpace, testCfg).Pod
	res = mustInject(t, plain, sp, testCfg)
	if res.Decision != Reinjected || runtimeClass(res.Pod) != "kata" {
		t.Errorf("gained runtime class: %s %q", res.Decision, runtimeClass(res.Pod))
	}
}

func TestSkips(t *testing.T) {
	noLabel := basePod()
	noLabel.Labels = nil
	optOut := basePod()
	optOut.Annotations = map[string]string{space.AnnotationInject: "false", space.AnnotationEgress: "bad"}
	noPorts := basePod()
	noPorts.Spec.Containers[0].Ports = nil
	allPlain := basePod()
	allPlain.Annotations = map[string]string{space.AnnotationPlaintextPorts: "http,9090"}
	udpOnly := basePod()
	udpOnly.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}
	for _, tt := range []struct {
		name string
		pod  *corev1.Pod
		want Decision
	}{
		{"no label", noLabel, SkippedNoLabel},
		{"opt out", optOut, SkippedOptOut},
		{"no ports", noPorts, SkippedNoPorts},
		{"all plaintext", allPlain, SkippedNoPorts},
		{"udp only", udpOnly, SkippedNoPorts},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := mustInject(t, tt.pod, testSpace, testCfg)
			if res.Decision != tt.want || !reflect.DeepEqual(res.Pod, tt.pod) {
				t.Errorf("got %s, pod changed: %v", res.Decision, !reflect.DeepEqual(res.Pod, tt.pod))
			}
		})
	}
	// Egress alone is enough for a sidecar.
	eg := basePod()
	eg.Spec.Containers[0].Ports = nil
	eg.Annotations = map[string]string{space.AnnotationEgress: "13306=db.team-b.example.com:3306"}
	res := mustInject(t, eg, testSpace, testCfg)
	cfg := sidecarConfig(t, res.Pod)
	if res.Decision != Injected || len(cfg.Listeners) != 0 || !reflect.DeepEqual(cfg.Egress, []sidecar.Egress{{LocalPort: 13306, Host: "db.team-b.example.com", Port: 3306}}) {
		t.Errorf("egress only: %s %+v", res.Decision, cfg)
	}
}

func TestAnnotations(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		want []sidecar.Listener
	}{
		{"default all ports", nil, []sidecar.Listener{lis("http", 18080, 8080, false), lis("tls-9090", 19090, 9090, true)}},
		{"tls-ports by name", map[string]string{space.AnnotationTLSPorts: "http"}, []sidecar.Listener{lis("http", 18080, 8080, false)}},
		{"tls-ports by number", map[string]string{space.AnnotationTLSPorts: "9090"}, []sidecar.Listener{lis("tls-9090", 19090, 9090, true)}},
		{"plaintext by number", map[string]string{space.AnnotationPlaintextPorts: "9090"}, []sidecar.Listener{lis("http", 18080, 8080, false)}},
		{"plaintext by name", map[string]string{space.AnnotationPlaintextPorts: "http"}, []sidecar.Listener{lis("tls-9090", 19090, 9090, true)}},
		{"verify off", map[string]string{space.AnnotationVerifyClient: "false", space.AnnotationTLSPorts: "http"}, []sidecar.Listener{lis("http", 18080, 8080, false)}},
		{"verify on for HTTP", map[string]string{space.AnnotationVerifyClient: "true"}, []sidecar.Listener{lis("http", 18080, 8080, true), lis("tls-9090", 19090, 9090, true)}},
		{"verify off for TCP", map[string]string{space.AnnotationVerifyClient: "false", space.AnnotationTLSPorts: "9090"}, []sidecar.Listener{lis("tls-9090", 19090, 9090, false)}},
		{"inject true", map[string]string{space.AnnotationInject: "true", space.AnnotationTLSPorts: "8080"}, []sidecar.Listener{lis("http", 18080, 8080, false)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := basePod()
			in.Annotations = tt.ann
			out := mustInject(t, in, testSpace, testCfg).Pod
			if got := sidecarConfig(t, out).Listeners; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("listeners %+v, want %+v", got, tt.want)
			}
			// Plaintext ports keep their names and probes.
			for _, p := range out.Spec.Containers[0].Ports {
				exposed := slices.ContainsFunc(tt.want, func(l sidecar.Listener) bool { return l.AppPort == p.ContainerPort })
				if exposed != strings.HasPrefix(p.Name, "app-") {
					t.Errorf("port %+v renamed=%v exposed=%v", p, !exposed, exposed)
				}
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	uid := func(n int64) *int64 { return &n }
	yes := true
	tests := []struct {
		name   string
		sp     space.Space
		mutate func(*corev1.Pod)
		reason Reason
		want   []string
	}{
		{"wrong space", testSpace, func(p *corev1.Pod) { p.Labels[space.LabelSpace] = "team-b" }, WrongSpace,
			[]string{`"team-b"`, `set the label to "team-a"`}},
		{"host network", testSpace, func(p *corev1.Pod) { p.Spec.HostNetwork = true }, HostNetwork, []string{"remove hostNetwork"}},
		{"host port", testSpace, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].HostPort = 80 }, HostNetwork, []string{"hostPort 80", "remove hostPort"}},
		{"invalid annotation", testSpace, func(p *corev1.Pod) { p.Annotations = map[string]string{space.AnnotationEgress: "1=db:3\n[x]"} },
			InvalidAnnotation, []string{space.AnnotationEgress, `"1=db:3\n[x]"`, "write comma-separated localPort=host:port"}},
		{"two invalid annotations", testSpace, func(p *corev1.Pod) {
			p.Annotations = map[string]string{space.AnnotationVerifyClient: "no", space.AnnotationTLSPorts: "a b"}
		}, InvalidAnnotation, []string{space.AnnotationVerifyClient, space.AnnotationTLSPorts}},
		{"unknown tls port", testSpace, func(p *corev1.Pod) { p.Annotations = map[string]string{space.AnnotationTLSPorts: "grpc"} },
			InvalidAnnotation, []string{"lists port grpc, which no container declares", space.AnnotationTLSPorts}},
		{"unknown plaintext port", testSpace, func(p *corev1.Pod) { p.Annotations = map[string]string{space.AnnotationPlaintextPorts: "7777"} },
			InvalidAnnotation, []string{"lists port 7777", space.AnnotationPlaintextPorts}},
		{"udp tls port", testSpace, func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[1].Protocol = corev1.ProtocolUDP
			p.Annotations = map[string]string{space.AnnotationTLSPorts: "9090"}
		}, InvalidAnnotation, []string{"not a TCP port"}},
		{"both by name and number", testSpace, func(p *corev1.Pod) {
			p.Annotations = map[string]string{space.AnnotationTLSPorts: "http", space.AnnotationPlaintextPorts: "8080"}
		}, InvalidAnnotation, []string{"selected by both"}},
		{"runtime class", space.Space{Name: "team-a", Domain: "example.com", RuntimeClass: "kata"}, func(p *corev1.Pod) {
			rc := "runc"
			p.Spec.RuntimeClassName = &rc
		}, RuntimeClassMismatch, []string{`"runc"`, `"kata"`, space.AnnotationRuntimeClass, "remove runtimeClassName"}},
		{"listener collides with declared", testSpace, func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 18080})
		}, PortConflict, []string{"port 8080 needs TLS listener port 18080", "dataPlane.interception: cni", "change one of the ports"}},
		{"listener collides with init port", testSpace, func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Ports: []corev1.ContainerPort{{ContainerPort: 19090}}}}
		}, PortConflict, []string{`container "i" declares that port`}},
		{"listener is health port", testSpace, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[1].ContainerPort = 5021 }, PortConflict,
			[]string{"port 5021 needs TLS listener port 15021", "health port"}},
		{"listeners collide", testSpace, func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 40000}, {ContainerPort: 60000}}
		}, PortConflict, []string{"port 60000 needs TLS listener port 50000", "port 40000 also maps to it"}},
		{"listener is egress port", testSpace, func(p *corev1.Pod) { p.Annotations = map[string]string{space.AnnotationEgress: "18080=db:1"} },
			PortConflict, []string{"decco.io/egress entry uses it as local port"}},
		{"egress port declared", testSpace, func(p *corev1.Pod) { p.Annotations = map[string]string{space.AnnotationEgress: "9090=db:1"} },
			PortConflict, []string{"decco.io/egress local port 9090", "pick another local port"}},
		{"health port declared", testSpace, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[1].ContainerPort = 15021 },
			PortConflict, []string{"declares port 15021", "health checks"}},
		{"name clash health", testSpace, func(p *corev1.Pod) {
			p.Annotations = map[string]string{space.AnnotationPlaintextPorts: "9090"}
			p.Spec.Containers[0].Ports[1].Name = HealthName
		}, PortConflict, []string{`named "decco-health"`, "rename the port"}},
		{"same name two ports", testSpace, func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 7070}}})
		}, PortConflict, []string{`both named "http"`}},
		{"app- name taken", testSpace, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[1].Name = "app-8080" },
			PortConflict, []string{`"app-8080"`}},
		{"reserved volume", testSpace, func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: TmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}, VolumeConflict, []string{`volume name "decco-tmp" is reserved`, "rename the volume"}},
		{"mounts cert volume", testSpace, func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: CertVolume, MountPath: "/steal"}}
		}, VolumeConflict, []string{`mounts volume "decco-tls"`, "remove the volumeMount"}},
		{"reserved container", testSpace, func(p *corev1.Pod) { p.Spec.Containers[0].Name = SidecarName }, ContainerConflict,
			[]string{`"decco-tls" is reserved`, "rename the container"}},
		{"pod uid", testSpace, func(p *corev1.Pod) { p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: uid(DefaultUID)} },
			ReservedUID, []string{"runs as UID 1337 (the pod's spec.securityContext.runAsUser)", "set the pod's spec.securityContext.runAsUser to another UID",
				"--sidecar-uid", "chart value sidecar.uid"}},
		{"container uid", testSpace, func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{RunAsUser: uid(DefaultUID)}}}
		}, ReservedUID, []string{`container "i" runs as UID 1337 (its securityContext.runAsUser)`, "set its securityContext.runAsUser to another UID"}},
		{"container uid over another pod uid", testSpace, func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: uid(1000)}
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: uid(DefaultUID)}
		}, ReservedUID, []string{`container "app" runs as UID 1337 (its securityContext.runAsUser)`}},
		{"net admin", testSpace, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
		}, NetAdmin, []string{"NET_ADMIN", "capabilities.add"}},
		{"cap_net_admin lowercase", testSpace, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"cap_net_admin"}}}
		}, NetAdmin, []string{"cap_net_admin"}},
		{"all caps", testSpace, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"ALL"}}}
		}, NetAdmin, []string{"ALL"}},
		{"privileged", testSpace, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
		}, NetAdmin, []string{"privileged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := basePod()
			tt.mutate(p)
			res, err := Pod(p, tt.sp, testCfg)
			var r *Refusal
			if !errors.As(err, &r) {
				t.Fatalf("want refusal, got %v (%s)", err, res.Decision)
			}
			if r.Reason != tt.reason {
				t.Errorf("reason %s, want %s: %s", r.Reason, tt.reason, r.Message)
			}
			for _, w := range append([]string{`pod "team-a/web"`}, tt.want...) {
				if !strings.Contains(r.Message, w) {
					t.Errorf("message %q lacks %q", r.Message, w)
				}
			}
		})
	}
}

func TestInvalidAnnotationWrapsFieldError(t *testing.T) {
	p := basePod()
	p.Annotations = map[string]string{space.AnnotationVerifyClient: "no"}
	_, err := Pod(p, testSpace, testCfg)
	var fe *space.FieldError
	if !errors.As(err, &fe) || fe.Key != space.AnnotationVerifyClient {
		t.Fatalf("got %v", err)
	}
	if r, ok := IsRefusal(err); !ok || r.Reason != InvalidAnnotation {
		t.Fatalf("got %v", err)
	}
}

func TestGenerateNameInMessage(t *testing.T) {
	p := basePod()
	p.Name, p.GenerateName = "", "web-7d9f-"
	p.Spec.HostNetwork = true
	_, err := Pod(p, testSpace, testCfg)
	if err == nil || !strings.Contains(err.Error(), `pod "team-a/web-7d9f-*"`) {
		t.Fatalf("got %v", err)
	}
}

func TestIdempotence(t *testing.T) {
	first := mustInject(t, basePod(), testSpace, testCfg)
	second := mustInject(t, first.Pod, testSpace, testCfg)
	if second.Decision != UpToDate || second.Pod != first.Pod {
		t.Fatalf("second run: %s", second.Decision)
	}
	// A new image reinjects, with the same shape.
	cfg := testCfg
	cfg.Image = "ghcr.io/decco-dev/decco-sidecar:v2"
	re := mustInject(t, first.Pod, testSpace, cfg)
	fresh := mustInject(t, basePod(), testSpace, cfg)
	if re.Decision != Reinjected || !reflect.DeepEqual(re.Pod.Spec, fresh.Pod.Spec) {
		t.Fatalf("reinjection differs from fresh injection: %s", re.Decision)
	}
	if re.Pod.Annotations[space.AnnotationInjected] == first.Pod.Annotations[space.AnnotationInjected] {
		t.Fatal("hash did not change with the image")
	}
	// A forged hash with a different sidecar does not pass as up to date.
	forged := first.Pod.DeepCopy()
	forged.Spec.InitContainers[0].Args = []string{"--evil"}
	if res := mustInject(t, forged, testSpace, testCfg); res.Decision != Reinjected || !reflect.DeepEqual(res.Pod, first.Pod) {
		t.Fatalf("forged: %s", res.Decision)
	}
	// A changed annotation on an injected pod (tls-ports narrowed).
	narrowed := first.Pod.DeepCopy()
	narrowed.Annotations[space.AnnotationTLSPorts] = "http"
	res := mustInject(t, narrowed, testSpace, testCfg)
	if got := sidecarConfig(t, res.Pod).Listeners; res.Decision != Reinjected || len(got) != 1 || got[0].Name != "http" {
		t.Fatalf("narrowed: %s %+v", res.Decision, got)
	}
	if p := res.Pod.Spec.Containers[0].Ports; p[0].Name != "app-8080" || p[1].Name != "" {
		t.Fatalf("ports after narrowing %+v", p)
	}
}

func TestUpToDateSurvivesAPIServerDefaults(t *testing.T) {
	out := mustInject(t, basePod(), testSpace, testCfg).Pod.DeepCopy()
	for i := range out.Spec.InitContainers {
		c := &out.Spec.InitContainers[i]
		c.TerminationMessagePath = "/dev/termination-log"
		c.ImagePullPolicy = corev1.PullIfNotPresent
		c.ReadinessProbe.TimeoutSeconds, c.ReadinessProbe.SuccessThreshold = 1, 1
		c.ReadinessProbe.HTTPGet.Scheme = corev1.URISchemeHTTP
	}
	res := mustInject(t, out, testSpace, testCfg)
	if res.Decision != UpToDate || res.Pod != out {
		t.Fatalf("defaulted pod: %s", res.Decision)
	}
}

func lis(name string, port, app int32, verify bool) sidecar.Listener {
	return sidecar.Listener{Name: name, Port: port, AppPort: app, VerifyClient: verify}
}

func TestPreviousInjectionRemovedWhenNothingToDo(t *testing.T) {
	injected := mustInject(t, basePod(), testSpace, testCfg).Pod
	for name, ann := range map[string]string{
		space.AnnotationPlaintextPorts: "http,9090",
		space.AnnotationInject:         "false",
	} {
		p := injected.DeepCopy()
		p.Annotations[name] = ann
		res := mustInject(t, p, testSpace, testCfg)
		want := basePod()
		want.Annotations = map[string]string{name: ann}
		want.Spec.Containers[0].ReadinessProbe.HTTPGet.Port = intstr.FromInt32(8080) // rewrites stay
		if !reflect.DeepEqual(res.Pod, want) {
			t.Errorf("%s: previous injection not cleanly removed (%s): %v", name, res.Decision, names(res.Pod))
		}
		if again := mustInject(t, res.Pod, testSpace, testCfg); again.Pod != res.Pod {
			t.Errorf("%s: not stable", name)
		}
	}
}

func TestIsHTTPPortName(t *testing.T) {
	for name, want := range map[string]bool{
		"http": true, "http-api": true, "http2": true, "https": true, "grpc": true, "grpc-web": true, "grpc-admin": true,
		"": false, "mysql": false, "tcp": false, "httpd": false, "tls-8080": false, "amqp": false, "web": false,
	} {
		if got := IsHTTPPortName(name); got != want {
			t.Errorf("IsHTTPPortName(%q) = %v, want %v", name, got, want)
		}
	}
}

package inject

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
)

var cniCfg = func() Config {
	c := testCfg
	c.Interception = InterceptCNI
	c.Ranges = intercept.Ranges{
		Pods:     []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/56")},
		Services: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")},
		Exclude:  []netip.Prefix{netip.MustParsePrefix("10.96.0.1/32")},
	}
	return c
}()

func ports(pp ...corev1.ContainerPort) []corev1.ContainerPort { return pp }

func tcp(name string, n int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: n, Protocol: corev1.ProtocolTCP}
}

// TestCNIMode: the workloads ports mode can't carry are injected as
// written, with the plan the CNI plugin applies.
func TestCNIMode(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ports       []corev1.ContainerPort
		annotations map[string]string
		httpPorts   []int32
		exclude     []int32
		inbound     []string
	}{
		{"RabbitMQ with management (5672 and 15672 = 5672+10000)", ports(tcp("amqp", 5672), tcp("http-stats", 15672)), nil,
			[]int32{15672}, nil, []string{"--inbound=15006:verify", "--inbound=15007:noverify"}},
		{"redis-cluster (6379 and its bus 16379)", ports(tcp("tcp-redis", 6379), tcp("tcp-redis-bus", 16379)), nil,
			nil, nil, []string{"--inbound=15006:verify"}},
		{"no declared ports: every port still TLS", nil, nil, nil, nil, []string{"--inbound=15006:verify"}},
		{"plaintext metrics port left out of interception", ports(tcp("redis", 6379), tcp("metrics", 9121)),
			map[string]string{space.AnnotationPlaintextPorts: "metrics"}, nil, []int32{9121}, []string{"--inbound=15006:verify"}},
		{"verify-client decides for every port", ports(tcp("http", 8080)),
			map[string]string{space.AnnotationVerifyClient: "false"}, nil, nil, []string{"--inbound=15006:noverify"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			pod.Spec.Containers[0].Ports = tc.ports
			pod.Spec.Containers[0].ReadinessProbe, pod.Spec.Containers[0].LivenessProbe = nil, nil
			pod.Annotations = tc.annotations
			res := mustInject(t, pod, testSpace, cniCfg)
			require.Equal(t, Injected, res.Decision)
			out := res.Pod
			assert.Equal(t, tc.ports, out.Spec.Containers[0].Ports, "ports keep their numbers and names")
			sc, native := findSidecar(t, out)
			assert.True(t, native)
			for _, a := range tc.inbound {
				assert.Contains(t, sc.Args, a)
			}
			assert.Contains(t, sc.Args, "--outbound=15001")
			assert.Contains(t, sc.Args, "--check-port=15020")
			require.Len(t, sc.Ports, 1, "the sidecar declares only its health port")
			plan, err := intercept.Parse(out.Annotations[space.AnnotationInterception])
			require.NoError(t, err)
			assert.Equal(t, tc.httpPorts, plan.Inbound.HTTPPorts)
			assert.Equal(t, tc.exclude, plan.Inbound.Exclude)
			assert.Equal(t, int64(DefaultUID), plan.SidecarUID)
			assert.Equal(t, []string{"10.244.0.0/16", "fd00:10:244::/56", "10.96.0.0/12"}, prefixStrings(plan.Outbound.CIDRs))
			assert.Equal(t, []string{"10.96.0.1/32"}, prefixStrings(plan.Outbound.ExcludeCIDRs))

			again := mustInject(t, out, testSpace, cniCfg)
			assert.Equal(t, UpToDate, again.Decision)
			assert.Same(t, out, again.Pod)
		})
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// A pod that only dials out (a Job, a worker) gets a sidecar without any
// annotation: its connections to the space leave as mutual TLS.
func TestCNIClientOnlyPod(t *testing.T) {
	pod := basePod()
	pod.Spec.Containers[0].Ports = nil
	pod.Spec.Containers[0].ReadinessProbe, pod.Spec.Containers[0].LivenessProbe = nil, nil
	assert.Equal(t, SkippedNoPorts, mustInject(t, pod, testSpace, testCfg).Decision, "ports mode has nothing to do")
	assert.Equal(t, Injected, mustInject(t, pod, testSpace, cniCfg).Decision)
}

// The kubelet's probes reach the sidecar's health port, which repeats them
// on loopback; probes of plaintext ports and of other hosts are left alone.
func TestCNIProbes(t *testing.T) {
	pod := basePod() // readiness httpGet by name "http", liveness tcpSocket 9090
	c := &pod.Spec.Containers[0]
	c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: "/started", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTPS,
		HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "1"}}}}}
	out := mustInject(t, pod, testSpace, cniCfg).Pod
	oc := out.Spec.Containers[0]
	health := intstr.FromInt32(sidecar.HealthPort)
	assert.Equal(t, &corev1.HTTPGetAction{Path: "/app-health/http/8080/ready", Port: health, Scheme: corev1.URISchemeHTTP}, oc.ReadinessProbe.HTTPGet)
	assert.Nil(t, oc.LivenessProbe.TCPSocket)
	assert.Equal(t, &corev1.HTTPGetAction{Path: "/app-health/tcp/9090", Port: health, Scheme: corev1.URISchemeHTTP}, oc.LivenessProbe.HTTPGet)
	assert.Equal(t, "/app-health/https/8080/started", oc.StartupProbe.HTTPGet.Path)
	assert.Equal(t, []corev1.HTTPHeader{{Name: "X-Probe", Value: "1"}}, oc.StartupProbe.HTTPGet.HTTPHeaders)

	// Back to ports mode: the probes are the app's again (by number).
	back := mustInject(t, out, testSpace, testCfg)
	require.Equal(t, Reinjected, back.Decision)
	bc := back.Pod.Spec.Containers[0]
	assert.Equal(t, intstr.FromInt32(9090), bc.LivenessProbe.TCPSocket.Port)
	assert.Equal(t, "/ready", bc.ReadinessProbe.HTTPGet.Path)
	assert.Equal(t, intstr.FromInt32(8080), bc.ReadinessProbe.HTTPGet.Port)
	_, has := back.Pod.Annotations[space.AnnotationInterception]
	assert.False(t, has, "ports mode carries no interception plan")

	pod = basePod()
	pod.Annotations = map[string]string{space.AnnotationPlaintextPorts: "9090"}
	out = mustInject(t, pod, testSpace, cniCfg).Pod
	assert.Equal(t, intstr.FromInt32(9090), out.Spec.Containers[0].LivenessProbe.TCPSocket.Port, "a plaintext port is probed directly")
}

// gRPC probes become HTTP probes of the sidecar, which makes the gRPC
// health check on loopback; reinjecting in ports mode gives them back.
func TestCNIGRPCProbes(t *testing.T) {
	health := intstr.FromInt32(sidecar.HealthPort)
	for _, tc := range []struct {
		name      string
		plaintext string
		probe     corev1.GRPCAction
		want      *corev1.HTTPGetAction // nil: left as written
	}{
		{"the server", "", corev1.GRPCAction{Port: 9090},
			&corev1.HTTPGetAction{Path: "/app-health/grpc/9090", Port: health, Scheme: corev1.URISchemeHTTP}},
		{"a service", "", corev1.GRPCAction{Port: 9090, Service: new("shop.Cart")},
			&corev1.HTTPGetAction{Path: "/app-health/grpc/9090/shop.Cart", Port: health, Scheme: corev1.URISchemeHTTP}},
		{"the empty service is the server", "", corev1.GRPCAction{Port: 9090, Service: new("")},
			&corev1.HTTPGetAction{Path: "/app-health/grpc/9090", Port: health, Scheme: corev1.URISchemeHTTP}},
		{"a port no container declares", "", corev1.GRPCAction{Port: 50051},
			&corev1.HTTPGetAction{Path: "/app-health/grpc/50051", Port: health, Scheme: corev1.URISchemeHTTP}},
		{"a plaintext port is probed directly", "9090", corev1.GRPCAction{Port: 9090}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			if tc.plaintext != "" {
				pod.Annotations = map[string]string{space.AnnotationPlaintextPorts: tc.plaintext}
			}
			probe := tc.probe
			pod.Spec.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &probe}, PeriodSeconds: 2}
			out := mustInject(t, pod, testSpace, cniCfg).Pod
			got := out.Spec.Containers[0].StartupProbe
			assert.Equal(t, int32(2), got.PeriodSeconds, "only the handler changes")
			if tc.want == nil {
				assert.Equal(t, &tc.probe, got.GRPC)
				assert.Nil(t, got.HTTPGet)
				return
			}
			assert.Nil(t, got.GRPC)
			assert.Equal(t, tc.want, got.HTTPGet)
			assert.Equal(t, UpToDate, mustInject(t, out, testSpace, cniCfg).Decision, "idempotent")

			back := mustInject(t, out, testSpace, testCfg).Pod.Spec.Containers[0].StartupProbe
			assert.Nil(t, back.HTTPGet)
			want := tc.probe
			if want.Service != nil && *want.Service == "" {
				want.Service = nil // the same probe: the kubelet sends "" for nil
			}
			assert.Equal(t, &want, back.GRPC, "ports mode gets the gRPC probe back")
		})
	}
}

func TestCNIRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*corev1.Pod)
		reason Reason
		substr []string
	}{
		{"a container declares a sidecar port", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, tcp("", 15006))
		}, PortConflict, []string{`container "app" declares port 15006`, "change the container's port"}},
		{"an egress local port is a sidecar port", func(p *corev1.Pod) {
			p.Annotations = map[string]string{space.AnnotationEgress: "15001=db.team-a.svc:5432"}
		}, PortConflict, []string{"local port 15001", "pick another local port"}},
		{"the app runs as the sidecar's UID (pod level)", func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: new(DefaultUID)}
		}, ReservedUID, []string{`container "app" runs as UID 1337 (the pod's spec.securityContext.runAsUser)`,
			"its connections would skip the sidecar", "set the pod's spec.securityContext.runAsUser to another UID", "--sidecar-uid"}},
		{"the app runs as the sidecar's UID (container level)", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: new(DefaultUID)}
		}, ReservedUID, []string{`container "app" runs as UID 1337 (its securityContext.runAsUser)`, "set its securityContext.runAsUser to another UID"}},
		{"decco's plan on a pod that opts out", func(p *corev1.Pod) {
			p.Annotations = map[string]string{space.AnnotationInject: "false", space.AnnotationInterception: "{}"}
		}, ReservedLabel, []string{space.AnnotationInterception, "remove the annotation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := basePod()
			tc.edit(pod)
			_, err := Pod(pod, testSpace, cniCfg)
			r, ok := IsRefusal(err)
			require.True(t, ok, "want a refusal, got %v", err)
			assert.Equal(t, tc.reason, r.Reason)
			for _, s := range tc.substr {
				assert.Contains(t, r.Message, s)
			}
		})
	}
}

// The sidecar's UID is the installation's: the plan exempts that UID, the
// check refuses apps running as it, and an app that runs as the default
// UID is fine once the sidecar runs as another.
func TestCNISidecarUID(t *testing.T) {
	cfg := cniCfg
	cfg.SidecarUID = 2000
	pod := basePod()
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: new(DefaultUID)}
	out := mustInject(t, pod, testSpace, cfg).Pod
	plan, err := intercept.Parse(out.Annotations[space.AnnotationInterception])
	require.NoError(t, err)
	assert.Equal(t, int64(2000), plan.SidecarUID)
	assert.Equal(t, int64(2000), *out.Spec.InitContainers[0].SecurityContext.RunAsUser)

	pod = basePod()
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: new(int64(1000))}
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: new(int64(2000))}
	_, err = Pod(pod, testSpace, cfg)
	r, ok := IsRefusal(err)
	require.True(t, ok, "want a refusal, got %v", err)
	assert.Equal(t, ReservedUID, r.Reason)
	assert.Contains(t, r.Message, "runs as UID 2000 (its securityContext.runAsUser)")
}

// A plan a user wrote on a pod decco injects is replaced by decco's.
func TestCNIUserPlanReplaced(t *testing.T) {
	pod := basePod()
	pod.Annotations = map[string]string{space.AnnotationInterception: `{"v":1,"inbound":{"exclude":[8080]}}`}
	out := mustInject(t, pod, testSpace, cniCfg).Pod
	assert.False(t, strings.Contains(out.Annotations[space.AnnotationInterception], `"exclude":[8080]`), out.Annotations[space.AnnotationInterception])
	clean := basePod()
	assert.True(t, reflect.DeepEqual(mustInject(t, clean, testSpace, cniCfg).Pod.Annotations, out.Annotations))
}

// The plan is read again whenever the pod's sandbox is recreated, so a
// running pod's plan can't be edited.
func TestCNIPlanImmutable(t *testing.T) {
	injected := mustInject(t, basePod(), testSpace, cniCfg).Pod
	edited := injected.DeepCopy()
	edited.Annotations[space.AnnotationInterception] = strings.Replace(edited.Annotations[space.AnnotationInterception], `"httpPorts":[8080]`, `"exclude":[8080]`, 1)
	err := PodUpdate(injected, edited, cniCfg)
	r, ok := IsRefusal(err)
	require.True(t, ok, "want a refusal, got %v", err)
	assert.Equal(t, Immutable, r.Reason)
	assert.Contains(t, r.Message, space.AnnotationInterception)
	require.NoError(t, PodUpdate(injected, injected.DeepCopy(), cniCfg))
}

// TestInterceptionLabel: the label the cni listener policy selects is
// decco's output in cni mode alone. A user's copy is replaced on a pod
// decco injects (dropped in ports mode, where it would open the pod's
// plaintext ports once the cluster switched to cni), refused on a pod it
// doesn't inject, and its absence makes a cni pod outdated.
func TestInterceptionLabel(t *testing.T) {
	forged := func(edit func(*corev1.Pod)) *corev1.Pod {
		p := basePod()
		p.Labels[space.LabelInterception] = "cni"
		if edit != nil {
			edit(p)
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		pod    *corev1.Pod
		cfg    Config
		want   string // the label's value on the admitted pod; "" for none
		reason Reason // a refusal instead
	}{
		{"cni mode labels the pod", basePod(), cniCfg, "cni", ""},
		{"ports mode doesn't", basePod(), testCfg, "", ""},
		{"a user's label, cni mode: decco's value", forged(func(p *corev1.Pod) { p.Labels[space.LabelInterception] = "x" }), cniCfg, "cni", ""},
		{"a user's label, ports mode: dropped", forged(nil), testCfg, "", ""},
		{"a user's label on a pod that opts out", forged(func(p *corev1.Pod) { p.Annotations = map[string]string{space.AnnotationInject: "false"} }), cniCfg, "", ReservedLabel},
		{"a user's label on a ports-mode pod with nothing to expose", forged(func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil }), testCfg, "", ReservedLabel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Pod(tc.pod, testSpace, tc.cfg)
			if tc.reason != "" {
				r, ok := IsRefusal(err)
				require.True(t, ok, "want a refusal, got %v", err)
				assert.Equal(t, tc.reason, r.Reason)
				assert.Contains(t, r.Message, space.LabelInterception)
				assert.Contains(t, r.Message, "remove the label")
				return
			}
			require.NoError(t, err)
			got, ok := res.Pod.Labels[space.LabelInterception]
			assert.Equal(t, tc.want != "", ok)
			assert.Equal(t, tc.want, got)
			again := mustInject(t, res.Pod, testSpace, tc.cfg)
			assert.Equal(t, UpToDate, again.Decision, "the label is part of the injection")
		})
	}

	t.Run("a cni pod without the label is outdated", func(t *testing.T) {
		out := mustInject(t, basePod(), testSpace, cniCfg).Pod
		delete(out.Labels, space.LabelInterception)
		res := mustInject(t, out, testSpace, cniCfg)
		assert.Equal(t, Reinjected, res.Decision)
		assert.Equal(t, "cni", res.Pod.Labels[space.LabelInterception])
	})
	t.Run("a ports pod in a cni cluster is outdated, and the reverse", func(t *testing.T) {
		portsPod := mustInject(t, basePod(), testSpace, testCfg).Pod
		res := mustInject(t, portsPod, testSpace, cniCfg)
		assert.Equal(t, Reinjected, res.Decision)
		assert.Equal(t, "cni", res.Pod.Labels[space.LabelInterception])
		back := mustInject(t, res.Pod, testSpace, testCfg)
		assert.Equal(t, Reinjected, back.Decision)
		assert.NotContains(t, back.Pod.Labels, space.LabelInterception)
		assert.NotContains(t, back.Pod.Annotations, space.AnnotationInterception)
	})
	t.Run("immutable on a running pod", func(t *testing.T) {
		injected := mustInject(t, basePod(), testSpace, cniCfg).Pod
		removed := injected.DeepCopy()
		delete(removed.Labels, space.LabelInterception)
		r, ok := IsRefusal(PodUpdate(injected, removed, cniCfg))
		require.True(t, ok)
		assert.Equal(t, Immutable, r.Reason)
		assert.Contains(t, r.Message, "removing label "+space.LabelInterception)
	})
}

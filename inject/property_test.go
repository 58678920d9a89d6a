package inject_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/inject/injecttest"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
)

// propertyPods is how many pods TestPropertyIdempotent generates: 3,000 by
// default, 100,000 with DECCO_LONG=1 (CI sets it; RELIABILITY.md's
// idempotency-at-scale row).
func propertyPods() int {
	if os.Getenv("DECCO_LONG") != "" {
		return 100_000
	}
	return 3000
}

// TestPropertyIdempotent injects thousands of random pods three times each,
// every run on the previous run's output, and checks the invariants on the
// result: no diff between runs, no duplicate container, env variable,
// volume, mount or port.
func TestPropertyIdempotent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	decisions := map[string]int{}
	propertyPods := propertyPods()
	start := time.Now()
	for i := range propertyPods {
		sp := injecttest.RandomSpace(r)
		cfg := inject.Config{Image: "decco-sidecar:v1", NativeSidecar: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			cfg.Interception, cfg.Ranges = inject.InterceptCNI, testRanges
		}
		pod := injecttest.RandomPod(r)
		pod.Name = fmt.Sprintf("pod-%d", i)
		key := checkOne(t, pod, sp, cfg)
		decisions[key]++
		if t.Failed() {
			t.Fatalf("pod %d failed; stopping", i)
		}
	}
	t.Logf("outcomes over %d pods, each injected three times, in %s: %v", propertyPods, time.Since(start).Round(time.Millisecond), decisions)
	if decisions[string(inject.Injected)] < propertyPods/3 {
		t.Errorf("only %d of %d pods injected: generator too hostile", decisions[string(inject.Injected)], propertyPods)
	}
	for _, d := range []inject.Decision{inject.SkippedNoLabel, inject.SkippedOptOut, inject.SkippedNoPorts} {
		if decisions[string(d)] == 0 {
			t.Errorf("generator never produced %s", d)
		}
	}
}

// checkOne runs the three injections and returns the outcome's name.
func checkOne(t *testing.T, pod *corev1.Pod, sp space.Space, cfg inject.Config) string {
	t.Helper()
	first, err := injectPure(t, pod, sp, cfg)
	if err != nil {
		var r *inject.Refusal
		if !errors.As(err, &r) || r.Reason == "" || r.Message == "" {
			t.Errorf("%s: error is not a complete Refusal: %v", pod.Name, err)
			return "error"
		}
		return "refused:" + string(r.Reason)
	}
	out := first.Pod
	for run := 2; run <= 3; run++ {
		again, err := injectPure(t, out, sp, cfg)
		if err != nil {
			t.Errorf("%s: run %d refused its own output: %v", pod.Name, run, err)
			return "error"
		}
		if !reflect.DeepEqual(again.Pod, first.Pod) {
			t.Errorf("%s: run %d changed the pod (%s)", pod.Name, run, again.Decision)
		}
		out = again.Pod
	}
	if first.Decision == inject.Injected {
		checkInvariants(t, pod, first.Pod)
		checkRoundTrip(t, first.Pod, sp, cfg)
	}
	return string(first.Decision)
}

// injectPure is inject.Pod, failing the test if the call changed its input:
// Pod's result shares the parts it does not change with its input, so a
// write through a shared part would change the input, or an earlier
// result that a reinjection was given.
func injectPure(t *testing.T, pod *corev1.Pod, sp space.Space, cfg inject.Config) (inject.Result, error) {
	t.Helper()
	before := pod.DeepCopy()
	res, err := inject.Pod(pod, sp, cfg)
	if !reflect.DeepEqual(pod, before) {
		t.Errorf("%s: input modified", pod.Name)
	}
	return res, err
}

// checkRoundTrip reinjects with another image and sidecar mode, then with
// the original config again: removal must restore the pod exactly, so the
// result equals the first injection.
func checkRoundTrip(t *testing.T, injected *corev1.Pod, sp space.Space, cfg inject.Config) {
	t.Helper()
	other := cfg
	other.Image += "-next"
	other.NativeSidecar = !cfg.NativeSidecar
	mid, err := injectPure(t, injected, sp, other)
	if err != nil || mid.Decision != inject.Reinjected {
		t.Errorf("%s: reinjection with another config: %v %s", injected.Name, err, mid.Decision)
		return
	}
	back, err := injectPure(t, mid.Pod, sp, cfg)
	if err != nil || back.Decision != inject.Reinjected || !reflect.DeepEqual(back.Pod, injected) {
		t.Errorf("%s: reinjection back to the original config differs: %v %s", injected.Name, err, back.Decision)
	}
}

func checkInvariants(t *testing.T, in, out *corev1.Pod) {
	t.Helper()
	all := append(append([]corev1.Container{}, out.Spec.InitContainers...), out.Spec.Containers...)
	containers, sidecars := map[string]bool{}, 0
	ports, portNames := map[int32]string{}, map[string]string{}
	for _, c := range all {
		if containers[c.Name] {
			t.Errorf("%s: duplicate container %q", in.Name, c.Name)
		}
		containers[c.Name] = true
		if c.Name == inject.SidecarName {
			sidecars++
		}
		env := map[string]bool{}
		for _, e := range c.Env {
			if env[e.Name] {
				t.Errorf("%s: container %s sets env %s twice", in.Name, c.Name, e.Name)
			}
			env[e.Name] = true
		}
		mounts := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if mounts[m.MountPath] || mounts["name:"+m.Name] {
				t.Errorf("%s: container %s mounts %s twice", in.Name, c.Name, m.Name)
			}
			mounts[m.MountPath], mounts["name:"+m.Name] = true, true
			if (m.Name == inject.CertVolume || m.Name == inject.TmpVolume) != (c.Name == inject.SidecarName) {
				t.Errorf("%s: container %s mounts %s", in.Name, c.Name, m.Name)
			}
		}
		for _, p := range c.Ports {
			if p.Protocol == corev1.ProtocolUDP {
				continue
			}
			if prev, ok := ports[p.ContainerPort]; ok {
				t.Errorf("%s: port %d declared by %s and %s", in.Name, p.ContainerPort, prev, c.Name)
			}
			ports[p.ContainerPort] = c.Name
			if prev, ok := portNames[p.Name]; ok && p.Name != "" {
				t.Errorf("%s: port name %q used by %s and %s", in.Name, p.Name, prev, c.Name)
			}
			portNames[p.Name] = c.Name
		}
	}
	if sidecars != 1 {
		t.Errorf("%s: %d sidecars", in.Name, sidecars)
	}
	vols := map[string]bool{}
	for _, v := range out.Spec.Volumes {
		if vols[v.Name] {
			t.Errorf("%s: duplicate volume %q", in.Name, v.Name)
		}
		vols[v.Name] = true
	}
	checkExposure(t, in, out)
}

// checkExposure: every TCP app port is a listener's AppPort or plaintext
// by the pod's annotations, and named probes still resolve.
func checkExposure(t *testing.T, in, out *corev1.Pod) {
	t.Helper()
	var sc *corev1.Container
	for _, c := range append(append([]corev1.Container{}, out.Spec.InitContainers...), out.Spec.Containers...) {
		if c.Name == inject.SidecarName {
			sc = &c
		}
	}
	cfg, err := sidecar.ParseArgs(sc.Args)
	if err != nil {
		t.Fatalf("%s: sidecar args %q: %v", in.Name, sc.Args, err)
	}
	w, err := space.WorkloadFromPod(in)
	if err != nil {
		t.Fatalf("%s: %v", in.Name, err)
	}
	if len(cfg.Inbound) > 0 {
		checkInterception(t, in, out, w)
		return
	}
	listened := map[int32]bool{}
	for _, l := range cfg.Listeners {
		listened[l.AppPort] = true
	}
	for _, c := range in.Spec.Containers {
		for _, p := range c.Ports {
			if p.Protocol == corev1.ProtocolUDP {
				continue
			}
			plain := listed(w.PlaintextPorts, p) || (w.TLSPorts != nil && !listed(w.TLSPorts, p))
			if listened[p.ContainerPort] == plain {
				t.Errorf("%s: port %+v listened=%v plaintext=%v", in.Name, p, listened[p.ContainerPort], plain)
			}
		}
	}
	for _, c := range out.Spec.Containers {
		for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if pr == nil {
				continue
			}
			for _, name := range []string{portName(pr.HTTPGet, nil), portName(nil, pr.TCPSocket)} {
				if name != "" && !hasPortName(c, name) {
					t.Errorf("%s: container %s probe names missing port %q", in.Name, c.Name, name)
				}
			}
		}
	}
}

var testRanges = intercept.Ranges{
	Pods:     []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
	Services: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")},
	Exclude:  []netip.Prefix{netip.MustParsePrefix("10.96.0.1/32")},
}

// checkInterception: in cni mode ports keep their names and numbers, the
// plan excludes exactly the plaintext ports, and every probe of an
// intercepted port goes to the sidecar's health port.
func checkInterception(t *testing.T, in, out *corev1.Pod, w space.Workload) {
	t.Helper()
	plan, err := intercept.Parse(out.Annotations[space.AnnotationInterception])
	if err != nil {
		t.Fatalf("%s: %v", in.Name, err)
	}
	var plain []int32
	for i, c := range in.Spec.Containers {
		if !reflect.DeepEqual(c.Ports, out.Spec.Containers[i].Ports) {
			t.Errorf("%s: container %s's ports changed in cni mode", in.Name, c.Name)
		}
		for _, p := range c.Ports {
			if p.Protocol != corev1.ProtocolUDP && listed(w.PlaintextPorts, p) && !slices.Contains(plain, p.ContainerPort) {
				plain = append(plain, p.ContainerPort)
			}
		}
	}
	if !slices.Equal(plain, plan.Inbound.Exclude) {
		t.Errorf("%s: plan excludes %v, the pod's plaintext ports are %v", in.Name, plan.Inbound.Exclude, plain)
	}
	for _, c := range out.Spec.Containers {
		for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if pr != nil && pr.TCPSocket != nil && pr.TCPSocket.Host == "" && !slices.Contains(plain, pr.TCPSocket.Port.IntVal) && pr.TCPSocket.Port.Type == intstr.Int {
				t.Errorf("%s: container %s's TCP probe of intercepted port %s not rewritten", in.Name, c.Name, pr.TCPSocket.Port.String())
			}
		}
	}
}

func listed(refs []space.PortRef, p corev1.ContainerPort) bool {
	for _, r := range refs {
		if r.Name != "" && r.Name == p.Name || r.Number == p.ContainerPort {
			return true
		}
	}
	return false
}

func portName(h *corev1.HTTPGetAction, s *corev1.TCPSocketAction) string {
	switch {
	case h != nil:
		return h.Port.StrVal
	case s != nil:
		return s.Port.StrVal
	}
	return ""
}

func hasPortName(c corev1.Container, name string) bool {
	for _, p := range c.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}

func BenchmarkPod(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var pods []*corev1.Pod
	for len(pods) < 256 {
		p := injecttest.RandomPod(r)
		if _, err := inject.Pod(p, injecttest.Space(""), inject.Config{Image: "x"}); err == nil {
			pods = append(pods, p)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, _ = inject.Pod(pods[i%len(pods)], injecttest.Space(""), inject.Config{Image: "x", NativeSidecar: true})
	}
}

package injecttest

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/space"
)

// RandomConfig returns sidecar settings that vary in every field an
// installation can set: image, sidecar mode, user, pull policy, resources.
func RandomConfig(r *rand.Rand) inject.Config {
	cfg := inject.Config{
		Image:         []string{"decco-sidecar:v1", "decco-sidecar:v2", "registry.example.com/decco-sidecar@sha256:ab"}[r.IntN(3)],
		NativeSidecar: r.IntN(2) == 0,
		SidecarUID:    []int64{0, 0, 65000}[r.IntN(3)],
		PullPolicy:    []corev1.PullPolicy{"", corev1.PullAlways, corev1.PullIfNotPresent}[r.IntN(3)],
	}
	if r.IntN(2) == 0 {
		cfg.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse([]string{"10m", "50m"}[r.IntN(2)])}
	}
	if r.IntN(3) == 0 {
		// cni interception, over one of two clusters' ranges.
		cfg.Interception = inject.InterceptCNI
		cfg.Ranges = []intercept.Ranges{
			{Pods: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, Services: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")},
				Exclude: []netip.Prefix{netip.MustParsePrefix("10.96.0.1/32")}},
			{Pods: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00:10::/56")}, Services: []netip.Prefix{netip.MustParsePrefix("fd00:96::/112")}},
		}[r.IntN(2)]
	}
	return cfg
}

// RandomReinjection is what comes back to the webhook for a pod decco
// injected earlier (a manifest rendered by spacectl and committed, a pod
// re-created from an old template): a copy of injected whose decco port
// and egress annotations were drawn again, as a user editing it would, in
// a space whose certificate Secret and runtime class may have changed
// since, under sidecar settings that may have changed too. Each part
// changes independently, so a run of pairs covers every part of the
// injection changing alone and together.
func RandomReinjection(r *rand.Rand, injected *corev1.Pod, sp space.Space, cfg inject.Config) (*corev1.Pod, space.Space, inject.Config) {
	pod := injected.DeepCopy()
	if r.IntN(2) == 0 {
		reannotate(r, pod)
	}
	if r.IntN(3) == 0 {
		sp.TCPCertSecret = []string{"", "byo-tls", "byo-tls-2"}[r.IntN(3)]
	}
	if r.IntN(3) == 0 {
		sp.RuntimeClass = []string{"", "kata", "gvisor"}[r.IntN(3)]
	}
	if r.IntN(2) == 0 {
		cfg = RandomConfig(r)
	}
	return pod, sp, cfg
}

// reannotate replaces pod's decco port, client-verification and egress
// annotations with random ones that refer to its application containers'
// ports (not the sidecar's).
func reannotate(r *rand.Rand, pod *corev1.Pod) {
	g := &gen{r: r}
	for _, c := range pod.Spec.Containers {
		if c.Name != inject.SidecarName {
			g.ports = append(g.ports, c.Ports...)
		}
	}
	maps.DeleteFunc(pod.Annotations, func(k, _ string) bool {
		return strings.HasPrefix(k, space.Prefix) && k != space.AnnotationInjected
	})
	g.annotations(pod)
}

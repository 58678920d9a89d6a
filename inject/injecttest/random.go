// Package injecttest generates random but plausible pods for property and
// scale tests of the injector. Generation is deterministic for a given
// *rand.Rand seed.
package injecttest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/space"
)

// SpaceName is the namespace and space of every generated pod (except the
// few deliberately labeled for another space).
const SpaceName = "tenant"

// Space returns the space generated pods belong to; runtimeClass may be "".
func Space(runtimeClass string) space.Space {
	return space.Space{Name: SpaceName, Domain: "example.com", RuntimeClass: runtimeClass}
}

// RandomSpace returns Space with a RuntimeClass one time in five.
func RandomSpace(r *rand.Rand) space.Space {
	if r.IntN(5) == 0 {
		return Space("kata")
	}
	return Space("")
}

// Port numbers are drawn mostly from common ones, plus a few that provoke
// listener-port collisions (8080 vs 18080, 40000 vs 60000, 5021 vs the
// health port) and random ones.
var commonPorts = []int32{80, 443, 3306, 5432, 5672, 6379, 8080, 8443, 9090, 9100, 3000, 5000, 18080, 5021, 40000, 60000, 65535, 1}

var portNames = []string{"http", "https", "grpc", "metrics", "admin", "web", "db", "amqp", "redis", "", "", ""}

// RandomPod returns a pod of 1-3 containers and 0-2 init containers with
// varied ports (named, unnamed, UDP), probes (by name and number),
// volumes, security contexts and decco annotations, mostly valid.
func RandomPod(r *rand.Rand) *corev1.Pod {
	g := &gen{r: r, usedPorts: map[int32]bool{}, usedNames: map[string]bool{}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Namespace:    SpaceName,
		GenerateName: "web-",
		Labels:       map[string]string{"app": "web"},
		Annotations:  map[string]string{},
	}}
	g.label(pod)
	for i := range 1 + r.IntN(2) + r.IntN(2) {
		pod.Spec.Containers = append(pod.Spec.Containers, g.container("app"+strconv.Itoa(i), r.IntN(4)))
	}
	for i := range r.IntN(3) {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, g.container("init"+strconv.Itoa(i), g.pick(0, 0, 0, 1)))
	}
	g.volumes(pod)
	g.security(pod)
	g.annotations(pod)
	return pod
}

type gen struct {
	r         *rand.Rand
	usedPorts map[int32]bool
	usedNames map[string]bool
	ports     []corev1.ContainerPort // of regular containers
}

func (g *gen) pick(xs ...int) int { return xs[g.r.IntN(len(xs))] }

func (g *gen) chance(n int) bool { return g.r.IntN(n) == 0 }

func (g *gen) label(pod *corev1.Pod) {
	switch {
	case g.chance(40):
		// no label
	case g.chance(60):
		pod.Labels[space.LabelSpace] = "other"
	default:
		pod.Labels[space.LabelSpace] = SpaceName
	}
}

func (g *gen) container(name string, nports int) corev1.Container {
	c := corev1.Container{Name: name, Image: "registry.example.com/" + name + ":1"}
	for range nports {
		c.Ports = append(c.Ports, g.port())
	}
	if !strings.HasPrefix(name, "init") {
		g.ports = append(g.ports, c.Ports...)
		c.LivenessProbe = g.probe(c.Ports)
		c.ReadinessProbe = g.probe(c.Ports)
		if g.chance(4) {
			c.StartupProbe = g.probe(c.Ports)
		}
		if g.chance(6) && len(c.Ports) > 0 {
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
				HTTPGet: &corev1.HTTPGetAction{Path: "/stop", Port: g.portRef(c.Ports)}}}
		}
	}
	return c
}

// port returns a port whose number and name are unique in the pod.
func (g *gen) port() corev1.ContainerPort {
	var n int32
	for n == 0 || g.usedPorts[n] {
		if g.chance(3) {
			n = int32(1 + g.r.IntN(65535))
		} else {
			n = commonPorts[g.r.IntN(len(commonPorts))]
		}
	}
	g.usedPorts[n] = true
	name := portNames[g.r.IntN(len(portNames))]
	if name != "" && g.usedNames[name] {
		name = fmt.Sprintf("p%d", n)
	}
	if g.chance(200) {
		name = "decco-health" // provokes PortConflict
	}
	g.usedNames[name] = true
	p := corev1.ContainerPort{Name: name, ContainerPort: n}
	switch g.r.IntN(10) {
	case 0:
		p.Protocol = corev1.ProtocolUDP
	case 1, 2, 3:
		p.Protocol = corev1.ProtocolTCP
	}
	return p
}

// portRef refers to one of ports, by name when it has one half the time.
func (g *gen) portRef(ports []corev1.ContainerPort) intstr.IntOrString {
	p := ports[g.r.IntN(len(ports))]
	if p.Name != "" && g.chance(2) {
		return intstr.FromString(p.Name)
	}
	return intstr.FromInt32(p.ContainerPort)
}

func (g *gen) probe(ports []corev1.ContainerPort) *corev1.Probe {
	if len(ports) == 0 || g.chance(3) {
		return nil
	}
	pr := &corev1.Probe{PeriodSeconds: int32(g.pick(0, 5, 10))}
	switch g.r.IntN(3) {
	case 0:
		pr.HTTPGet = &corev1.HTTPGetAction{Path: "/healthz", Port: g.portRef(ports)}
	case 1:
		pr.TCPSocket = &corev1.TCPSocketAction{Port: g.portRef(ports)}
	default:
		pr.GRPC = &corev1.GRPCAction{Port: ports[0].ContainerPort}
	}
	return pr
}

func (g *gen) volumes(pod *corev1.Pod) {
	for i := range g.r.IntN(3) {
		name := fmt.Sprintf("vol%d", i)
		if g.chance(150) {
			name = "decco-tmp" // provokes VolumeConflict
		}
		v := corev1.Volume{Name: name}
		if g.chance(2) {
			v.EmptyDir = &corev1.EmptyDirVolumeSource{}
		} else {
			v.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm" + name}}
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, v)
		c := &pod.Spec.Containers[g.r.IntN(len(pod.Spec.Containers))]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: "/data/" + name})
	}
}

func (g *gen) security(pod *corev1.Pod) {
	if g.chance(4) {
		uid := int64(g.pick(1000, 1001, 2000, 2000, 2000, 65532))
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &uid}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		switch g.r.IntN(40) {
		case 0:
			c.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
		case 1, 2, 3:
			uid := int64(3000)
			c.SecurityContext = &corev1.SecurityContext{RunAsUser: &uid,
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}}}
		}
	}
	if g.chance(100) {
		pod.Spec.HostNetwork = true
	}
	if g.chance(10) {
		rc := []string{"kata", "runc"}[g.r.IntN(2)]
		pod.Spec.RuntimeClassName = &rc
	}
}

// annotations sets decco annotations referring to the pod's ports.
func (g *gen) annotations(pod *corev1.Pod) {
	a := pod.Annotations
	if g.chance(20) {
		a[space.AnnotationInject] = "false"
	} else if g.chance(3) {
		a[space.AnnotationInject] = "true"
	}
	refs := g.refs()
	switch {
	case len(refs) >= 2 && g.chance(4):
		a[space.AnnotationTLSPorts] = refs[0]
		a[space.AnnotationPlaintextPorts] = strings.Join(refs[1:], ", ")
	case len(refs) >= 1 && g.chance(4):
		a[space.AnnotationTLSPorts] = strings.Join(refs, ",")
	case len(refs) >= 1 && g.chance(4):
		a[space.AnnotationPlaintextPorts] = refs[0]
	}
	if g.chance(4) {
		a[space.AnnotationVerifyClient] = []string{"true", "false"}[g.r.IntN(2)]
	}
	if g.chance(3) {
		a[space.AnnotationEgress] = g.egress()
	}
	if g.chance(60) {
		a[space.AnnotationEgress] = "13306=db:3306\n[x]" // invalid
	}
}

// refs is a random subset of the regular containers' port refs.
func (g *gen) refs() []string {
	var out []string
	for _, p := range g.ports {
		if p.Protocol == corev1.ProtocolUDP || !g.chance(2) {
			continue
		}
		if p.Name != "" && g.chance(2) {
			out = append(out, p.Name)
		} else {
			out = append(out, strconv.Itoa(int(p.ContainerPort)))
		}
	}
	return out
}

func (g *gen) egress() string {
	var es []string
	for i := range 1 + g.r.IntN(3) {
		es = append(es, fmt.Sprintf("%d=%s:%d", 20000+i*7+g.r.IntN(7),
			[]string{"db.tenant.example.com", "mq", "cache.other.example.com"}[g.r.IntN(3)],
			[]int{3306, 5671, 6380}[g.r.IntN(3)]))
	}
	return strings.Join(es, ",")
}

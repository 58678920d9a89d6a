package inject

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
)

// ListenerPort is the TLS listener port for app port p: p+10000, or
// p-10000 above 55535 so it stays a valid port. The Service rewrite uses
// it too. It is not injective (40000 and 60000 both map to 50000); Pod
// refuses such collisions.
func ListenerPort(p int32) int32 {
	if p <= 55535 {
		return p + 10000
	}
	return p - 10000
}

// appPort is one declared TCP port of a regular (app) container.
type appPort struct {
	container string
	port      corev1.ContainerPort
}

// isTCP: an empty protocol defaults to TCP.
func isTCP(p corev1.ContainerPort) bool {
	return p.Protocol == "" || p.Protocol == corev1.ProtocolTCP
}

func matches(ref space.PortRef, p corev1.ContainerPort) bool {
	if ref.Name != "" {
		return p.Name == ref.Name
	}
	return p.ContainerPort == ref.Number
}

// exposedPorts picks the app ports that get a TLS listener, in container
// and port order, one per port number.
func exposedPorts(pod *corev1.Pod, w space.Workload) ([]appPort, error) {
	if err := checkRefs(pod, space.AnnotationTLSPorts, w.TLSPorts, true); err != nil {
		return nil, err
	}
	if err := checkRefs(pod, space.AnnotationPlaintextPorts, w.PlaintextPorts, false); err != nil {
		return nil, err
	}
	var out []appPort
	seen := map[int32]bool{}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if !isTCP(p) || seen[p.ContainerPort] || !selected(p, w.TLSPorts, w.PlaintextPorts) {
				continue
			}
			if anyMatch(w.TLSPorts, p) && anyMatch(w.PlaintextPorts, p) {
				return nil, refuse(pod, InvalidAnnotation,
					"port %d is selected by both %s and %s; list it in only one of them",
					p.ContainerPort, space.AnnotationTLSPorts, space.AnnotationPlaintextPorts)
			}
			seen[p.ContainerPort] = true
			out = append(out, appPort{container: c.Name, port: p})
		}
	}
	return out, nil
}

// selected: listed in tls (or tls unset) and not listed as plaintext. A
// port in both is caught by the caller with a clearer message.
func selected(p corev1.ContainerPort, tls, plain []space.PortRef) bool {
	if tls != nil {
		return anyMatch(tls, p)
	}
	return !anyMatch(plain, p)
}

func anyMatch(refs []space.PortRef, p corev1.ContainerPort) bool {
	for _, r := range refs {
		if matches(r, p) {
			return true
		}
	}
	return false
}

// checkRefs refuses port-list entries that match no declared port of a
// regular container (a typo would silently change what is exposed), and,
// for tls-ports, entries that match only non-TCP ports.
func checkRefs(pod *corev1.Pod, key string, refs []space.PortRef, tcpOnly bool) error {
	for _, r := range refs {
		found, tcp := false, false
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if matches(r, p) {
					found, tcp = true, tcp || isTCP(p)
				}
			}
		}
		switch {
		case !found:
			return refuse(pod, InvalidAnnotation,
				"%s lists port %s, which no container declares; add it to a container's ports or remove it from %s",
				key, r, key)
		case tcpOnly && !tcp:
			return refuse(pod, InvalidAnnotation,
				"%s lists port %s, which is not a TCP port; TLS listeners are TCP only, so remove it from %s",
				key, r, key)
		}
	}
	return nil
}

// listeners turns exposed ports into sidecar listeners, refusing listener
// ports that collide with anything else in the pod.
func listeners(pod *corev1.Pod, exposed []appPort, egress []sidecar.Egress, w space.Workload) ([]sidecar.Listener, error) {
	declared := declaredTCP(pod)
	local := map[int32]bool{}
	for _, e := range egress {
		local[e.LocalPort] = true
	}
	taken := map[int32]int32{} // listener port -> app port
	out := make([]sidecar.Listener, 0, len(exposed))
	for _, ap := range exposed {
		app := ap.port.ContainerPort
		lp := ListenerPort(app)
		what := ""
		switch {
		case declared[lp] != "":
			what = "container " + strconv.Quote(declared[lp]) + " declares that port"
		case lp == sidecar.HealthPort:
			what = "it is the sidecar's health port"
		case local[lp]:
			what = "a " + space.AnnotationEgress + " entry uses it as local port"
		case taken[lp] != 0:
			what = "port " + strconv.Itoa(int(taken[lp])) + " also maps to it"
		}
		if what != "" {
			return nil, refuse(pod, PortConflict,
				"port %d needs TLS listener port %d, but %s; in this cluster's ports interception a listener takes p+10000, so change one of the ports, or have the platform run decco with cni interception (chart value dataPlane.interception: cni), where TLS is served on every port's own number",
				app, lp, what)
		}
		taken[lp] = app
		out = append(out, sidecar.Listener{Name: listenerName(ap.port), Port: lp, AppPort: app, VerifyClient: verifyClient(w, ap.port)})
	}
	return out, nil
}

// verifyClient decides whether a listener requires a client certificate:
// decco.io/verify-client when given, otherwise yes for TCP ports and no for
// HTTP ones. HTTP services are reached through the gateway, which can't
// present a per-space client certificate, and authenticate users at the
// application level; TCP clients (databases, brokers) get mutual TLS.
func verifyClient(w space.Workload, p corev1.ContainerPort) bool {
	if w.VerifyClientSet {
		return w.VerifyClient
	}
	return !IsHTTPPortName(p.Name)
}

// IsHTTPPortName reports whether a port's name declares HTTP, following the
// common convention: http, http2, https, grpc, grpc-web, or one of those
// followed by "-" and a suffix (http-api, grpc-admin).
func IsHTTPPortName(name string) bool {
	for _, proto := range []string{"http", "http2", "https", "grpc", "grpc-web"} {
		if name == proto || strings.HasPrefix(name, proto+"-") {
			return true
		}
	}
	return false
}

// listenerName: the app port's name moves to the sidecar.
func listenerName(p corev1.ContainerPort) string {
	if p.Name != "" {
		return p.Name
	}
	return "tls-" + strconv.Itoa(int(p.ContainerPort))
}

// renamedAppPort is the name an exposed app port gets once the sidecar has
// taken over its original name.
func renamedAppPort(p int32) string { return appPortPrefix + strconv.Itoa(int(p)) }

// appPortPrefix starts the name of every app port the sidecar took over.
const appPortPrefix = "app-"

// declaredTCP maps every TCP port declared by any container to the first
// container declaring it.
func declaredTCP(pod *corev1.Pod) map[int32]string {
	m := map[int32]string{}
	eachContainer(pod, func(c *corev1.Container) bool {
		for _, p := range c.Ports {
			if isTCP(p) && m[p.ContainerPort] == "" {
				m[p.ContainerPort] = c.Name
			}
		}
		return true
	})
	return m
}

// checkEgressPorts refuses egress local ports and the health port when a
// container declares them: both ends would bind the same port.
func checkEgressPorts(pod *corev1.Pod, egress []sidecar.Egress) error {
	declared := declaredTCP(pod)
	if c := declared[sidecar.HealthPort]; c != "" {
		return refuse(pod, PortConflict,
			"container %q declares port %d, which decco's sidecar uses for health checks; change the container's port",
			c, sidecar.HealthPort)
	}
	for _, e := range egress {
		if c := declared[e.LocalPort]; c != "" {
			return refuse(pod, PortConflict,
				"%s local port %d is also declared by container %q; pick another local port in %s",
				space.AnnotationEgress, e.LocalPort, c, space.AnnotationEgress)
		}
	}
	return nil
}

// checkPortNames refuses a pod where the names the sidecar declares, or the
// app-<port> names given to moved ports, are already used: Services pick
// the first container port with a matching name, so names must be unique
// across the pod.
func checkPortNames(pod *corev1.Pod, ls []sidecar.Listener) error {
	owner := map[string]int32{HealthName: sidecar.HealthPort}
	moved := map[int32]bool{}
	for _, l := range ls {
		if prev, ok := owner[l.Name]; ok {
			return refuse(pod, PortConflict,
				"ports %d and %d are both named %q and would both move to decco's sidecar; give them distinct names",
				prev, l.AppPort, l.Name)
		}
		owner[l.Name] = l.AppPort
		moved[l.AppPort] = true
	}
	for _, l := range ls {
		n := renamedAppPort(l.AppPort)
		if _, ok := owner[n]; ok {
			return refuse(pod, PortConflict,
				"port %d is renamed %q when decco's sidecar takes over its name, but that name is taken by another exposed port; rename that port",
				l.AppPort, n)
		}
		owner[n] = l.AppPort
	}
	for i := range pod.Spec.InitContainers {
		if err := checkNames(pod, &pod.Spec.InitContainers[i], owner, nil); err != nil {
			return err
		}
	}
	for i := range pod.Spec.Containers {
		if err := checkNames(pod, &pod.Spec.Containers[i], owner, moved); err != nil {
			return err
		}
	}
	return nil
}

// checkNames refuses a port of c named like one of decco's; ports that
// decco moves (regular containers only) are renamed, so they are skipped.
func checkNames(pod *corev1.Pod, c *corev1.Container, owner map[string]int32, moved map[int32]bool) error {
	for _, p := range c.Ports {
		if p.Name == "" || isTCP(p) && moved[p.ContainerPort] {
			continue
		}
		if _, ok := owner[p.Name]; ok {
			return refuse(pod, PortConflict,
				"container %q port %d is named %q, a name decco needs for its TLS sidecar; rename the port",
				c.Name, p.ContainerPort, p.Name)
		}
	}
	return nil
}

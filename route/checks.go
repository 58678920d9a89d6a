package route

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/space"
)

// exposedPort is the Service port a route sends traffic to: the first TCP
// port (in the Service's own order) that decco.io/plaintext-ports does not
// keep away from the TLS listener. A hostname maps to one port, so a
// Service with several puts the one to expose first.
//
// A plaintext entry matches the Service port's name or number, or its
// numeric target port, the same way the injector's Service rewrite reads it.
func exposedPort(svc *corev1.Service, plain []space.PortRef) (corev1.ServicePort, bool) {
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		if !isPlaintext(p, plain) {
			return p, true
		}
	}
	return corev1.ServicePort{}, false
}

func isPlaintext(p corev1.ServicePort, plain []space.PortRef) bool {
	for _, r := range plain {
		switch {
		case r.Name != "" && r.Name == p.Name:
			return true
		case r.Number != 0 && r.Number == p.Port:
			return true
		case r.Number != 0 && p.TargetPort.Type == intstr.Int && r.Number == p.TargetPort.IntVal:
			return true
		}
	}
	return false
}

// pathProblem returns what Gateway API's path match validation would
// reject in a path prefix that decco.io/http-path already accepted
// (absolute, safe characters, no ".."), or "". Checking here turns an
// apiserver rejection of the whole route into a Conflict the user can read.
func pathProblem(p string) string {
	switch {
	case strings.Contains(p, "//"):
		return `must not contain "//"`
	case strings.Contains(p, "/./"), strings.HasSuffix(p, "/."):
		return `must not contain a "." path segment`
	}
	return ""
}

// objectName is the name of every object built for a Service.
func objectName(service string) string { return ObjectPrefix + service }

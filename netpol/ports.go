package netpol

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// ListenerPorts returns the TLS listener ports the space's Services
// target, for Input.ListenerPorts: numeric target ports that the Service
// rewrite moved to ListenerPort(original), as recorded in
// decco.io/rewritten-ports, and named target ports not listed (by Service
// port name or number, or by target name) in the Service's
// decco.io/plaintext-ports. Anything else (a plaintext port, a
// port the rewrite has not reached yet, UDP, an app-<port> name or the
// sidecar's health port) stays closed.
//
// Only Services in the space's namespace labeled with the space count. A
// Service whose decco annotations don't parse contributes nothing and is
// named in the returned error; the ports of the other Services are still
// returned, so one broken Service doesn't close the rest.
func ListenerPorts(sp space.Space, services []corev1.Service) ([]intstr.IntOrString, error) {
	var out []intstr.IntOrString
	var errs []error
	for i := range services {
		svc := &services[i]
		if svc.Namespace != sp.Name || svc.Labels[space.LabelSpace] != sp.Name || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		ports, err := serviceListenerPorts(svc)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s/%s: its ports stay closed: %w", svc.Namespace, svc.Name, err))
			continue
		}
		out = append(out, ports...)
	}
	return out, errors.Join(errs...)
}

// serviceListenerPorts applies ListenerPorts' rule to one Service.
func serviceListenerPorts(svc *corev1.Service) ([]intstr.IntOrString, error) {
	exp, err := space.ExposureFromService(svc)
	if err != nil {
		return nil, err
	}
	rec, err := space.ParseRewrittenPorts(svc.Annotations[space.AnnotationRewrittenPorts])
	if err != nil {
		return nil, err
	}
	var out []intstr.IntOrString
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		// The webhook refuses these; a Service stored before it did (or
		// while it was off) must not open them either.
		if inject.ReservedTarget(p.TargetPort) {
			continue
		}
		if p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "" {
			if !plaintext(exp.PlaintextPorts, p, p.TargetPort.StrVal) {
				out = append(out, p.TargetPort)
			}
			continue
		}
		target := p.TargetPort.IntVal
		if target == 0 {
			target = p.Port
		}
		if orig, ok := rec[p.Port]; ok && target == inject.ListenerPort(orig) {
			out = append(out, intstr.FromInt32(target))
		}
	}
	return out, nil
}

// plaintext reports whether the Service lists port p in
// decco.io/plaintext-ports, by the port's name or number or by the name of
// its target.
func plaintext(refs []space.PortRef, p corev1.ServicePort, target string) bool {
	for _, r := range refs {
		if r.Name != "" && (r.Name == p.Name || r.Name == target) || r.Number != 0 && r.Number == p.Port {
			return true
		}
	}
	return false
}

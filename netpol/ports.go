package netpol

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
)

// ListenerPorts returns the TLS listener port numbers the space's Services
// target, for Input.ListenerPorts: numeric target ports that the Service
// rewrite moved to ListenerPort(original), as recorded in
// decco.io/rewritten-ports, and named target ports not listed (by Service
// port name or number, or by target name) in the Service's
// decco.io/plaintext-ports, resolved to numbers through the Service's
// EndpointSlices. Anything else (a plaintext port, a port the rewrite has
// not reached yet, UDP, an app-<port> name or the sidecar's health
// port) stays closed.
//
// Names are never returned. A named target port follows the sidecar,
// which takes the name over, and some policy engines resolve a named port
// only on regular containers: the sidecar, a native sidecar, is an init
// container, and they would close it. kube-controller-manager resolves
// names for EndpointSlices (init containers included, since 1.32), so the
// numbers it wrote are the ones the policy lists; only slices it manages
// count, and only numbers a listener can have. A named target with no
// slice yet (no pod selected) stays closed until its pods exist.
//
// Only Services in the space's namespace labeled with the space count. A
// Service whose decco annotations don't parse contributes nothing and is
// named in the returned error; the ports of the other Services are still
// returned, so one broken Service doesn't close the rest.
func ListenerPorts(sp space.Space, services []corev1.Service, slices []discoveryv1.EndpointSlice) ([]intstr.IntOrString, error) {
	return spacePorts(sp, services, resolvedPorts(sp.Name, slices, minListenerPort), serviceListenerPorts)
}

// TransparentPorts is ListenerPorts for cni interception, where the
// sidecar serves TLS on the ports' own numbers (Services are not
// rewritten): every TCP target port of the space's Services, numeric or
// resolved from a name through the EndpointSlices, unless the Service
// lists it in decco.io/plaintext-ports or it is the sidecar's health port.
// On an injected pod every such port is a TLS listener, so plaintext never
// reaches an app through it.
func TransparentPorts(sp space.Space, services []corev1.Service, slices []discoveryv1.EndpointSlice) ([]intstr.IntOrString, error) {
	return spacePorts(sp, services, resolvedPorts(sp.Name, slices, 1), serviceTransparentPorts)
}

// portsOfService is the TLS ports of one Service's ports, in one
// interception mode (serviceListenerPorts, serviceTransparentPorts); named
// says what a named target port opens.
type portsOfService func(svc *corev1.Service, named func(corev1.ServicePort) []intstr.IntOrString) ([]intstr.IntOrString, error)

func spacePorts(sp space.Space, services []corev1.Service, resolved map[string]portNumbers, of portsOfService) ([]intstr.IntOrString, error) {
	var out []intstr.IntOrString
	var errs []error
	for i := range services {
		svc := &services[i]
		if svc.Namespace != sp.Name || svc.Labels[space.LabelSpace] != sp.Name || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		ports, err := of(svc, resolved[svc.Name].numbers)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s/%s: its ports stay closed: %w", svc.Namespace, svc.Name, err))
			continue
		}
		out = append(out, ports...)
	}
	return out, errors.Join(errs...)
}

// minListenerPort is the lowest port a TLS listener can have
// (inject.ListenerPort of port 1).
var minListenerPort = inject.ListenerPort(1)

// portNumbers are the numbers a Service's named target ports resolved to,
// by Service port name.
type portNumbers map[string][]int32

// resolvedPorts reads the EndpointSlices kube-controller-manager keeps for
// namespace ns's Services: Service name -> Service port name -> the TCP
// numbers its named target resolved to on the selected pods.
func resolvedPorts(ns string, slices []discoveryv1.EndpointSlice, minPort int32) map[string]portNumbers {
	out := map[string]portNumbers{}
	for _, sl := range slices {
		svc := sl.Labels[discoveryv1.LabelServiceName]
		if sl.Namespace != ns || svc == "" || sl.Labels[discoveryv1.LabelManagedBy] != EndpointSliceController {
			continue
		}
		for _, p := range sl.Ports {
			if p.Port == nil || (p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP) || *p.Port < minPort {
				continue
			}
			if out[svc] == nil {
				out[svc] = portNumbers{}
			}
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			out[svc][name] = append(out[svc][name], *p.Port)
		}
	}
	return out
}

// EndpointSliceController is the managed-by label value of the
// EndpointSlices kube-controller-manager writes for Services with a
// selector, the only slices ListenerPorts trusts.
const EndpointSliceController = "endpointslice-controller.k8s.io"

// numbers is how ListenerPorts opens a named target: by the numbers the
// Service's EndpointSlices resolved it to.
func (n portNumbers) numbers(p corev1.ServicePort) []intstr.IntOrString {
	var out []intstr.IntOrString
	for _, num := range n[p.Name] {
		out = append(out, intstr.FromInt32(num))
	}
	return out
}

// asNamed keeps a named target as its name.
func asNamed(p corev1.ServicePort) []intstr.IntOrString { return []intstr.IntOrString{p.TargetPort} }

// serviceListenerPorts applies ListenerPorts' rule to one Service; named
// says what a named target port that isn't plaintext opens.
func serviceListenerPorts(svc *corev1.Service, named func(corev1.ServicePort) []intstr.IntOrString) ([]intstr.IntOrString, error) {
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
				out = append(out, named(p)...)
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

// serviceTransparentPorts applies TransparentPorts' rule to one Service.
func serviceTransparentPorts(svc *corev1.Service, named func(corev1.ServicePort) []intstr.IntOrString) ([]intstr.IntOrString, error) {
	exp, err := space.ExposureFromService(svc)
	if err != nil {
		return nil, err
	}
	var out []intstr.IntOrString
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP || inject.ReservedTarget(p.TargetPort) {
			continue
		}
		if p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "" {
			if !plaintext(exp.PlaintextPorts, p, p.TargetPort.StrVal) {
				for _, n := range named(p) {
					if !inject.ReservedTarget(n) {
						out = append(out, n)
					}
				}
			}
			continue
		}
		target := p.TargetPort.IntVal
		if target == 0 {
			target = p.Port
		}
		if !plaintext(exp.PlaintextPorts, p, "") && !inject.ReservedTarget(intstr.FromInt32(target)) {
			out = append(out, intstr.FromInt32(target))
		}
	}
	return out, nil
}

package inject

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
)

// deccoServiceKeys are the annotations on a Service that only decco
// writes. A user's value is never trusted: see TrustedService.
var deccoServiceKeys = []string{space.AnnotationRewrittenPorts, space.AnnotationInjected, space.AnnotationStatus}

// TrustedService returns svc with the annotations only decco writes taken
// from old, the Service as stored, instead of from the request: on create
// (old nil), or when old was not in svc's space (so decco never rewrote
// it), they are removed. Otherwise a hand-written decco.io/rewritten-ports
// would make Service leave a target alone ("already rewritten") and the
// listener policy open it. It never modifies svc or old.
func TrustedService(svc, old *corev1.Service) *corev1.Service {
	out := svc.DeepCopy()
	trustOld := old != nil && old.Labels[space.LabelSpace] != "" && old.Labels[space.LabelSpace] == svc.Labels[space.LabelSpace]
	for _, k := range deccoServiceKeys {
		v, ok := "", false
		if trustOld {
			v, ok = old.Annotations[k]
		}
		if !ok {
			delete(out.Annotations, k)
			continue
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[k] = v
	}
	return out
}

// ReservedTarget reports whether a Service target port would reach what
// decco keeps from other pods: an app port the sidecar took over (named
// app-<port>), or the sidecar's health port, by name or number.
func ReservedTarget(target intstr.IntOrString) bool {
	if target.Type == intstr.String {
		return strings.HasPrefix(target.StrVal, appPortPrefix) || target.StrVal == HealthName
	}
	return target.IntVal == sidecar.HealthPort
}

// Service points a space's Service at the TLS listeners: every TCP port
// with a numeric (or absent, meaning = port) targetPort n gets targetPort
// ListenerPort(n), unless the port is listed in the Service's
// decco.io/plaintext-ports (matched against the Service port's name or
// number, or the target port's number). Named targetPorts are left alone:
// the sidecar took over the names. It returns svc itself and false when
// nothing changes (no space label, ExternalName, nothing to rewrite); it
// never modifies svc.
//
// Idempotence: a rewritten targetPort can't be told from a user's own
// targetPort by looking at it, so the rewrite records "port=originalTarget"
// in decco.io/rewritten-ports. A port whose targetPort still equals
// ListenerPort(original) is left as is; if the user has since changed it,
// the new value is taken as the app port and rewritten again; a port that
// became plaintext gets its original target back.
func Service(svc *corev1.Service) (*corev1.Service, bool, error) {
	if _, ok := svc.Labels[space.LabelSpace]; !ok || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return svc, false, nil
	}
	exp, err := space.ExposureFromService(svc)
	if err != nil {
		return nil, false, err
	}
	if svc.Namespace != "" && exp.Space != svc.Namespace {
		return nil, false, fmt.Errorf("service %s/%s: label %s is %q; set it to %q (a Service can only join its own namespace's space)",
			svc.Namespace, svc.Name, space.LabelSpace, exp.Space, svc.Namespace)
	}
	oldRec, had := svc.Annotations[space.AnnotationRewrittenPorts]
	rec, err := space.ParseRewrittenPorts(oldRec)
	if err != nil {
		return nil, false, fmt.Errorf("service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	out := svc.DeepCopy()
	newRec := map[int32]int32{}
	changed := false
	for i := range out.Spec.Ports {
		changed = rewriteServicePort(&out.Spec.Ports[i], rec, newRec, exp.PlaintextPorts) || changed
	}
	if s := space.FormatRewrittenPorts(newRec); s != oldRec || (had && s == "") {
		changed = true
		setRecord(out, s)
	}
	if err := checkTargets(out); err != nil {
		return nil, false, err
	}
	if !changed {
		return svc, false, nil
	}
	return out, true, nil
}

// checkTargets refuses a Service whose TCP ports, once rewritten, target
// a plaintext app port by its app-<port> name or the sidecar's health port.
func checkTargets(svc *corev1.Service) error {
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP || !ReservedTarget(p.TargetPort) {
			continue
		}
		what := fmt.Sprintf("the application's plaintext port %q, which decco keeps from other pods", p.TargetPort.StrVal)
		if p.TargetPort.Type == intstr.Int || p.TargetPort.StrVal == HealthName {
			what = fmt.Sprintf("decco's health port %s", p.TargetPort.String())
		}
		return fmt.Errorf("service %s/%s: port %d targets %s; set targetPort to the port's own name or number (decco points it at the TLS listener)",
			svc.Namespace, svc.Name, p.Port, what)
	}
	return nil
}

// rewriteServicePort rewrites one port, recording it in newRec; it
// reports whether the port changed.
func rewriteServicePort(p *corev1.ServicePort, rec, newRec map[int32]int32, plain []space.PortRef) bool {
	if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
		return false
	}
	if p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "" {
		return false
	}
	cur := p.TargetPort.IntVal
	if cur == 0 {
		cur = p.Port
	}
	app := cur
	orig, ok := rec[p.Port]
	rewritten := ok && cur == ListenerPort(orig)
	if rewritten {
		app = orig // keep the original as the app port
	}
	want := ListenerPort(app)
	if plaintextServicePort(plain, p, app) {
		if !rewritten {
			return false // never touched: leave an absent targetPort absent
		}
		want = app
	} else {
		newRec[p.Port] = app
	}
	if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == want {
		return false
	}
	p.TargetPort = intstr.FromInt32(want)
	return true
}

func plaintextServicePort(refs []space.PortRef, p *corev1.ServicePort, app int32) bool {
	for _, r := range refs {
		if r.Name != "" && r.Name == p.Name || r.Number != 0 && (r.Number == p.Port || r.Number == app) {
			return true
		}
	}
	return false
}

func setRecord(svc *corev1.Service, s string) {
	if s == "" {
		delete(svc.Annotations, space.AnnotationRewrittenPorts)
		return
	}
	if svc.Annotations == nil {
		svc.Annotations = map[string]string{}
	}
	svc.Annotations[space.AnnotationRewrittenPorts] = s
}

// RestoreService undoes Service's rewrite, for cni interception, where the
// sidecar serves TLS on the target ports themselves: a Service rewritten
// while the cluster ran ports interception still targets ListenerPort(p),
// where nothing listens any more. Every port whose target is still the
// one decco.io/rewritten-ports recorded gets its original target back; a
// target the user changed since is the user's and stays. The record goes
// either way. It returns svc itself and false when there was no record;
// it never modifies svc.
func RestoreService(svc *corev1.Service) (*corev1.Service, bool, error) {
	v, had := svc.Annotations[space.AnnotationRewrittenPorts]
	if !had {
		return svc, false, nil
	}
	rec, err := space.ParseRewrittenPorts(v)
	if err != nil {
		return nil, false, fmt.Errorf("service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	out := svc.DeepCopy()
	for i := range out.Spec.Ports {
		p := &out.Spec.Ports[i]
		if orig, ok := rec[p.Port]; ok && p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == ListenerPort(orig) {
			p.TargetPort = intstr.FromInt32(orig)
		}
	}
	setRecord(out, "")
	return out, true, nil
}

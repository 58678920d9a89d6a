package space

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/decco-dev/decco/sidecar"
)

// WorkloadFromPod parses a Pod's (or a Pod template's ObjectMeta's) decco
// label and annotations. It returns ErrNotASpace without the space label.
//
// Values here end up in the sidecar's arguments and from there in stunnel's
// configuration file, so the grammar is strict: a list is comma-separated
// tokens with optional spaces or tabs around the commas, and anything else
// (newlines, spaces inside a token, ';', '[', non-ASCII, empty entries) is
// refused rather than cleaned up.
//
// An opted-out pod (decco.io/inject: "false") gets OptOut and nothing else:
// its other decco annotations are not read, so they are not validated.
//
// On error the returned Workload still carries Space, so a caller can tell
// a pod of the wrong space from one with a bad annotation.
func WorkloadFromPod(obj metav1.Object) (Workload, error) {
	label, ok := obj.GetLabels()[LabelSpace]
	if !ok {
		return Workload{}, fmt.Errorf("pod %s: %w", objName(obj), ErrNotASpace)
	}
	w := Workload{Space: label, VerifyClient: true}
	ann := obj.GetAnnotations()
	var errs fieldErrs
	w.OptOut = !parseBool(&errs, ann, AnnotationInject, true)
	if w.OptOut {
		return w, nil
	}
	w.TLSPorts = portsAnnotation(&errs, ann, AnnotationTLSPorts)
	w.PlaintextPorts = portsAnnotation(&errs, ann, AnnotationPlaintextPorts)
	for _, p := range w.PlaintextPorts {
		if slices.Contains(w.TLSPorts, p) {
			errs.add(AnnotationPlaintextPorts, ann[AnnotationPlaintextPorts],
				fmt.Sprintf("port %s is also listed in %s", p, AnnotationTLSPorts),
				"list each port in only one of the two annotations")
		}
	}
	w.VerifyClient = parseBool(&errs, ann, AnnotationVerifyClient, true)
	_, w.VerifyClientSet = ann[AnnotationVerifyClient]
	if v, ok := ann[AnnotationEgress]; ok {
		eg, err := ParseEgress(v)
		if err != nil {
			errs = append(errs, err)
		}
		w.Egress = eg
	}
	if err := errs.err(); err != nil {
		return Workload{Space: label}, fmt.Errorf("pod %s: %w", objName(obj), err)
	}
	return w, nil
}

// ExposureFromService parses a Service's decco label and annotations. It
// returns ErrNotASpace without the space label.
func ExposureFromService(obj metav1.Object) (Exposure, error) {
	label, ok := obj.GetLabels()[LabelSpace]
	if !ok {
		return Exposure{}, fmt.Errorf("service %s: %w", objName(obj), ErrNotASpace)
	}
	e := Exposure{Space: label}
	ann := obj.GetAnnotations()
	var errs fieldErrs
	if v, ok := ann[AnnotationHTTPPath]; ok {
		if problem := checkHTTPPath(v); problem != "" {
			errs.add(AnnotationHTTPPath, v, problem,
				"write an absolute URL path prefix such as /api, or remove the annotation to expose a TCP service")
		} else {
			e.HTTPPath = v
		}
	}
	e.DNS = parseBool(&errs, ann, AnnotationDNS, false)
	e.PlaintextPorts = portsAnnotation(&errs, ann, AnnotationPlaintextPorts)
	if err := errs.err(); err != nil {
		return Exposure{Space: label}, fmt.Errorf("service %s: %w", objName(obj), err)
	}
	return e, nil
}

// maxHTTPPath bounds decco.io/http-path; routes are prefixes, not documents.
const maxHTTPPath = 256

// checkHTTPPath returns what is wrong with an HTTP path prefix, or "".
func checkHTTPPath(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return `must start with "/"`
	case len(p) > maxHTTPPath:
		return fmt.Sprintf("must be at most %d characters", maxHTTPPath)
	case strings.Contains(p, ".."):
		return `must not contain ".."`
	}
	for i := 0; i < len(p); i++ {
		if !isPathChar(p[i]) {
			return fmt.Sprintf("must contain only letters, digits and / . _ ~ - (found %q)", p[i])
		}
	}
	return ""
}

func isPathChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '/' || c == '.' || c == '_' || c == '~' || c == '-'
}

// String renders a PortRef as the user wrote it: a name or a number.
func (p PortRef) String() string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Number))
}

// portsAnnotation parses an optional port-list annotation.
func portsAnnotation(errs *fieldErrs, ann map[string]string, key string) []PortRef {
	v, ok := ann[key]
	if !ok {
		return nil
	}
	refs, err := parsePortList(key, v)
	if err != nil {
		*errs = append(*errs, err)
		return nil
	}
	return refs
}

// parsePortList parses a port list as in decco.io/tls-ports:
// comma-separated container port names or numbers. key only labels the
// error.
func parsePortList(key, v string) ([]PortRef, error) {
	const fix = "write comma-separated container port names or numbers, e.g. http,8443"
	toks, problem := splitList(v)
	if problem != "" {
		return nil, &FieldError{Key: key, Value: v, Problem: problem, Fix: fix}
	}
	refs := make([]PortRef, 0, len(toks))
	for _, t := range toks {
		ref, ok := parsePortRef(t)
		if !ok {
			return nil, &FieldError{Key: key, Value: v, Fix: fix,
				Problem: fmt.Sprintf("entry %q is neither a port number (1-65535) nor a port name (lowercase letters, digits and '-', at most 15 characters)", t)}
		}
		if slices.Contains(refs, ref) {
			return nil, &FieldError{Key: key, Value: v, Fix: "list each port once",
				Problem: fmt.Sprintf("port %s is listed twice", t)}
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// parsePortRef reads a canonical port number or a valid port name.
func parsePortRef(t string) (PortRef, bool) {
	if n, ok := parsePortNumber(t); ok {
		return PortRef{Number: n}, true
	}
	if isDigits(t) || len(validation.IsValidPortName(t)) > 0 {
		return PortRef{}, false
	}
	return PortRef{Name: t}, true
}

// splitList splits on commas and trims spaces and tabs around each entry.
// It refuses empty lists and entries; other characters are the caller's to
// check.
func splitList(v string) ([]string, string) {
	if v == "" {
		return nil, "is empty"
	}
	toks := strings.Split(v, ",")
	for i, t := range toks {
		toks[i] = strings.Trim(t, " \t")
		if toks[i] == "" {
			return nil, fmt.Sprintf("entry %d is empty", i+1)
		}
	}
	return toks, ""
}

// parsePortNumber accepts only canonical decimals 1-65535: no sign, no
// leading zero, so the value reads back identically from the sidecar's
// arguments.
func parsePortNumber(s string) (int32, bool) {
	if !isDigits(s) || s[0] == '0' || len(s) > 5 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || len(validation.IsValidPortNum(n)) > 0 {
		return 0, false
	}
	return int32(n), true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseEgress parses decco.io/egress: comma-separated localPort=host:port
// entries, host a lowercase DNS name, ports 1-65535, local ports unique and
// not the sidecar's health port.
func ParseEgress(v string) ([]sidecar.Egress, error) {
	toks, problem := splitList(v)
	if problem != "" {
		return nil, egressErr(v, problem)
	}
	out := make([]sidecar.Egress, 0, len(toks))
	for _, t := range toks {
		e, problem := parseEgressEntry(t)
		if problem != "" {
			return nil, egressErr(v, problem)
		}
		for _, prev := range out {
			if prev.LocalPort == e.LocalPort {
				return nil, egressErr(v, fmt.Sprintf("local port %d is used by two entries", e.LocalPort))
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func egressErr(v, problem string) error {
	return &FieldError{Key: AnnotationEgress, Value: v, Problem: problem,
		Fix: "write comma-separated localPort=host:port entries, e.g. 13306=mysql.team-a.example.com:3306"}
}

// parseEgressEntry parses one localPort=host:port; it returns a problem
// description instead of an error so the caller can quote the whole value.
func parseEgressEntry(t string) (sidecar.Egress, string) {
	local, dest, ok := strings.Cut(t, "=")
	host, port, ok2 := strings.Cut(dest, ":")
	if !ok || !ok2 {
		return sidecar.Egress{}, fmt.Sprintf("entry %q is not localPort=host:port", t)
	}
	lp, ok := parsePortNumber(local)
	if !ok {
		return sidecar.Egress{}, fmt.Sprintf("entry %q: local port %q is not a number from 1 to 65535", t, local)
	}
	if lp == sidecar.HealthPort {
		return sidecar.Egress{}, fmt.Sprintf("entry %q: local port %d is reserved for the sidecar's health checks", t, lp)
	}
	if !IsDNSName(host) {
		return sidecar.Egress{}, fmt.Sprintf("entry %q: host %q is not a lowercase DNS name", t, host)
	}
	p, ok := parsePortNumber(port)
	if !ok {
		return sidecar.Egress{}, fmt.Sprintf("entry %q: port %q is not a number from 1 to 65535", t, port)
	}
	return sidecar.Egress{LocalPort: lp, Host: host, Port: p}, ""
}

// ObjectName names an object for messages: namespace/name, or
// namespace/generateName* for one not named yet (every Deployment pod at
// admission).
func ObjectName(obj metav1.Object) string {
	n := obj.GetName()
	if n == "" && obj.GetGenerateName() != "" {
		n = obj.GetGenerateName() + "*"
	}
	if ns := obj.GetNamespace(); ns != "" {
		n = ns + "/" + n
	}
	return n
}

func objName(obj metav1.Object) string { return strconv.Quote(ObjectName(obj)) }

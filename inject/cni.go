package inject

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/space"
)

// Interception is how the sidecar receives a pod's traffic, chosen per
// cluster (docs/design.md, "Carrying ports").
type Interception string

// Interception modes.
const (
	// InterceptPorts (the default): a TLS listener on ListenerPort(p) for
	// each declared port, the app's port renamed, Services rewritten. Needs
	// nothing on the nodes.
	InterceptPorts Interception = "ports"
	// InterceptCNI: the node's decco-cni plugin redirects every TCP
	// connection to the pod, and the app's connections to the cluster, to
	// the sidecar, which serves TLS on the ports' own numbers. Ports,
	// names and Services stay as written.
	InterceptCNI Interception = "cni"
)

// ParseInterception reads a --interception value.
func ParseInterception(s string) (Interception, error) {
	switch Interception(s) {
	case "", InterceptPorts:
		return InterceptPorts, nil
	case InterceptCNI:
		return InterceptCNI, nil
	}
	return "", fmt.Errorf("interception %q: want cni (the node runs decco-cni) or ports (nothing installed on nodes)", s)
}

// InjectedMode is the data plane decco injected pod for, as its marks
// say: InterceptCNI for a pod labeled decco.io/interception=cni,
// InterceptPorts for any other pod labeled decco.io/injected; false when
// decco did not inject it. Each mode's listener NetworkPolicy opens only
// its own pods.
func InjectedMode(pod *corev1.Pod) (Interception, bool) {
	if pod.Labels[space.LabelInjected] != "true" {
		return "", false
	}
	if pod.Labels[space.LabelInterception] == string(InterceptCNI) {
		return InterceptCNI, true
	}
	return InterceptPorts, true
}

// sidecarPorts are the ports the sidecar owns in cni mode; no container
// may declare them.
var sidecarPorts = []int32{sidecar.OutboundPort, sidecar.InboundPort, sidecar.InboundHTTPPort, sidecar.CheckPort, sidecar.HealthPort}

// makeCNIPlan is makePlan for cni mode: every pod of the space gets the
// sidecar, client-only pods included, since every TCP port is served over
// TLS whether declared or not, and every connection out to the cluster is
// mutual TLS.
func makeCNIPlan(pod *corev1.Pod, w space.Workload, sp space.Space, cfg Config) (*plan, error) {
	exposed, err := exposedPorts(pod, w)
	if err != nil {
		return nil, err
	}
	p := &plan{cfg: cfg, secret: sp.WorkloadCertSecret(), cni: true}
	p.egress = w.Egress
	if err := checkSidecarPorts(pod, p.egress); err != nil {
		return nil, err
	}
	if err := checkEgressPorts(pod, p.egress); err != nil {
		return nil, err
	}
	if err := checkPortNames(pod, nil); err != nil {
		return nil, err
	}
	ip := interceptionPlan(pod, w, exposed, cfg)
	p.interception, p.plaintext = ip.Encode(), ip.Inbound.Exclude
	sc := sidecar.Config{CertDir: sidecar.CertDir, HealthPort: sidecar.HealthPort, Egress: p.egress,
		OutboundPort: ip.Outbound.Port, CheckPort: ip.CheckPort}
	sc.Inbound = []sidecar.Inbound{{Port: ip.Inbound.Port, VerifyClient: !w.VerifyClientSet || w.VerifyClient}}
	if ip.Inbound.HTTPPort != 0 {
		sc.Inbound = append(sc.Inbound, sidecar.Inbound{Port: ip.Inbound.HTTPPort})
	}
	p.args = sc.Args()
	p.hash = p.digest()
	return p, nil
}

// interceptionPlan is the plan the CNI plugin applies: every TCP port but
// the sidecar's and decco.io/plaintext-ports inbound; HTTP-named declared
// ports to the listener without client certificates (unless
// decco.io/verify-client decides for all); the cluster's ranges outbound.
func interceptionPlan(pod *corev1.Pod, w space.Workload, exposed []appPort, cfg Config) intercept.Plan {
	ip := intercept.Plan{
		Version:    intercept.Version,
		SidecarUID: cfg.uid(),
		Inbound:    intercept.Inbound{Port: sidecar.InboundPort, Exclude: plaintextPorts(pod, w)},
		Outbound: intercept.Outbound{Port: sidecar.OutboundPort,
			CIDRs:        slices.Concat(cfg.Ranges.Pods, cfg.Ranges.Services),
			ExcludeCIDRs: slices.Clone(cfg.Ranges.Exclude)},
		CheckPort:  sidecar.CheckPort,
		HealthPort: sidecar.HealthPort,
	}
	if !w.VerifyClientSet {
		for _, ap := range exposed {
			if IsHTTPPortName(ap.port.Name) {
				ip.Inbound.HTTPPorts = append(ip.Inbound.HTTPPorts, ap.port.ContainerPort)
			}
		}
	}
	if len(ip.Inbound.HTTPPorts) > 0 {
		ip.Inbound.HTTPPort = sidecar.InboundHTTPPort
	}
	return ip
}

// plaintextPorts are the numbers of the declared TCP ports that
// decco.io/plaintext-ports selects (checked by exposedPorts already).
func plaintextPorts(pod *corev1.Pod, w space.Workload) []int32 {
	var out []int32
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if isTCP(p) && anyMatch(w.PlaintextPorts, p) && !slices.Contains(out, p.ContainerPort) {
				out = append(out, p.ContainerPort)
			}
		}
	}
	return out
}

// checkSidecarPorts refuses containers and egress entries using a port the
// sidecar owns in cni mode.
func checkSidecarPorts(pod *corev1.Pod, egress []sidecar.Egress) error {
	declared := declaredTCP(pod)
	for _, port := range sidecarPorts {
		if c := declared[port]; c != "" {
			return refuse(pod, PortConflict,
				"container %q declares port %d, which decco's sidecar uses (ports %s are its own); change the container's port",
				c, port, portList(sidecarPorts))
		}
		for _, e := range egress {
			if e.LocalPort == port {
				return refuse(pod, PortConflict,
					"%s local port %d is one of decco's sidecar's own ports (%s); pick another local port",
					space.AnnotationEgress, port, portList(sidecarPorts))
			}
		}
	}
	return nil
}

func portList(ports []int32) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ", ")
}

// rewriteProbes points the app containers' HTTP, TCP and gRPC probes at
// the sidecar's health port, which repeats them against the app on
// loopback (sidecar.AppHealthPrefix); a gRPC probe becomes an HTTP one,
// the sidecar making the gRPC health check. Probes of a plaintext port,
// and probes of another host, are left alone: nothing intercepts them.
func rewriteProbes(pod *corev1.Pod, plaintext []int32) {
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if pr != nil {
				rewriteProbe(c, pr, plaintext)
			}
		}
	}
}

func rewriteProbe(c *corev1.Container, pr *corev1.Probe, plaintext []int32) {
	switch {
	case pr.HTTPGet != nil && pr.HTTPGet.Host == "":
		port, ok := resolvePort(c, pr.HTTPGet.Port)
		if !ok || slices.Contains(plaintext, port) {
			return
		}
		scheme := sidecar.ProbeHTTP
		if pr.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = sidecar.ProbeHTTPS
		}
		pr.HTTPGet = &corev1.HTTPGetAction{Path: sidecar.AppHealthPath(scheme, port, pr.HTTPGet.Path),
			Port: intstr.FromInt32(sidecar.HealthPort), Scheme: corev1.URISchemeHTTP, HTTPHeaders: pr.HTTPGet.HTTPHeaders}
	case pr.TCPSocket != nil && pr.TCPSocket.Host == "":
		port, ok := resolvePort(c, pr.TCPSocket.Port)
		if !ok || slices.Contains(plaintext, port) {
			return
		}
		pr.TCPSocket = nil
		pr.HTTPGet = &corev1.HTTPGetAction{Path: sidecar.AppHealthPath(sidecar.ProbeTCP, port, ""),
			Port: intstr.FromInt32(sidecar.HealthPort), Scheme: corev1.URISchemeHTTP}
	case pr.GRPC != nil:
		if slices.Contains(plaintext, pr.GRPC.Port) {
			return
		}
		service := ""
		if pr.GRPC.Service != nil {
			service = *pr.GRPC.Service
		}
		pr.HTTPGet = &corev1.HTTPGetAction{Path: sidecar.AppHealthPath(sidecar.ProbeGRPC, pr.GRPC.Port, service),
			Port: intstr.FromInt32(sidecar.HealthPort), Scheme: corev1.URISchemeHTTP}
		pr.GRPC = nil
	}
}

// resolvePort is a probe's port as a number, as the kubelet resolves it
// (a name against the container's own ports).
func resolvePort(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	if p.Type == intstr.Int {
		return p.IntVal, p.IntVal > 0
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// restoreProbes undoes rewriteProbes (for reinjection): a probe of the
// sidecar's app-health path becomes the probe of the app's port again, by
// number.
func restoreProbes(pod *corev1.Pod) {
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for _, pr := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Port != intstr.FromInt32(sidecar.HealthPort) {
				continue
			}
			scheme, port, path, ok := sidecar.ParseAppHealthPath(pr.HTTPGet.Path)
			if !ok {
				continue
			}
			switch scheme {
			case sidecar.ProbeTCP:
				pr.HTTPGet, pr.TCPSocket = nil, &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}
				continue
			case sidecar.ProbeGRPC:
				pr.HTTPGet, pr.GRPC = nil, &corev1.GRPCAction{Port: port}
				if service := strings.TrimPrefix(path, "/"); service != "" {
					pr.GRPC.Service = &service
				}
				continue
			}
			h := &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(port), Scheme: corev1.URISchemeHTTP, HTTPHeaders: pr.HTTPGet.HTTPHeaders}
			if scheme == sidecar.ProbeHTTPS {
				h.Scheme = corev1.URISchemeHTTPS
			}
			pr.HTTPGet = h
		}
	}
}

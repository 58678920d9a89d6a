package route

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
)

// Mode selects how routes are expressed.
type Mode string

const (
	// ModeGatewayAPI writes a ListenerSet, HTTPRoutes, TLSRoutes and
	// BackendTLSPolicies (Gateway API standard channel).
	ModeGatewayAPI Mode = "GatewayAPI"
	// ModeGatewayPerSpace writes a Gateway of the space's own (of class
	// Input.GatewayClass) in place of the ListenerSet, for implementations
	// without ListenerSet support; routes are as in ModeGatewayAPI.
	ModeGatewayPerSpace Mode = "GatewayPerSpace"
	// ModeIngress writes networking.k8s.io/v1 Ingresses: HTTP ones for the
	// reverse proxy, SNI-host ones for an SNI router.
	ModeIngress Mode = "Ingress"
)

// GatewayAPI reports whether m writes Gateway API objects.
func (m Mode) GatewayAPI() bool { return m != ModeIngress }

// DefaultPort is the port of the space's listeners when Input.Port is 0.
const DefaultPort = 443

// ObjectPrefix starts the name of every object Objects builds for a
// Service: decco-<service>.
const ObjectPrefix = "decco-"

// ListenerSetName is the name of the space's ListenerSet (ModeGatewayAPI),
// GatewayName that of its Gateway (ModeGatewayPerSpace).
const (
	ListenerSetName = "decco"
	GatewayName     = ListenerSetName
)

// Listener (section) names inside the space's ListenerSet or Gateway.
const (
	ListenerHTTPS = "https"
	ListenerTLS   = "tls"
	// ListenerHTTPSGlobal and ListenerTLSGlobal answer the space's global
	// name (a customer-wide name several regions serve) as ListenerHTTPS
	// and ListenerTLS answer its own.
	ListenerHTTPSGlobal = "https-global"
	ListenerTLSGlobal   = "tls-global"
)

// CABundleConfigMap is the ConfigMap, in the space namespace, holding the
// space CA certificate (key CABundleKey) that BackendTLSPolicies verify pods
// against. The reconciler publishes it from the CA certificate (public data
// only); the route builders only refer to it.
const (
	CABundleConfigMap = "decco-ca-bundle"
	CABundleKey       = "ca.crt"
)

// GatewayRef names the shared Gateway that ListenerSets attach to.
type GatewayRef struct {
	Namespace string
	Name      string
}

// Input is everything Objects needs; it never reads the cluster.
type Input struct {
	// Space is the space whose routes are built.
	Space space.Space
	// Services are the Services of the space's namespace; those not labeled
	// with the space are ignored.
	Services []corev1.Service
	// Mode selects Gateway API objects or Ingresses; empty means
	// ModeGatewayAPI.
	Mode Mode
	// Gateway is the shared Gateway (ModeGatewayAPI).
	Gateway GatewayRef
	// GatewayClass is the class of each space's Gateway
	// (ModeGatewayPerSpace).
	GatewayClass string
	// Port is the port of the space's listeners; 0 means DefaultPort. It
	// must be a port the gateway implementation listens on.
	Port int32
	// IngressClass is the class of HTTP Ingresses; empty means the
	// cluster's default class (ModeIngress).
	IngressClass string
	// SNIIngressClass is the SNI router's class for TCP Ingresses
	// (ModeIngress); without it TCP services are refused, because the
	// default class would serve them as HTTP.
	SNIIngressClass string
	// Claimed maps every hostname held by some space to that space; a
	// hostname held by another space is refused.
	Claimed map[string]string
	// GlobalName is the space's global name while it holds that name in
	// this cluster ("" otherwise): its listeners and routes answer it
	// beside the space's own names, so clients that DNS sends to this
	// region's gateway under the global name reach the space.
	GlobalName string
}

// Reasons for a Conflict, machine readable (CamelCase, as in conditions).
const (
	ReasonHostnameTaken     = "HostnameTaken"
	ReasonDuplicateHostname = "DuplicateHostname"
	ReasonDuplicatePath     = "DuplicatePath"
	ReasonInvalidHostname   = "InvalidHostname"
	ReasonInvalidPath       = "InvalidPath"
	ReasonInvalidService    = "InvalidService"
	ReasonNoPort            = "NoExposablePort"
	ReasonUnsupported       = "UnsupportedService"
	ReasonNotConfigured     = "NotConfigured"
	ReasonNoSelector        = "NoSelector"
	ReasonLimitExceeded     = "LimitExceeded"
	ReasonNestedDomain      = "NestedDomain"
)

// Conflict is one exposure Objects refused to build: a hostname another
// space holds, or a Service it can't route. Objects still builds everything
// else.
type Conflict struct {
	// Hostname is the refused hostname; empty when the Service never got
	// that far (e.g. invalid annotations).
	Hostname string
	// Owner is the space holding Hostname (ReasonHostnameTaken only).
	Owner string
	// Service is the Service whose exposure was refused.
	Service string
	// Reason is one of the Reason* constants.
	Reason string
	// Message says what is wrong and how to fix it, for status and Events.
	Message string
}

// Error returns the message, so a Conflict can be reported as an error.
func (c Conflict) Error() string { return c.Message }

// exposure is one Service the space exposes, checked and ready to build.
type exposure struct {
	service string
	host    string
	path    string // "" for a TCP (SNI) exposure
	port    corev1.ServicePort
}

func (e exposure) http() bool { return e.path != "" }

// hostnames are the names the exposure answers: its own, and under a
// global name the same place in it (the global name for HTTP,
// <service>.<global name> for TCP).
func (e exposure) hostnames(global string) []string {
	if global == "" {
		return []string{e.host}
	}
	if e.http() {
		return []string{e.host, global}
	}
	return []string{e.host, e.service + "." + global}
}

// Objects builds every route object for in.Space, sorted by kind then name,
// and the exposures it refused. Each object carries namespace, name, the
// managed-by and space labels, and its TypeMeta.
func Objects(in Input) ([]client.Object, []Conflict) {
	exps, conflicts := plan(in)
	var objs []client.Object
	switch in.Mode {
	case ModeIngress:
		var more []Conflict
		objs, more = ingressObjects(in, exps)
		conflicts = append(conflicts, more...)
	case ModeGatewayPerSpace:
		if in.GatewayClass == "" {
			return nil, append(conflicts, notConfigured(exps, "no GatewayClass is configured for the spaces' Gateways",
				"set the manager's gateway class, or use a shared Gateway")...)
		}
		objs = gatewayObjects(in, exps)
	default:
		if in.Gateway.Name == "" || in.Gateway.Namespace == "" {
			return nil, append(conflicts, notConfigured(exps, "no Gateway is configured for Gateway API routes",
				"set the manager's gateway name and namespace, or switch to Ingress mode")...)
		}
		objs = gatewayObjects(in, exps)
	}
	slices.SortFunc(objs, func(a, b client.Object) int {
		return cmp.Or(cmp.Compare(a.GetObjectKind().GroupVersionKind().Kind, b.GetObjectKind().GroupVersionKind().Kind),
			cmp.Compare(a.GetName(), b.GetName()))
	})
	return objs, conflicts
}

// Hostnames lists the hostnames the space claims, sorted: <space>.<domain>
// always (it is in DNS whether or not an HTTP service exists), and
// <service>.<space>.<domain> for each valid TCP exposure. The reconciler
// collects them over all spaces to fill Input.Claimed.
func Hostnames(sp space.Space, services []corev1.Service) []string {
	hosts := []string{sp.Host()}
	exps, _ := plan(Input{Space: sp, Services: services})
	for _, e := range exps {
		hosts = append(hosts, e.host)
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// plan checks every Service of the space, in name order, and returns the
// exposures to build and the refused ones. Name order makes "first" in
// duplicate checks deterministic.
func plan(in Input) ([]exposure, []Conflict) {
	sp := in.Space
	svcs := slices.Clone(in.Services)
	slices.SortFunc(svcs, func(a, b corev1.Service) int { return cmp.Compare(a.Name, b.Name) })
	var (
		exps      []exposure
		conflicts []Conflict
		hosts     = map[string]string{} // TCP hostname -> service
		paths     = map[string]string{} // HTTP path -> service
	)
	for i := range svcs {
		svc := &svcs[i]
		if svc.Labels[space.LabelSpace] != sp.Name || (svc.Namespace != "" && svc.Namespace != sp.Name) {
			continue
		}
		e, c := check(sp, svc)
		if c == nil {
			c = checkUnique(e, hosts, paths)
		}
		if c == nil {
			c = checkClaimed(sp, e, in.Claimed)
		}
		if c != nil {
			conflicts = append(conflicts, *c)
			continue
		}
		exps = append(exps, e)
	}
	return exps, conflicts
}

// check turns one Service into an exposure, or says why it can't be one.
func check(sp space.Space, svc *corev1.Service) (exposure, *Conflict) {
	exp, err := space.ExposureFromService(svc)
	if err != nil {
		return exposure{}, &Conflict{Service: svc.Name, Reason: ReasonInvalidService,
			Message: fmt.Sprintf("service %q is not exposed: %v", svc.Name, err)}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return exposure{}, &Conflict{Service: svc.Name, Reason: ReasonUnsupported,
			Message: fmt.Sprintf("service %q is not exposed: an ExternalName service has no pods behind it; remove its %s label", svc.Name, space.LabelSpace)}
	}
	if len(svc.Spec.Selector) == 0 {
		// Its EndpointSlices are written by hand or by some controller and
		// may hold any address in the cluster, another space's pods
		// included: a route would carry Internet traffic there.
		return exposure{}, &Conflict{Service: svc.Name, Reason: ReasonNoSelector,
			Message: fmt.Sprintf("service %q is not exposed: it has no selector, so its endpoints need not be this space's pods; add a selector matching the space's pods", svc.Name)}
	}
	port, ok := exposedPort(svc, exp.PlaintextPorts)
	if !ok {
		return exposure{}, &Conflict{Service: svc.Name, Reason: ReasonNoPort,
			Message: fmt.Sprintf("service %q is not exposed: it has no TCP port outside %s; add a TCP port", svc.Name, space.AnnotationPlaintextPorts)}
	}
	e := exposure{service: svc.Name, port: port, path: exp.HTTPPath}
	if e.http() {
		e.host = sp.Host()
		if problem := pathProblem(e.path); problem != "" {
			return exposure{}, &Conflict{Service: svc.Name, Hostname: e.host, Reason: ReasonInvalidPath,
				Message: fmt.Sprintf("service %q is not exposed: %s %q %s; write a path such as /api", svc.Name, space.AnnotationHTTPPath, e.path, problem)}
		}
		return e, nil
	}
	e.host = sp.ServiceHost(svc.Name)
	if !space.IsDNSName(e.host) {
		return exposure{}, &Conflict{Service: svc.Name, Hostname: e.host, Reason: ReasonInvalidHostname,
			Message: fmt.Sprintf("service %q is not exposed: its hostname %q is not a valid DNS name (at most 253 characters); use a shorter service name", svc.Name, e.host)}
	}
	return e, nil
}

// checkUnique refuses a second TCP exposure of the same hostname or a
// second HTTP exposure of the same path, and records the first.
func checkUnique(e exposure, hosts, paths map[string]string) *Conflict {
	seen, key, what := hosts, e.host, "hostname"
	reason := ReasonDuplicateHostname
	if e.http() {
		seen, key, what, reason = paths, e.path, "path", ReasonDuplicatePath
	}
	if first, dup := seen[key]; dup {
		return &Conflict{Service: e.service, Hostname: e.host, Reason: reason,
			Message: fmt.Sprintf("service %q is not exposed: service %q already uses %s %q; give each service its own", e.service, first, what, key)}
	}
	seen[key] = e.service
	return nil
}

// checkClaimed refuses a hostname another space holds: first come, first
// served, so a new space can't take over a name that is already in use.
func checkClaimed(sp space.Space, e exposure, claimed map[string]string) *Conflict {
	owner := claimed[e.host]
	if owner == "" || owner == sp.Name {
		return nil
	}
	return &Conflict{Service: e.service, Hostname: e.host, Owner: owner, Reason: ReasonHostnameTaken,
		Message: fmt.Sprintf("service %q is not exposed: hostname %q already belongs to space %q; rename the service or move the space to another domain", e.service, e.host, owner)}
}

// notConfigured refuses every exposure when the installation lacks what
// the mode needs.
func notConfigured(exps []exposure, problem, fix string) []Conflict {
	var out []Conflict
	for _, e := range exps {
		out = append(out, Conflict{Service: e.service, Hostname: e.host, Reason: ReasonNotConfigured,
			Message: fmt.Sprintf("service %q is not exposed: %s; %s", e.service, problem, fix)})
	}
	return out
}

package route

import (
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// KindIngress is the kind Ingress mode writes.
const KindIngress = "Ingress"

// Ingress-nginx annotations for decco.io/encrypt-http. Ingress v1 has no
// standard way to ask for TLS to the backend, and the seed's HTTP proxy is
// nginx; other controllers ignore these keys. proxy-ssl-secret names the
// space's workload certificate Secret: nginx verifies the pod against its
// ca.crt and presents its tls.crt as client certificate, so sidecars that
// verify clients accept the proxy.
const (
	AnnotationNginxBackendProtocol = "nginx.ingress.kubernetes.io/backend-protocol"
	AnnotationNginxProxySSLSecret  = "nginx.ingress.kubernetes.io/proxy-ssl-secret"
	AnnotationNginxProxySSLVerify  = "nginx.ingress.kubernetes.io/proxy-ssl-verify"
	AnnotationNginxProxySSLName    = "nginx.ingress.kubernetes.io/proxy-ssl-name"
	AnnotationNginxProxySSLSNI     = "nginx.ingress.kubernetes.io/proxy-ssl-server-name"
)

// AnnotationNginxSSLPassthrough asks an nginx-compatible controller to
// route a TCP service's TLS stream by SNI without opening it; ingress-nginx
// and Traefik's ingress-nginx provider need it on SNI Ingresses, SNI
// routers such as k8sniff ignore it.
const AnnotationNginxSSLPassthrough = "nginx.ingress.kubernetes.io/ssl-passthrough"

// ingressObjects builds one Ingress per exposure: HTTP exposures for the
// reverse proxy's class, TCP ones for the SNI router's class. Without an
// SNI class TCP exposures are refused: the default class is an HTTP proxy
// and would answer those hostnames with HTTP.
func ingressObjects(in Input, exps []exposure) ([]client.Object, []Conflict) {
	var objs []client.Object
	var tcp []exposure
	for _, e := range exps {
		switch {
		case e.http():
			objs = append(objs, httpIngress(in, e))
		case in.SNIIngressClass == "":
			tcp = append(tcp, e)
		default:
			objs = append(objs, sniIngress(in, e))
		}
	}
	return objs, notConfigured(tcp, "no SNI ingress class is configured for TCP services in Ingress mode",
		"set the manager's SNI ingress class (an SNI router such as k8sniff), or use Gateway API mode")
}

// httpIngress routes <space>.<domain><path>... to the Service, terminating
// TLS with the space's HTTP certificate.
func httpIngress(in Input, e exposure) *networkingv1.Ingress {
	sp := in.Space
	ing := ingress(in, e, in.IngressClass, e.path)
	ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: e.hostnames(in.GlobalName), SecretName: sp.HTTPTLSSecret()}}
	// The hop to the pod is TLS too: the sidecar is its only way in.
	ing.Annotations = map[string]string{
		AnnotationNginxBackendProtocol: "HTTPS",
		AnnotationNginxProxySSLSecret:  fmt.Sprintf("%s/%s", sp.Name, sp.WorkloadCertSecret()),
		AnnotationNginxProxySSLVerify:  "on",
		AnnotationNginxProxySSLName:    sp.Host(),
		AnnotationNginxProxySSLSNI:     "on",
	}
	return ing
}

// sniIngress tells the SNI router to forward TLS connections for
// <service>.<space>.<domain> to the Service. It has no TLS section: the
// router never terminates TLS, the sidecar does.
func sniIngress(in Input, e exposure) *networkingv1.Ingress {
	ing := ingress(in, e, in.SNIIngressClass, "/")
	ing.Annotations = map[string]string{AnnotationNginxSSLPassthrough: "true"}
	return ing
}

// ingress is one host rule per name the exposure answers, each with one
// prefix path to the exposure's Service.
func ingress(in Input, e exposure, class, path string) *networkingv1.Ingress {
	backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: e.service,
		Port: networkingv1.ServiceBackendPort{Number: e.port.Port},
	}}
	var rules []networkingv1.IngressRule
	for _, host := range e.hostnames(in.GlobalName) {
		rules = append(rules, networkingv1.IngressRule{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: path, PathType: ptr.To(networkingv1.PathTypePrefix), Backend: backend}},
			}},
		})
	}
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: networkingv1.SchemeGroupVersion.String(), Kind: KindIngress},
		ObjectMeta: in.Space.ObjectMeta(objectName(e.service)),
		Spec:       networkingv1.IngressSpec{Rules: rules},
	}
	if class != "" {
		ing.Spec.IngressClassName = ptr.To(class)
	}
	return ing
}

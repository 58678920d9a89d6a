package gateway

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Names the gateway's objects use.
const (
	// Image is Traefik's image as the node imports it; it can't be pulled.
	Image = "localhost/decco-test/traefik:" + TraefikVersion
	// GatewayClass is the class of the spaces' Gateways
	// (--gateway-class), served by the Gateway API instance.
	GatewayClass = "traefik"
	// ControllerName is Traefik's Gateway API controller name.
	ControllerName = "traefik.io/gateway-controller"
	// HTTPIngressClass and SNIIngressClass are the Ingress classes of
	// decco's Ingress mode (--ingress-class, --sni-ingress-class), both
	// served by the Ingress instance.
	HTTPIngressClass = "decco-http"
	SNIIngressClass  = "decco-sni"
	// ingressController is the controller of both Ingress classes: the
	// one Traefik's ingress-nginx provider satisfies.
	ingressController = "k8s.io/ingress-nginx"
	// Port is where Traefik listens for HTTPS and TLS in its pod, and so
	// the port of the spaces' listeners (--gateway-port): a Gateway
	// listener's port must equal a Traefik entry point's.
	Port = 8443
	// ServicePort is the port of the instances' Services.
	ServicePort = 443
	pingPort    = 8082
	// uid runs Traefik: not root, and neither the sidecar's nor the test
	// apps' UID.
	uid = 10002
)

// Instance is one Traefik Deployment and its Service.
type Instance string

// The two instances.
const (
	GatewayAPI Instance = "traefik-gateway"
	Ingress    Instance = "traefik-ingress"
)

// providerArgs are each instance's providers.
var providerArgs = map[Instance][]string{
	GatewayAPI: {
		"--providers.kubernetesgateway=true",
		// TLSRoute is read at v1alpha2, which Gateway API's standard
		// channel CRDs still serve.
		"--providers.kubernetesgateway.experimentalchannel=true",
	},
	Ingress: {
		"--providers.kubernetesingressnginx=true",
		"--providers.kubernetesingressnginx.controllerclass=" + ingressController,
		// Ingresses with a tls section are served on websecure.
		"--entrypoints.websecure.http.tls=true",
	},
}

// Args is the command line of an instance.
func Args(i Instance) []string {
	return append([]string{
		fmt.Sprintf("--entrypoints.websecure.address=:%d", Port),
		fmt.Sprintf("--entrypoints.ping.address=:%d", pingPort),
		"--ping=true",
		"--ping.entrypoint=ping",
		"--global.checknewversion=false",
		"--global.sendanonymoususage=false",
		"--log.level=INFO",
	}, providerArgs[i]...)
}

// Objects are everything the gateway needs in namespace ns, in the order
// to create them: identity and rights, the classes, both instances.
func Objects(ns string) []client.Object {
	labels := map[string]string{"app.kubernetes.io/name": "traefik"}
	objs := []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "traefik", Labels: labels}},
		clusterRole(),
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: clusterRoleName, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRoleName},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "traefik"}},
		},
		&gatewayv1.GatewayClass{
			ObjectMeta: metav1.ObjectMeta{Name: GatewayClass, Labels: labels},
			Spec:       gatewayv1.GatewayClassSpec{ControllerName: ControllerName},
		},
	}
	for _, class := range []string{HTTPIngressClass, SNIIngressClass} {
		objs = append(objs, &networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{Name: class, Labels: labels},
			Spec:       networkingv1.IngressClassSpec{Controller: ingressController},
		})
	}
	for _, i := range []Instance{GatewayAPI, Ingress} {
		objs = append(objs, deployment(ns, i), service(ns, i))
	}
	return objs
}

const clusterRoleName = "decco-test-traefik"

// clusterRole grants what Traefik's two providers read and the statuses
// they write. Reading Secrets cluster-wide is Traefik's design (it serves
// the spaces' certificates); a gateway is trusted platform code.
func clusterRole() *rbacv1.ClusterRole {
	read := []string{"get", "list", "watch"}
	status := []string{"update", "patch"}
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: clusterRoleName},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "services", "secrets", "configmaps"}, Verbs: read},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "ingressclasses"}, Verbs: read},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses/status"}, Verbs: status},
			{APIGroups: []string{gatewayv1.GroupName}, Resources: []string{
				"gatewayclasses", "gateways", "httproutes", "grpcroutes", "tcproutes", "tlsroutes", "referencegrants", "backendtlspolicies",
			}, Verbs: read},
			{APIGroups: []string{gatewayv1.GroupName}, Resources: []string{
				"gatewayclasses/status", "gateways/status", "httproutes/status", "grpcroutes/status", "tcproutes/status", "tlsroutes/status", "backendtlspolicies/status",
			}, Verbs: status},
		},
	}
}

// deployment runs one instance: one replica, hardened like decco's own
// pods, Ready once Traefik answers its ping.
func deployment(ns string, i Instance) *appsv1.Deployment {
	labels := map[string]string{"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": string(i)}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: string(i), Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: "traefik",
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To(int64(uid)),
						RunAsGroup:     ptr.To(int64(uid)),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            "traefik",
						Image:           Image,
						ImagePullPolicy: corev1.PullNever,
						Args:            Args(i),
						Ports: []corev1.ContainerPort{
							{Name: "websecure", ContainerPort: Port},
							{Name: "ping", ContainerPort: pingPort},
						},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ping", Port: intstr.FromString("ping")}},
							PeriodSeconds: 1,
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
}

// service fronts one instance on ServicePort.
func service(ns string, i Instance) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: string(i)},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": string(i)},
			Ports:    []corev1.ServicePort{{Name: "https", Port: ServicePort, TargetPort: intstr.FromString("websecure")}},
		},
	}
}

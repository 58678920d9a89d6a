package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cluster DNS runs as every cluster runs it: CoreDNS pods in kube-system,
// labeled k8s-app=kube-dns, behind the kube-dns Service, so that what
// policies say about DNS (decco's egress policy admits exactly those pods)
// is tested as users meet it.
const (
	dnsNamespace = "kube-system"
	dnsName      = "kube-dns"
	// DNSLabel and DNSLabelValue mark the CoreDNS pods, as kubeadm does.
	DNSLabel      = "k8s-app"
	DNSLabelValue = "kube-dns"
)

// corefile serves cluster.local from the apiserver and answers every other
// name NXDOMAIN: there is no forward plugin, so no lookup leaves the
// machine.
const corefile = `.:53 {
    errors
    ready :8181
    cache 5
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`

// dnsObjects are CoreDNS's ServiceAccount, RBAC, configuration, Deployment
// and Service.
func dnsObjects(n Network) []client.Object {
	labels := map[string]string{DNSLabel: DNSLabelValue}
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: dnsNamespace, Labels: labels}
	}
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	return []client.Object{
		&corev1.ServiceAccount{ObjectMeta: meta("coredns")},
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "decco-node:coredns"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"services", "namespaces", "pods"}, Verbs: []string{"list", "watch"}},
				{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
			},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "decco-node:coredns"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "decco-node:coredns"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: dnsNamespace, Name: "coredns"}},
		},
		&corev1.ConfigMap{ObjectMeta: meta("coredns"), Data: map[string]string{"Corefile": corefile}},
		&appsv1.Deployment{
			ObjectMeta: meta("coredns"),
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						ServiceAccountName: "coredns",
						// Its own resolv.conf would point at itself.
						DNSPolicy: corev1.DNSDefault,
						Containers: []corev1.Container{{
							Name:            "coredns",
							Image:           CoreDNSImage,
							ImagePullPolicy: corev1.PullNever,
							Args:            []string{"-conf", "/etc/coredns/Corefile"},
							Ports: []corev1.ContainerPort{
								{Name: "dns", ContainerPort: 53, Protocol: udp},
								{Name: "dns-tcp", ContainerPort: 53, Protocol: tcp},
							},
							ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
								HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8181)}},
								PeriodSeconds: 1},
							// Port 53 needs root or NET_BIND_SERVICE; root, in
							// kube-system, as cluster add-ons run.
							SecurityContext: &corev1.SecurityContext{RunAsUser: new(int64(0)), RunAsNonRoot: new(false)},
							VolumeMounts:    []corev1.VolumeMount{{Name: "config", MountPath: "/etc/coredns"}},
						}},
						Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
							ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "coredns"}}}}},
					},
				},
			},
		},
		&corev1.Service{
			ObjectMeta: meta(dnsName),
			Spec: corev1.ServiceSpec{
				Selector:  labels,
				ClusterIP: n.DNSIP().String(),
				Ports: []corev1.ServicePort{
					{Name: "dns", Port: 53, Protocol: udp, TargetPort: intstr.FromInt32(53)},
					{Name: "dns-tcp", Port: 53, Protocol: tcp, TargetPort: intstr.FromInt32(53)},
				},
			},
		},
	}
}

// startDNS deploys CoreDNS and waits until it answers (its readiness).
func (n *Node) startDNS(ctx context.Context) error {
	c := n.cluster.Client
	for _, obj := range dnsObjects(n.Network) {
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return waitUntil(ctx, 90*time.Second, "a CoreDNS pod to be Ready", func() error {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(dnsNamespace), client.MatchingLabels{DNSLabel: DNSLabelValue}); err != nil {
			return err
		}
		for _, p := range pods.Items {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		return errors.New("no CoreDNS pod Ready yet")
	})
}

package cninode

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/decco-dev/decco/netpol"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// TestDeclaredPortsWithoutAService is Keycloak's JGroups (or Elasticsearch's
// transport) on a real node: members talk on 7800, a port they declare but
// no Service lists, dialing each other's pod addresses (their pod DNS
// names resolve to pod IPs, as JGroups' DNS_PING discovery does). The
// headless Service names only the health port. kube-router enforces the
// space's policies, so the members reach each other, and become Ready,
// only if the listener policy opens 7800 to the space's pods; and a
// capture of every frame on the bridge and veths finds none of the
// payload they exchange: the port is opened, and it is TLS.
func TestDeclaredPortsWithoutAService(t *testing.T) {
	ctx := context.Background()
	ns := suite.NewSpace(t, "jgroups", nil)
	payload := "decco-jgroups-" + rand.String(12)
	control := "decco-control-" + rand.String(12)
	capt := startCapture(t, payload, control)

	var peers []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("kc-%d.kc.%s.svc.cluster.local:7800", i, ns))
	}
	tmpl := nodetest.App(ns, "kc", nil, []corev1.ContainerPort{nodetest.TCPPort("jgroups", 7800), nodetest.TCPPort("health", 7001)},
		"member", "-listen=:7800", "-health=:7001", "-payload="+payload, "-peers="+strings.Join(peers, ","))
	tmpl.Spec.Containers[0].ReadinessProbe = memberProbe()
	headless := nodetest.Service(ns, "kc", nodetest.ServicePort("health", 7001, 7001))
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	headless.Spec.PublishNotReadyAddresses = true
	require.NoError(t, suite.Client.Create(ctx, headless))
	require.NoError(t, suite.Client.Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "kc", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "kc", Replicas: new(int32(3)), PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "kc"}},
			Template: tmpl,
		},
	}))

	start := time.Now()
	members := suite.ReadyPods(t, ns, "kc", 3, 3*time.Minute)
	t.Logf("3 members Ready (each reaching all 3 on 7800, which no Service lists) %s after creation", time.Since(start).Round(100*time.Millisecond))

	// The port is open to the space's own pods only, and the health port
	// (the Service's target) to every permitted namespace as before.
	var pol networkingv1.NetworkPolicy
	require.NoError(t, suite.Client.Get(ctx, types(ns, netpol.ListenerPolicy), &pol))
	jgroups, health := intstr.FromInt32(7800), intstr.FromInt32(7001)
	var peerRule, serviceRule *networkingv1.NetworkPolicyIngressRule
	for i, r := range pol.Spec.Ingress {
		for _, p := range r.Ports {
			switch *p.Port {
			case jgroups:
				peerRule = &pol.Spec.Ingress[i]
			case health:
				serviceRule = &pol.Spec.Ingress[i]
			}
		}
	}
	require.NotNil(t, peerRule, "7800 is opened: %+v", pol.Spec.Ingress)
	require.NotNil(t, serviceRule, "7001 is opened: %+v", pol.Spec.Ingress)
	assert.Equal(t, []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{space.LabelSpace: ns}}}},
		peerRule.From, "a declared port no Service lists is open to the space's pods only")
	assert.NotSame(t, peerRule, serviceRule)

	// A Ready member reached every peer within the last 10 s, all of it
	// under the capture. The control, sent in plaintext from the node to
	// a member's 7800, shows the capture sees that port's frames.
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(members[0].Status.PodIP, "7800"), 2*time.Second)
	require.NoError(t, err)
	fmt.Fprintf(conn, "%s\n", control)
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	assert.NotContains(t, line, "ack", "a plaintext client reached the app through interception")
	frames, seen := capt.resultAfter(control)
	t.Logf("capture: %d frames on the node's bridge and veths; markers seen: %v", frames, seen)
	require.NotZero(t, seen[control], "the capture must see the plaintext control sent from the node (else it proves nothing)")
	assert.Zero(t, seen[payload], "the members' payload on 7800 crossed the bridge in plaintext")
}

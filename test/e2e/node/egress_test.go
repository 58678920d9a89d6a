package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// TestDeclaredEgressWithRealPackets is decco.io/egress-policy: declared
// under kube-router: a client of the declared space reaches cluster DNS
// (the kube-dns pods), its own space (its tunnel to a server there works end
// to end) and the destination its decco.io/egress entries name in another
// space (the TCP connection to that Service's listener opens; mutual TLS
// across spaces is refused by design, one CA per space), and nothing else:
// another space's listener is dropped, though an open space's client
// reaches it.
func TestDeclaredEgressWithRealPackets(t *testing.T) {
	ctx := context.Background()
	dst := suite.NewSpace(t, "dst", nil)
	other := suite.NewSpace(t, "other", nil)
	src := suite.NewSpace(t, "src", map[string]string{space.AnnotationEgressPolicy: space.EgressDeclared})
	open := suite.NewSpace(t, "open", nil)
	server := func(ns string) *corev1.Pod {
		require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "db", nodetest.App(ns, "db", nil,
			[]corev1.ContainerPort{{Name: "mysql", ContainerPort: mysqlPort}}, "tcp", fmt.Sprintf("-listen=:%d", mysqlPort)))))
		require.NoError(t, suite.Client.Create(ctx, nodetest.Service(ns, "db", nodetest.ServicePort("main", mysqlPort, mysqlPort))))
		return suite.ReadyPod(t, ns, "db")
	}
	dstDB, otherDB, selfDB := server(dst), server(other), server(src)
	agent := func(ns string) *corev1.Pod {
		egress := map[string]string{space.AnnotationEgress: fmt.Sprintf("%d=db.%s.svc:%d,%d=db.%s.svc:%d",
			egressPort, ns, mysqlPort, egressPort+1, dst, mysqlPort)}
		require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "client", nodetest.App(ns, "client", egress, nil, "agent", fmt.Sprintf("-listen=:%d", agentPort)))))
		return suite.ReadyPod(t, ns, "client")
	}
	client, openClient := agent(src), agent(open)
	listener := func(p *corev1.Pod) string {
		return fmt.Sprintf("%s:%d", p.Status.PodIP, inject.ListenerPort(mysqlPort))
	}

	// The policy follows the client's egress entries once the reconciler
	// has seen the pod.
	deccotest.WaitFor(t, time.Minute, "the MySQL-style greeting through the tunnel to its own space", func() error {
		line, err := suite.Probe(client, fmt.Sprintf("127.0.0.1:%d", egressPort))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "greeting from "+selfDB.Name) {
			return fmt.Errorf("the tunnel answered %q", line)
		}
		return nil
	})
	reach := func(from *corev1.Pod, addr string) bool {
		_, err := suite.Probe(from, addr)
		return err == nil
	}
	dns := suite.Node.Network.DNSIP().String() + ":53"
	assert.True(t, reach(client, dns), "cluster DNS (TCP 53 on the kube-dns Service)")
	deccotest.WaitFor(t, 30*time.Second, "the declared destination's listener", func() error {
		_, err := suite.Probe(client, listener(dstDB))
		return err
	})
	assert.False(t, reach(client, listener(otherDB)), "another space's listener, not declared")
	assert.True(t, reach(openClient, listener(otherDB)), "control: a client of an open space reaches it")
}

package cninode

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/decco-dev/decco/inject"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// TestPortsModeServiceRestored: a Service ports interception rewrote
// (targetPort 3306+10000, recorded in decco.io/rewritten-ports) is still
// stored that way when the cluster switches to cni interception. The
// reconciler gives it its target back, and a client reaches the app
// through it over mutual TLS.
//
// The Service is stored as ports mode left it by creating it with decco's
// mutating webhooks unregistered for the moment, before its namespace
// becomes a space.
func TestPortsModeServiceRestored(t *testing.T) {
	node.Require(t)
	ctx := context.Background()
	name := "migrated-" + rand.String(5)
	require.NoError(t, suite.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	t.Cleanup(func() {
		_ = suite.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})
	svc := nodetest.Service(name, "db", nodetest.ServicePort("mysql", 3306, inject.ListenerPort(3306)))
	svc.Annotations = map[string]string{space.AnnotationRewrittenPorts: "3306=3306"}
	require.NoError(t, deccotest.WithoutMutatingWebhooks(ctx, suite.Client, func() error { return suite.Client.Create(ctx, svc) }))

	var ns corev1.Namespace
	require.NoError(t, suite.Client.Get(ctx, types("", name), &ns))
	ns.Labels[space.LabelSpace] = name
	ns.Annotations = map[string]string{space.AnnotationDomain: "example.com"}
	require.NoError(t, suite.Client.Update(ctx, &ns))
	start := time.Now()
	deccotest.WaitFor(t, 30*time.Second, "the reconciler to restore the Service's target", func() error {
		if err := suite.Client.Get(ctx, types(name, "db"), svc); err != nil {
			return err
		}
		if got := svc.Spec.Ports[0].TargetPort.IntVal; got != 3306 {
			return fmt.Errorf("targetPort %d", got)
		}
		if _, ok := svc.Annotations[space.AnnotationRewrittenPorts]; ok {
			return errors.New("the rewrite is still recorded")
		}
		return nil
	})
	t.Logf("target restored %s after the namespace became a space", time.Since(start).Round(10*time.Millisecond))

	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(name, "db", nodetest.App(name, "db", nil, []corev1.ContainerPort{nodetest.TCPPort("mysql", 3306)}, "tcp", "-listen=:3306"))))
	require.NoError(t, suite.Client.Create(ctx, agent(name)))
	peer := *suite.ReadyPod(t, name, "agent")
	suite.ReadyPod(t, name, "db")
	deccotest.WaitFor(t, 30*time.Second, "the agent reaching db:3306 over mutual TLS", func() error {
		line, err := suite.Probe(&peer, "db."+name+".svc:3306")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "greeting from db") {
			return fmt.Errorf("answered %q", line)
		}
		return nil
	})
}

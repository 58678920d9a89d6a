package cninode

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// agent is a client pod of the space whose agent port the test reaches.
func agent(ns string) *appsv1.Deployment {
	return nodetest.Deployment(ns, "agent", nodetest.App(ns, "agent", map[string]string{space.AnnotationPlaintextPorts: "agent"},
		[]corev1.ContainerPort{nodetest.TCPPort("agent", 9000)}, "agent", "-listen=:9000"))
}

package nodetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSplitImage(t *testing.T) {
	for _, tc := range []struct{ ref, repo, tag string }{
		{"decco/manager:dev", "decco/manager", "dev"},
		{"localhost:5000/decco/sidecar:1.2", "localhost:5000/decco/sidecar", "1.2"},
		{"localhost:5000/decco/sidecar", "localhost:5000/decco/sidecar", ""},
		{"manager", "manager", ""},
	} {
		repo, tag := SplitImage(tc.ref)
		assert.Equal(t, tc.repo, repo, tc.ref)
		assert.Equal(t, tc.tag, tag, tc.ref)
	}
}

func TestPodStates(t *testing.T) {
	pod := func(name string, phase corev1.PodPhase, init, main corev1.ContainerStatus) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: phase,
			InitContainerStatuses: []corev1.ContainerStatus{init}, ContainerStatuses: []corev1.ContainerStatus{main}}}
	}
	running := func(name string, ready bool) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	}
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		want string
	}{
		{"none", nil, ""},
		{"sidecar first", []corev1.Pod{pod("a", corev1.PodRunning, running("sidecar", true), running("app", false))},
			"a Running [sidecar=running(ready=true), app=running(ready=false)]"},
		{"waiting and terminated", []corev1.Pod{
			pod("a", corev1.PodPending, corev1.ContainerStatus{Name: "sidecar", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off"}}}, corev1.ContainerStatus{Name: "app"}),
			pod("b", corev1.PodFailed, running("sidecar", false), corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2}}}),
		}, "a Pending [sidecar=waiting:CrashLoopBackOff back-off, app=?]; b Failed [sidecar=running(ready=false), app=terminated:Error(2)]"},
	} {
		assert.Equal(t, tc.want, PodStates(tc.pods), tc.name)
	}
}

func TestPodReady(t *testing.T) {
	cond := func(typ corev1.PodConditionType, st corev1.ConditionStatus) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: typ, Status: st}}}}
	}
	assert.True(t, PodReady(cond(corev1.PodReady, corev1.ConditionTrue)))
	assert.False(t, PodReady(cond(corev1.PodReady, corev1.ConditionFalse)))
	assert.False(t, PodReady(cond(corev1.ContainersReady, corev1.ConditionTrue)))
	assert.False(t, PodReady(&corev1.Pod{}))
}

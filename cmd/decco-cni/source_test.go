package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/decco-dev/decco/space"
)

const k8sArgs = "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=db-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=uid-1"

// The plugin reads the apiserver only when the runtime passed no
// annotations, it has a kubeconfig and the pod is named.
func TestSource(t *testing.T) {
	ann := map[string]json.RawMessage{podAnnotations: json.RawMessage(`{"a":"b"}`)}
	for _, tc := range []struct {
		name       string
		runtime    map[string]json.RawMessage
		kubeconfig string
		args       string
		want       source
	}{
		{"containerd passes annotations", ann, "/etc/cni/net.d/decco-cni.kubeconfig", k8sArgs, fromRuntime},
		{"passed, even empty", map[string]json.RawMessage{podAnnotations: json.RawMessage(`null`)}, "/k", k8sArgs, fromRuntime},
		{"passed, no kubeconfig", ann, "", k8sArgs, fromRuntime},
		{"CRI-O: no annotations, a kubeconfig", nil, "/k", k8sArgs, fromAPIServer},
		{"other runtime config only", map[string]json.RawMessage{"portMappings": json.RawMessage(`[]`)}, "/k", k8sArgs, fromAPIServer},
		{"no kubeconfig", nil, "", k8sArgs, fromNowhere},
		{"no pod named (not Kubernetes)", nil, "/k", "", fromNowhere},
		{"only a namespace", nil, "/k", "K8S_POD_NAMESPACE=shop", fromNowhere},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, err := parsePodArgs(tc.args)
			require.NoError(t, err)
			c := &netConf{RuntimeConfig: tc.runtime, Kubeconfig: tc.kubeconfig}
			assert.Equal(t, tc.want, c.source(pod))
		})
	}
}

// The plan comes from the pod the apiserver holds, which must be the
// sandbox's pod; a failed read fails the sandbox, which the runtime
// retries.
func TestPlanFromTheAPIServer(t *testing.T) {
	plan := testPlan().Encode()
	pod := func(uid string, ann map[string]string) getPod {
		return func(_ context.Context, ns, name string) (*corev1.Pod, error) {
			if ns != "shop" || name != "db-0" {
				return nil, errors.New("read the wrong pod " + ns + "/" + name)
			}
			return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Annotations: ann}}, nil
		}
	}
	conf := &netConf{Kubeconfig: "/k"}
	args := &skel.CmdArgs{Args: k8sArgs}

	p, err := conf.plan(args, pod("uid-1", map[string]string{space.AnnotationInterception: plan}))
	require.NoError(t, err)
	require.NotNil(t, p)
	assert.Equal(t, testPlan().Encode(), p.Encode())

	p, err = conf.plan(args, pod("uid-1", map[string]string{"other": "x"}))
	require.NoError(t, err)
	assert.Nil(t, p, "a pod without a plan passes through")

	_, err = conf.plan(&skel.CmdArgs{Args: "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=db-0;K8S_POD_UID=uid-2"}, pod("uid-1", nil))
	require.ErrorContains(t, err, "it was recreated")

	_, err = conf.plan(args, func(context.Context, string, string) (*corev1.Pod, error) {
		return nil, errors.New("connection refused")
	})
	require.ErrorContains(t, err, "reading pod shop/db-0 from the apiserver (the runtime passed no annotations): connection refused")

	// With the runtime's annotations the apiserver is never asked.
	withAnn := &netConf{Kubeconfig: "/k", RuntimeConfig: map[string]json.RawMessage{podAnnotations: json.RawMessage(`{}`)}}
	p, err = withAnn.plan(args, func(context.Context, string, string) (*corev1.Pod, error) { panic("asked the apiserver") })
	require.NoError(t, err)
	assert.Nil(t, p)
}

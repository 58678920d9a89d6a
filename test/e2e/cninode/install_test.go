package cninode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/cniconf"
	"github.com/decco-dev/decco/cniinstall"
	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
	"github.com/decco-dev/decco/test/node"
	"github.com/decco-dev/decco/test/node/nodetest"
)

// primary is the node's conflist, the one containerd uses.
const primary = "10-decco-node.conflist"

// deccoEntry is decco's entry in the node's primary conflist, or nil.
func deccoEntry(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(suite.Node.CNIConfDir(), primary))
	require.NoError(t, err)
	var conf struct {
		Plugins []map[string]any `json:"plugins"`
	}
	require.NoError(t, json.Unmarshal(data, &conf), "%s", data)
	for _, p := range conf.Plugins {
		if p["type"] == cniconf.PluginType {
			return p
		}
	}
	return nil
}

// chained says whether the primary conflist runs decco-cni.
func chained() error {
	data, err := os.ReadFile(filepath.Join(suite.Node.CNIConfDir(), primary))
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), `"`+cniconf.PluginType+`"`) {
		return fmt.Errorf("%s does not chain decco-cni:\n%s", primary, data)
	}
	return nil
}

// waitChained waits up to 10s for decco to be chained again, polling
// every 5ms to measure how long the installer took.
func waitChained(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := chained()
		if err == nil {
			return time.Since(start).Round(time.Millisecond)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the installer did not chain decco into the rewritten conflist in 10s: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// installer is the DaemonSet installing decco-cni, and its pod on the node.
func installer(t *testing.T) (*appsv1.DaemonSet, corev1.Pod) {
	t.Helper()
	var list appsv1.DaemonSetList
	require.NoError(t, suite.Client.List(context.Background(), &list, client.InNamespace(systemNamespace)))
	require.Len(t, list.Items, 1, "the chart's DaemonSets")
	ds := &list.Items[0]
	var pods corev1.PodList
	require.NoError(t, suite.Client.List(context.Background(), &pods, client.InNamespace(systemNamespace), client.MatchingLabels(ds.Spec.Selector.MatchLabels)))
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	require.Len(t, live, 1, "installer pods on the node")
	return ds, live[0]
}

// The chart's DaemonSet put decco-cni on the node: the binary in the
// runtime's bin directory, decco chained last in the bridge's conflist
// with the annotations capability and the kubeconfig, written 0600, and
// the installer Ready. Every other test of this suite runs on it.
func TestDaemonSetInstallsDeccoCNI(t *testing.T) {
	node.Require(t)
	_, pod := installer(t)
	assert.True(t, nodetest.PodReady(&pod), "the installer is Ready once decco is chained")
	assert.FileExists(t, filepath.Join(suite.Node.CNIBinDir(), cniconf.PluginType))
	entry := deccoEntry(t)
	require.NotNil(t, entry, "decco-cni is chained into %s", primary)
	kubeconfig := filepath.Join(suite.Node.CNIConfDir(), cniinstall.KubeconfigName)
	assert.Equal(t, kubeconfig, entry["kubeconfig"])
	assert.Equal(t, map[string]any{cniconf.PodAnnotationsCapability: true}, entry["capabilities"])
	st, err := os.Stat(kubeconfig)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the plugin's kubeconfig holds a token")
}

// The primary CNI rewriting its conflist (as a CNI daemon does on every
// restart) drops decco from the chain; the installer puts it back.
func TestRewrittenConflistIsRechained(t *testing.T) {
	node.Require(t)
	require.NoError(t, chained())
	_, before := installer(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("installer %s:\n%s", before.Name, suite.Node.ContainerLog(systemNamespace, before.Name, "install"))
		}
	})
	plain, err := os.ReadFile(filepath.Join(suite.Node.CNIConfDir(), "..", "net.d-plain", primary))
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, os.WriteFile(filepath.Join(suite.Node.CNIConfDir(), primary), plain, 0o644))
		t.Logf("rewrite %d: decco chained again %s later", i+1, waitChained(t))
	}
	_, after := installer(t)
	assert.Equal(t, before.UID, after.UID, "the same installer pod")
	require.Len(t, after.Status.ContainerStatuses, 1)
	assert.Zero(t, after.Status.ContainerStatuses[0].RestartCount, "the installer never restarted (an OOM kill would)")
	// And a pod created now gets its rules from the re-chained plugin.
	ns := suite.NewSpace(t, "rechained", nil)
	require.NoError(t, suite.Client.Create(context.Background(), nodetest.Deployment(ns, "db",
		nodetest.App(ns, "db", nil, []corev1.ContainerPort{nodetest.TCPPort("mysql", 3306)}, "tcp", "-listen=:3306"))))
	suite.ReadyPod(t, ns, "db")
}

// For runtimes that pass no pod annotations (CRI-O), the plugin reads the
// pod from the apiserver with the kubeconfig and token the installer
// wrote: the installed binary, run as a runtime runs it but without the
// annotations, installs a space pod's plan in a fresh network namespace,
// and passes a pod without one through.
func TestPluginReadsThePodFromTheAPIServer(t *testing.T) {
	node.Require(t)
	ctx := context.Background()
	ns := suite.NewSpace(t, "crio", nil)
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "db",
		nodetest.App(ns, "db", nil, []corev1.ContainerPort{nodetest.TCPPort("mysql", 3306)}, "tcp", "-listen=:3306"))))
	db := suite.ReadyPod(t, ns, "db")
	require.Contains(t, db.Annotations, space.AnnotationInterception)
	_, plain := installer(t) // decco's namespace: no plan

	entry := deccoEntry(t)
	require.NotNil(t, entry)
	for _, tc := range []struct {
		pod   *corev1.Pod
		rules bool
	}{{db, true}, {&plain, false}} {
		netns := "decco-crio-" + rand.String(5)
		out, err := exec.Command("ip", "netns", "add", netns).CombinedOutput()
		require.NoError(t, err, "%s", out)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", netns).Run() })

		conf := map[string]any{"cniVersion": "1.0.0", "name": "decco-node", "prevResult": map[string]any{"cniVersion": "1.0.0",
			"interfaces": []any{map[string]any{"name": "eth0", "sandbox": "/run/netns/" + netns}},
			"ips":        []any{map[string]any{"address": "10.244.0.250/24", "interface": 0}}}}
		for k, v := range entry {
			if k != "capabilities" { // no runtimeConfig: the runtime passes no annotations
				conf[k] = v
			}
		}
		stdin, err := json.Marshal(conf)
		require.NoError(t, err)
		cmd := exec.Command(filepath.Join(suite.Node.CNIBinDir(), cniconf.PluginType))
		cmd.Stdin = strings.NewReader(string(stdin))
		cmd.Env = append(os.Environ(), "CNI_COMMAND=ADD", "CNI_CONTAINERID=crio-"+netns, "CNI_NETNS=/run/netns/"+netns,
			"CNI_IFNAME=eth0", "CNI_PATH="+suite.Node.CNIBinDir(),
			fmt.Sprintf("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_UID=%s", tc.pod.Namespace, tc.pod.Name, tc.pod.UID))
		out, err = cmd.CombinedOutput()
		require.NoError(t, err, "decco-cni ADD for %s/%s: %s", tc.pod.Namespace, tc.pod.Name, out)
		rules, err := exec.Command("ip", "netns", "exec", netns, "iptables-save", "-t", "nat").CombinedOutput()
		require.NoError(t, err, "%s", rules)
		if tc.rules {
			assert.Contains(t, string(rules), "-A "+intercept.InboundChain, "the plan read from the apiserver is installed")
		} else {
			assert.NotContains(t, string(rules), intercept.InboundChain, "a pod without a plan passes through")
		}
	}
}

// A replaced installer pod (an update, a restart) leaves decco chained;
// deleting the DaemonSet, as helm uninstall does, takes decco out of the
// chain and removes the plugin's kubeconfig. A space's pod arriving while
// decco is not chained (Istio's "CNI not ready" race) fails closed, and
// once the DaemonSet is back, its replacement gets its rules: the
// documented answer to that race. The DaemonSet is recreated either way,
// so the suite's other tests keep their plugin.
func TestDaemonSetDeletionUnchains(t *testing.T) {
	node.Require(t)
	ctx := context.Background()
	ds, pod := installer(t)
	require.NoError(t, chained())

	require.NoError(t, suite.Client.Delete(ctx, &pod))
	// The kubelet deletes the pod object once its container has exited:
	// by then the installer has made its decision.
	deccotest.WaitFor(t, 60*time.Second, "the replaced installer to exit", func() error {
		err := suite.Client.Get(ctx, client.ObjectKeyFromObject(&pod), &corev1.Pod{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("pod %s still there (%v)", pod.Name, err)
	})
	require.NoError(t, chained(), "a replaced installer pod keeps decco chained")
	_, err := suite.WaitDaemonSetsReady(ctx, systemNamespace)
	require.NoError(t, err)

	saved := ds.DeepCopy()
	saved.ObjectMeta = metav1.ObjectMeta{Name: saved.Name, Namespace: saved.Namespace, Labels: saved.Labels, Annotations: saved.Annotations}
	saved.Status = appsv1.DaemonSetStatus{}
	restored := false
	restore := func() {
		restored = true
		start := time.Now()
		require.NoError(t, suite.Client.Create(context.Background(), saved.DeepCopy()))
		_, err := suite.WaitDaemonSetsReady(context.Background(), systemNamespace)
		require.NoError(t, err)
		require.NoError(t, chained(), "the recreated DaemonSet chains decco again")
		t.Logf("the recreated DaemonSet Ready, decco chained, %s after its creation", time.Since(start).Round(100*time.Millisecond))
	}
	t.Cleanup(func() {
		if !restored {
			restore()
		}
	})
	require.NoError(t, suite.Client.Delete(ctx, ds, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	start := time.Now()
	deccotest.WaitFor(t, 60*time.Second, "decco to leave the chain", func() error {
		if chained() == nil {
			return fmt.Errorf("%s still chains decco-cni", primary)
		}
		return nil
	})
	t.Logf("decco left the chain %s after the DaemonSet was deleted", time.Since(start).Round(100*time.Millisecond))
	assert.Nil(t, deccoEntry(t))
	assert.NoFileExists(t, filepath.Join(suite.Node.CNIConfDir(), cniinstall.KubeconfigName))
	assert.FileExists(t, filepath.Join(suite.Node.CNIBinDir(), cniconf.PluginType), "the binary stays, inert")

	// A pod arriving now gets no rules: its sidecar says so and its app
	// never starts.
	ns := suite.NewSpace(t, "race", nil)
	require.NoError(t, suite.Client.Create(ctx, nodetest.Deployment(ns, "db",
		nodetest.App(ns, "db", nil, []corev1.ContainerPort{nodetest.TCPPort("mysql", 3306)}, "tcp", "-listen=:3306"))))
	early := waitFailedClosed(t, ns, "db")

	restore()
	require.NoError(t, suite.Client.Delete(ctx, &early))
	start = time.Now()
	replacement := suite.ReadyPod(t, ns, "db")
	assert.NotEqual(t, early.UID, replacement.UID)
	t.Logf("the pod that arrived unchained failed closed; its replacement, after the installer was back, Ready %s after the deletion", time.Since(start).Round(100*time.Millisecond))
}

// waitFailedClosed waits until app's pod has its network and its
// sidecar's readiness reports the interception rules missing, with the
// app not started, and returns the pod.
func waitFailedClosed(t *testing.T, ns, app string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	deccotest.WaitFor(t, 90*time.Second, "the sidecar of "+app+" to report the missing rules", func() error {
		var pods corev1.PodList
		if err := suite.Client.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": app}); err != nil {
			return err
		}
		if len(pods.Items) != 1 || pods.Items[0].Status.PodIP == "" {
			return fmt.Errorf("no pod with an address yet: %s", nodetest.PodStates(pods.Items))
		}
		pod = pods.Items[0]
		resp, err := http.Get("http://" + net.JoinHostPort(pod.Status.PodIP, "15021") + "/ready")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "interception rules not in place") {
			return fmt.Errorf("the sidecar's /ready answered %d: %s", resp.StatusCode, body)
		}
		return nil
	})
	for _, s := range pod.Status.ContainerStatuses {
		assert.Nil(t, s.State.Running, "app container %s must not run", s.Name)
	}
	return pod
}

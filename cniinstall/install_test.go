package cniinstall

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/decco-dev/decco/cniconf"
	"github.com/decco-dev/decco/test/testkit"
)

const primary = `{"cniVersion": "1.0.0", "name": "k8s-pod-network", "plugins": [{"type": "bridge", "bridge": "cni0"}, {"type": "portmap", "capabilities": {"portMappings": true}}]}`

// node is a host's CNI directories, and the installer's Config for them.
func node(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	c := Config{
		Plugin:      filepath.Join(dir, "build", "decco-cni"),
		BinDir:      filepath.Join(dir, "opt", "cni", "bin"),
		ConfDir:     filepath.Join(dir, "etc", "cni", "net.d"),
		HostConfDir: "/etc/cni/net.d",
		Kubeconfig:  []byte("kubeconfig v1\n"),
	}
	for _, d := range []string{filepath.Dir(c.Plugin), c.BinDir, c.ConfDir} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	require.NoError(t, os.WriteFile(c.Plugin, []byte("plugin v1"), 0o755))
	return c
}

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return string(b)
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestInstallChainsCopiesAndIsIdempotent(t *testing.T) {
	c := node(t)
	write(t, c.ConfDir, "10-net.conflist", primary)
	write(t, c.ConfDir, "20-other.conflist", primary)
	require.ErrorContains(t, Check(c), "decco-cni is not installed")

	changes, err := Install(c)
	require.NoError(t, err)
	assert.Equal(t, Changes{"copied decco-cni into " + c.BinDir, "wrote decco-cni.kubeconfig", "chained decco into 10-net.conflist"}, changes)
	assert.Equal(t, "plugin v1", read(t, c.BinDir, "decco-cni"))
	st, err := os.Stat(filepath.Join(c.BinDir, "decco-cni"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
	st, err = os.Stat(filepath.Join(c.ConfDir, KubeconfigName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the kubeconfig holds a token")
	ok, err := cniconf.Chained("10-net.conflist", []byte(read(t, c.ConfDir, "10-net.conflist")), cniconf.Entry{Kubeconfig: "/etc/cni/net.d/decco-cni.kubeconfig"})
	require.NoError(t, err)
	assert.True(t, ok, "the entry names the kubeconfig where the host sees it")
	assert.Equal(t, primary, read(t, c.ConfDir, "20-other.conflist"), "only the primary is chained")
	assert.ElementsMatch(t, []string{"10-net.conflist", "20-other.conflist", KubeconfigName}, names(t, c.ConfDir), "no temporary file is left")
	require.NoError(t, Check(c))

	changes, err = Install(c)
	require.NoError(t, err)
	assert.Empty(t, changes, "a second pass writes nothing")

	// A new plugin and a rotated token are written; the chain stays.
	require.NoError(t, os.WriteFile(c.Plugin, []byte("plugin v2"), 0o755))
	c.Kubeconfig = []byte("kubeconfig v2\n")
	changes, err = Install(c)
	require.NoError(t, err)
	assert.Equal(t, Changes{"copied decco-cni into " + c.BinDir, "wrote decco-cni.kubeconfig"}, changes)
	assert.Equal(t, "plugin v2", read(t, c.BinDir, "decco-cni"))
}

// A single-plugin .conf becomes a .conflist of the same name, and the
// .conf, which would sort first, goes.
func TestInstallTurnsAConfIntoAConflist(t *testing.T) {
	c := node(t)
	write(t, c.ConfDir, "10-flannel.conf", `{"cniVersion": "0.4.0", "name": "cbr0", "type": "flannel"}`)
	changes, err := Install(c)
	require.NoError(t, err)
	assert.Contains(t, changes, "chained decco into 10-flannel.conf, now 10-flannel.conflist")
	assert.ElementsMatch(t, []string{"10-flannel.conflist", KubeconfigName}, names(t, c.ConfDir))
	require.NoError(t, Check(c))
}

// A primary configuration decco can't read stays exactly as it is, and the
// installer is not ready, saying why.
func TestInstallLeavesAMalformedPrimaryAlone(t *testing.T) {
	c := node(t)
	bad := `{"name": "x", "plugins": {"type": "bridge"}}`
	write(t, c.ConfDir, "10-net.conflist", bad)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, os.Chtimes(filepath.Join(c.ConfDir, "10-net.conflist"), old, old))
	_, err := Install(c)
	require.ErrorContains(t, err, `CNI configuration 10-net.conflist: "plugins" must be a list of plugin objects`)
	assert.Equal(t, bad, read(t, c.ConfDir, "10-net.conflist"))
	st, err := os.Stat(filepath.Join(c.ConfDir, "10-net.conflist"))
	require.NoError(t, err)
	assert.Equal(t, old, st.ModTime(), "the file was rewritten")
	assert.ErrorContains(t, Check(c), "plugins")
}

func TestInstallWaitsForThePrimary(t *testing.T) {
	c := node(t)
	_, err := Install(c)
	assert.ErrorIs(t, err, ErrNoPrimary)
	assert.ErrorIs(t, Check(c), ErrNoPrimary)
}

func TestUninstall(t *testing.T) {
	c := node(t)
	write(t, c.ConfDir, "10-net.conflist", primary)
	write(t, c.ConfDir, "00-broken.conf", "not json") // not decco's to fix
	_, err := Install(c)
	require.ErrorContains(t, err, "00-broken.conf") // the broken one is the primary
	require.NoError(t, os.Remove(filepath.Join(c.ConfDir, "00-broken.conf")))
	_, err = Install(c)
	require.NoError(t, err)

	changes, err := Uninstall(c)
	require.NoError(t, err)
	assert.Equal(t, Changes{"took decco out of 10-net.conflist", "removed " + KubeconfigName}, changes)
	assert.JSONEq(t, primary, read(t, c.ConfDir, "10-net.conflist"))
	assert.Equal(t, []string{"10-net.conflist"}, names(t, c.ConfDir))
	assert.FileExists(t, filepath.Join(c.BinDir, "decco-cni"), "the binary stays for runtimes still working from the old configuration")
	assert.ErrorContains(t, Check(c), "does not chain decco")

	changes, err = Uninstall(c)
	require.NoError(t, err)
	assert.Empty(t, changes)
}

// Run re-chains when the primary CNI rewrites its configuration, and
// installs once a primary appears.
func TestRunRechainsARewrittenPrimary(t *testing.T) {
	c := node(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- Run(ctx, func() (Config, error) { return c, nil }, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() { cancel(); <-done })

	write(t, c.ConfDir, "10-net.conflist", primary)
	testkit.WaitFor(t, 5*time.Second, "the installer to chain the new primary", func() error { return Check(c) })
	for i := range 3 {
		write(t, c.ConfDir, "10-net.conflist", primary) // as the primary CNI does on restart
		start := time.Now()
		testkit.WaitFor(t, 5*time.Second, "the installer to chain the rewritten primary", func() error { return Check(c) })
		t.Logf("rewrite %d re-chained in %s", i+1, time.Since(start).Round(time.Millisecond))
	}
}

func TestKubeconfig(t *testing.T) {
	data, err := Kubeconfig("https://10.96.0.1:443", []byte("CA PEM"), []byte("token-1"))
	require.NoError(t, err)
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	require.NoError(t, err)
	assert.Equal(t, "https://10.96.0.1:443", cfg.Host)
	assert.Equal(t, "token-1", cfg.BearerToken)
	assert.Equal(t, []byte("CA PEM"), cfg.CAData)
}

func TestRemoval(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "daemonsets"}
	deleting := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "decco-cni", DeletionTimestamp: &metav1.Time{Time: time.Now()}}}
	for _, tc := range []struct {
		name   string
		ds     *appsv1.DaemonSet
		err    error
		remove bool
	}{
		{"deleted", nil, apierrors.NewNotFound(gr, "decco-cni"), true},
		{"being deleted (foreground)", deleting, nil, true},
		{"RBAC gone with the chart", nil, apierrors.NewForbidden(gr, "decco-cni", errors.New("no")), true},
		{"ServiceAccount gone with the chart", nil, apierrors.NewUnauthorized("token"), true},
		{"still there: an update or a deleted pod", &appsv1.DaemonSet{}, nil, false},
		{"the apiserver can't tell", nil, errors.New("dial tcp: connection refused"), false},
		{"nothing read", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			remove, why := Removal(tc.ds, tc.err)
			assert.Equal(t, tc.remove, remove, why)
			assert.NotEmpty(t, why)
		})
	}
}

func TestParse(t *testing.T) {
	o, err := Parse("install", []string{"--cni-bin-dir=/b", "--cni-conf-dir=/c", "--host-cni-conf-dir=/etc/cni/net.d", "--daemonset=decco-system/decco-cni"})
	require.NoError(t, err)
	assert.Equal(t, Options{BinDir: "/b", ConfDir: "/c", HostConfDir: "/etc/cni/net.d", DaemonSet: "decco-system/decco-cni", Resync: time.Minute}, o)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--daemonset=decco-cni"}, "want namespace/name"},
		{[]string{"--daemonset=a/b/c"}, "want namespace/name"},
		{[]string{"--resync=0s"}, "must be positive"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--cni-bin=/b"}, "flag provided but not defined"},
	} {
		_, err := Parse("install", tc.args)
		assert.ErrorContains(t, err, tc.want, "%q", tc.args)
	}
}

// A plugin of many read buffers is compared to the end: one byte changed
// in its last buffer is copied.
func TestInstallComparesTheWholeBinary(t *testing.T) {
	c := node(t)
	write(t, c.ConfDir, "10-net.conflist", primary)
	big := make([]byte, 200<<10)
	require.NoError(t, os.WriteFile(c.Plugin, big, 0o755))
	changes, err := Install(c)
	require.NoError(t, err)
	require.Contains(t, changes, "copied decco-cni into "+c.BinDir)
	changes, err = Install(c)
	require.NoError(t, err)
	assert.Empty(t, changes)
	big[len(big)-1] = 1
	require.NoError(t, os.WriteFile(c.Plugin, big, 0o755))
	changes, err = Install(c)
	require.NoError(t, err)
	assert.Equal(t, Changes{"copied decco-cni into " + c.BinDir}, changes)
	got, err := os.ReadFile(filepath.Join(c.BinDir, "decco-cni"))
	require.NoError(t, err)
	assert.Equal(t, big, got)
}

package regions

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/decco-dev/decco/spacectl"
	"github.com/decco-dev/decco/test/controlplane"
)

// kubeconfig writes one file with a context per cluster, named as given,
// as a platform engineer's kubeconfig holds their regions.
func kubeconfig(t *testing.T, clusters map[string]*controlplane.Cluster) string {
	t.Helper()
	out := clientcmdapi.NewConfig()
	for name, c := range clusters {
		kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
		require.NoError(t, err)
		cur := kc.Contexts[kc.CurrentContext]
		require.NotNil(t, cur)
		out.Clusters[name] = kc.Clusters[cur.Cluster]
		out.AuthInfos[name] = kc.AuthInfos[cur.AuthInfo]
		out.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
		out.CurrentContext = name
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*out, path))
	return path
}

// spacectlGlobal runs `spacectl get spaces --global` across both
// clusters and the zone, and returns its table.
func spacectlGlobal(t *testing.T) string {
	t.Helper()
	path := kubeconfig(t, map[string]*controlplane.Cluster{"east": east, "west": west})
	var stdout, stderr bytes.Buffer
	code := spacectl.Run(context.Background(), []string{spacectl.StandaloneName, "get", "spaces", "--global", "--kubeconfig", path,
		"--contexts", "east,west", "--dns-server", named.Addr},
		genericiooptions.IOStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &stderr})
	require.Equal(t, 0, code, "stderr: %s", stderr.String())
	return stdout.String()
}

// checkGlobalView: each cluster's view shows its region, with west's
// state as given; the zone's lists east's record (and west's when it is
// published) and the record another tool made.
func checkGlobalView(t *testing.T, westState string, westInZone bool) {
	t.Helper()
	out := spacectlGlobal(t)
	t.Logf("spacectl get spaces --global:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := 5 // header, a region per context, east's record and the foreign one in the zone
	if westInZone {
		want++
	}
	require.Len(t, lines, want, out)
	assert.Regexp(t, `^GLOBAL NAME\s+SEEN BY\s+REGION\s+HEALTH\s+AT THE NAME\s+ADDRESSES`, lines[0])
	assert.Regexp(t, `foo\.platform9\.test\s+context east\s+foo-east\s+Ready\s+published`, out)
	assert.Regexp(t, `foo\.platform9\.test\s+context west\s+foo-west\s+`+westState, out)
	assert.Regexp(t, `dns 127\.0\.0\.1:\d+\s+cluster-east/foo-east\s+-\s+published\s+192\.0\.2\.1`, out)
	assert.Regexp(t, `dns 127\.0\.0\.1:\d+\s+\(not decco's\)\s+-\s+served\s+`+foreignAddr, out)
}

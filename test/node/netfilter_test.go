package node

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUndoScript(t *testing.T) {
	const before = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:MINE - [0:0]
-A INPUT -s 192.0.2.0/24 -j MINE
-A MINE -j ACCEPT
COMMIT
`
	tests := []struct {
		name, now, want string
	}{
		{name: "nothing added", now: before, want: ""},
		{
			name: "chains and rules added, the machine's own kept",
			now: `*raw
:PREROUTING ACCEPT [0:0]
:DECCO-NODE-GUARD - [0:0]
-A PREROUTING -i decco0 -j DECCO-NODE-GUARD
-A DECCO-NODE-GUARD -j DROP
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:MINE - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-ROUTER-FORWARD - [0:0]
-A INPUT -s 192.0.2.0/24 -j MINE
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "kube-router netpol" -j KUBE-ROUTER-FORWARD
-A MINE -j ACCEPT
-A MINE -p tcp -j KUBE-FIREWALL
-A KUBE-FIREWALL -j DROP
COMMIT
`,
			want: `*raw
-D PREROUTING -i decco0 -j DECCO-NODE-GUARD
-F DECCO-NODE-GUARD
-X DECCO-NODE-GUARD
COMMIT
*filter
-D INPUT -j KUBE-FIREWALL
-D FORWARD -m comment --comment "kube-router netpol" -j KUBE-ROUTER-FORWARD
-D MINE -p tcp -j KUBE-FIREWALL
-F KUBE-FIREWALL
-F KUBE-ROUTER-FORWARD
-X KUBE-FIREWALL
-X KUBE-ROUTER-FORWARD
COMMIT
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, undoScript(before, tt.now))
		})
	}
}

func TestParseMountsUnder(t *testing.T) {
	const mountinfo = `22 1 0:21 / / rw - ext4 /dev/vda rw
100 22 0:50 / /tmp/decco-node-1/containerd/state/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw - overlay overlay rw
101 22 0:51 / /tmp/decco-node-1/kubelet/pods/uid/volumes/kubernetes.io~secret/decco\040tls rw - tmpfs tmpfs rw
102 22 0:52 / /tmp/decco-node-10 rw - tmpfs tmpfs rw
103 22 0:53 / /tmp/decco-node-1 rw - tmpfs tmpfs rw
`
	got := parseMountsUnder(strings.NewReader(mountinfo), "/tmp/decco-node-1")
	assert.Equal(t, []string{
		"/tmp/decco-node-1/containerd/state/io.containerd.runtime.v2.task/k8s.io/abc/rootfs",
		"/tmp/decco-node-1/kubelet/pods/uid/volumes/kubernetes.io~secret/decco tls",
		"/tmp/decco-node-1",
	}, got)
}

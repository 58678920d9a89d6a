package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/decco-dev/decco/intercept"
	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/sidecar/sidecartest"
	"github.com/decco-dev/decco/test/prereq"
)

// TestInterceptionCarriesBothFamilies runs the whole data path of cni
// interception between two network namespaces joined by a veth pair with
// an IPv4 and an IPv6 address each, as two dual-stack pods: the plan's
// rules installed by this plugin's install, the real decco-sidecar (and
// stunnel) in each as the sidecar's user. An app in the client namespace
// dials the server's app port by address, in each family; its sidecar
// opens mutual TLS to the original destination, the server's sidecar
// hands the connection to the app on that same port. The server app sees
// its own address as the peer: the connection came through its sidecar.
func TestInterceptionCarriesBothFamilies(t *testing.T) {
	client, clientPath := netns(t)
	server, serverPath := netns(t)
	stunnel := sidecartest.RequireStunnel(t)
	prereq.Command(t, "apt-get install util-linux", "setpriv")
	link := func(args ...string) {
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	va, vb := "dcA"+client[len(client)-4:], "dcB"+server[len(server)-4:]
	link("link", "add", va, "netns", client, "type", "veth", "peer", "name", vb, "netns", server)
	for _, c := range [][]string{
		{"-n", client, "addr", "add", "10.123.0.1/24", "dev", va}, {"-n", client, "addr", "add", "fd12:3::1/64", "dev", va, "nodad"},
		{"-n", server, "addr", "add", "10.123.0.2/24", "dev", vb}, {"-n", server, "addr", "add", "fd12:3::2/64", "dev", vb, "nodad"},
		{"-n", client, "link", "set", va, "up"}, {"-n", server, "link", "set", vb, "up"},
		{"-n", client, "link", "set", "lo", "up"}, {"-n", server, "link", "set", "lo", "up"},
	} {
		link(c...)
	}

	plan := intercept.Plan{Version: intercept.Version, SidecarUID: 65532,
		Inbound: intercept.Inbound{Port: sidecar.InboundPort},
		Outbound: intercept.Outbound{Port: sidecar.OutboundPort,
			CIDRs: []netip.Prefix{netip.MustParsePrefix("10.123.0.0/24"), netip.MustParsePrefix("fd12:3::/64")}},
		CheckPort: sidecar.CheckPort, HealthPort: sidecar.HealthPort}
	for _, p := range []string{clientPath, serverPath} {
		require.NoError(t, ns.WithNetNSPath(p, func(ns.NetNS) error { return install(plan) }))
	}

	// Certificates readable by the sidecar's user, as the Secret volume's.
	ca := sidecartest.NewCA(t, "acme")
	dir := sidecartest.NewCertDir(t, ca.Issue(t, sidecartest.SpaceNames("acme")...), ca).Dir
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.Mode()&os.ModeSymlink != 0 {
			return err
		}
		if fi.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return os.Chmod(p, 0o644)
	}))
	bin, err := sidecartest.Build(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, os.Chmod(filepath.Dir(bin), 0o755))
	cfg := sidecar.Config{CertDir: dir, HealthPort: sidecar.HealthPort, CheckPort: sidecar.CheckPort,
		Inbound: []sidecar.Inbound{{Port: sidecar.InboundPort, VerifyClient: true}}, OutboundPort: sidecar.OutboundPort}
	var sidecars []int
	for _, n := range []string{client, server} {
		cmd := exec.Command("ip", append([]string{"netns", "exec", n, "setpriv", "--reuid=65532", "--regid=65532", "--clear-groups", bin}, cfg.Args()...)...)
		cmd.Env = append(os.Environ(), "DECCO_STUNNEL="+stunnel)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		sidecars = append(sidecars, cmd.Process.Pid) // ip and setpriv exec it
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("sidecar in %s:\n%s", n, out.String())
			}
		})
	}

	// The server's app: a dual-stack echo that names the peer it sees.
	var ln net.Listener
	require.NoError(t, ns.WithNetNSPath(serverPath, func(ns.NetNS) error {
		var err error
		ln, err = net.Listen("tcp", "[::]:7000")
		return err
	}))
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Fprintf(c, "peer %s said %s", c.RemoteAddr(), line)
			c.Close()
		}
	})
	defer wg.Wait()
	defer ln.Close()

	for _, p := range []string{clientPath, serverPath} {
		waitReady(t, p)
	}
	for _, tc := range []struct{ dst, self string }{{"10.123.0.2", "10.123.0.2"}, {"fd12:3::2", "[fd12:3::2]"}} {
		var got string
		require.NoError(t, ns.WithNetNSPath(clientPath, func(ns.NetNS) error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(tc.dst, "7000"), 5*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintln(c, "hello")
			b, err := io.ReadAll(c)
			got = string(b)
			return err
		}))
		assert.True(t, strings.HasPrefix(got, "peer "+tc.self+":"), "the server's app saw %q: the connection must arrive through its own sidecar", got)
		assert.Contains(t, got, "said hello")
	}

	// A client that dials a transparent listener directly (no redirect)
	// gives stunnel the listener itself as the original destination. The
	// guard refuses stunnel's connection to itself, so the client's
	// connection is closed at once; without it stunnel would dial itself
	// in a loop until the container's memory ran out.
	for _, addr := range []string{"127.0.0.1:15001", "[::1]:15001", "10.123.0.1:15006", "[fd12:3::1]:15006", "10.123.0.2:15006"} {
		require.NoError(t, ns.WithNetNSPath(clientPath, func(ns.NetNS) error {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return nil // refused outright: no loop either
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintln(c, "hello")
			_, err = io.ReadAll(c)
			var ne net.Error
			assert.False(t, errors.As(err, &ne) && ne.Timeout(), "%s: a direct connection must be closed, not held by a loop", addr)
			return nil
		}))
	}
	for _, pid := range sidecars {
		for _, child := range children(pid) {
			threads, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", child))
			require.NoError(t, err)
			assert.Less(t, len(threads), 16, "stunnel (pid %d) spawned a thread per looped connection", child)
		}
	}
	waitReady(t, clientPath)
}

// children are the child processes of pid.
func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// waitReady polls the sidecar's /ready inside the namespace at path: it
// includes the interception check, in both families.
func waitReady(t *testing.T, path string) {
	t.Helper()
	var last string
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		// Dialled on this goroutine, whose thread is in the namespace
		// (an http.Client would dial from another thread).
		_ = ns.WithNetNSPath(path, func(ns.NetNS) error {
			c, err := net.DialTimeout("tcp", "127.0.0.1:15021", time.Second)
			if err != nil {
				last = err.Error()
				return nil
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			fmt.Fprint(c, "GET /ready HTTP/1.0\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				last = err.Error()
				return nil
			}
			b, _ := io.ReadAll(resp.Body)
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			return nil
		})
		if strings.HasPrefix(last, "200") {
			return
		}
	}
	t.Fatalf("sidecar in %s not ready: %s", path, last)
}

//go:build linux

package replicas

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/decco-dev/decco/test/prereq"
)

// netns is a network namespace of the test's own, joined to the host by a
// veth pair: the webhook replicas live at its addresses, which (unlike
// loopback) an EndpointSlice may carry. Nothing else is ever dialed.
type netns struct {
	name string
	// prefix is the /24 of the pair, "10.250.N."; the host end is .1.
	prefix string
	hostIf string
}

// requireNetns applies prereq's rule to what network namespaces need:
// root, and iproute2's ip.
func requireNetns(t *testing.T) {
	t.Helper()
	prereq.Root(t, "network namespaces put webhook replicas behind a Service")
	prereq.Command(t, "apt-get install iproute2", "ip")
}

// newNetns creates the namespace and the veth pair, with one address per
// replica in the namespace, and removes them when the test ends.
func newNetns(t *testing.T, replicas int) *netns {
	t.Helper()
	reapStaleNetns()
	id := os.Getpid()
	n := &netns{name: fmt.Sprintf("decco-rel-%d", id), prefix: fmt.Sprintf("10.250.%d.", 100+id%100), hostIf: fmt.Sprintf("dr%dh", id)}
	peer := fmt.Sprintf("dr%dp", id)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", n.hostIf).Run()
		_ = exec.Command("ip", "netns", "del", n.name).Run()
	})
	steps := [][]string{
		{"netns", "add", n.name},
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", n.name},
		{"addr", "add", n.prefix + "1/24", "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"-n", n.name, "link", "set", "lo", "up"},
		{"-n", n.name, "link", "set", peer, "up"},
	}
	for i := range replicas {
		steps = append(steps, []string{"-n", n.name, "addr", "add", n.replicaIP(i) + "/24", "dev", peer})
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return n
}

// reapStaleNetns removes the namespaces (and veth pairs) of test runs
// that died before their cleanup ran: the name carries the owner's pid.
func reapStaleNetns() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		idText, ok := strings.CutPrefix(name, "decco-rel-")
		id, err := strconv.Atoi(idText)
		if !ok || err != nil || id == os.Getpid() || syscall.Kill(id, 0) == nil {
			continue
		}
		_ = exec.Command("ip", "link", "del", fmt.Sprintf("dr%dh", id)).Run()
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}

// replicaIP is the address of replica i inside the namespace.
func (n *netns) replicaIP(i int) string { return fmt.Sprintf("%s%d", n.prefix, 2+i) }

// forwardToHost listens on loopback inside the namespace and forwards each
// connection to target, a loopback address of the host: how the replicas
// reach the apiserver, which listens on the host's loopback only. It
// returns the port it listens on.
func (n *netns) forwardToHost(t *testing.T, target string) int {
	t.Helper()
	l, err := n.listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening inside %s: %v", n.name, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go pipe(in, target)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func pipe(in net.Conn, target string) {
	defer in.Close()
	out, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer out.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
	go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
	<-done
}

// listen opens a TCP listener inside the namespace: on a thread switched
// into it for the socket call only (a socket stays in the namespace it was
// made in). The thread is not switched back but left to die with its
// goroutine, so no other goroutine ever runs in the namespace.
func (n *netns) listen(addr string) (net.Listener, error) {
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		f, err := os.Open("/var/run/netns/" + n.name)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns %s: %w", n.name, err)}
			return
		}
		l, err := net.Listen("tcp", addr)
		ch <- result{l, err}
	}()
	r := <-ch
	return r.l, r.err
}

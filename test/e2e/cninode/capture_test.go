package cninode

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// capture reads every frame on the node's interfaces but loopback (the
// bridge and every pod's host-side veth) through an AF_PACKET socket, as
// tcpdump would, and reports which of the markers any frame carried.
type capture struct {
	fd      int
	markers [][]byte
	mu      sync.Mutex
	seen    map[string]int
	frames  int
	done    chan struct{}
	exited  chan struct{}
}

func startCapture(t *testing.T, markers ...string) *capture {
	t.Helper()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatalf("AF_PACKET socket (needs root): %v", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	c := &capture{fd: fd, seen: map[string]int{}, done: make(chan struct{}), exited: make(chan struct{})}
	for _, m := range markers {
		c.markers = append(c.markers, []byte(m))
	}
	lo, _ := net.InterfaceByName("lo")
	go c.run(lo.Index)
	t.Cleanup(c.stop)
	return c
}

func (c *capture) run(loIndex int) {
	defer close(c.exited)
	defer unix.Close(c.fd)
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil || n <= 0 {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Ifindex == loIndex {
			continue
		}
		c.mu.Lock()
		c.frames++
		for _, m := range c.markers {
			if bytes.Contains(buf[:n], m) {
				c.seen[string(m)]++
			}
		}
		c.mu.Unlock()
	}
}

func (c *capture) stop() {
	select {
	case <-c.done:
	default:
		close(c.done)
		<-c.exited
	}
}

// result is how many frames were read and how many carried each marker.
func (c *capture) result() (int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.seen {
		out[k] = v
	}
	return c.frames, out
}

// resultAfter is result once the capture has read marker, or after 10 s
// without it. The capture reads behind the traffic: once it has read a
// marker, it has read every frame sent before it, so a payload sent
// earlier and not seen was never on the wire.
func (c *capture) resultAfter(marker string) (int, map[string]int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		frames, seen := c.result()
		if seen[marker] > 0 || time.Now().After(deadline) {
			return frames, seen
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

package bench

import (
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decco-dev/decco/sidecar/sidecartest"
)

// dialer opens a connection to a port on loopback.
type dialer func(port int32) (net.Conn, error)

const (
	rateFor     = 2 * time.Second // per connection-rate sample
	rateClients = 4               // goroutines opening connections
)

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// latency does requests round trips on one connection and returns p50, p99.
func latency(t *testing.T, dial dialer, port int32) (time.Duration, time.Duration) {
	conn, err := dial(port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	samples := make([]time.Duration, 0, requests)
	for i := 0; i < requests+200; i++ {
		start := time.Now()
		if err := roundTrip(conn); err != nil {
			t.Fatal(err)
		}
		if i >= 200 { // warm-up
			samples = append(samples, time.Since(start))
		}
	}
	slices.Sort(samples)
	return samples[len(samples)/2], samples[len(samples)*99/100]
}

// roundTrip sends reqSize bytes and reads the echo.
func roundTrip(conn net.Conn) error {
	var req, resp [reqSize]byte
	if _, err := conn.Write(req[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(conn, resp[:])
	return err
}

// bulkServer writes bulkBytes to every connection and closes it.
func bulkServer(t *testing.T, port int32) {
	ln, err := net.Listen("tcp", sidecartest.Addr(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	buf := make([]byte, 64<<10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for n := 0; n < bulkBytes; n += len(buf) {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// throughput reads one bulk transfer and returns MB/s (10^6 bytes).
func throughput(t *testing.T, dial dialer, port int32) float64 {
	start := time.Now()
	conn, err := dial(port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n, err := io.Copy(io.Discard, conn)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatal(err)
	}
	if n != bulkBytes {
		t.Fatalf("read %d bytes, want %d", n, bulkBytes)
	}
	return float64(n) / 1e6 / time.Since(start).Seconds()
}

// rate is one connection-rate sample.
type rate struct {
	perSec  float64
	resumed float64 // fraction of connections that resumed a TLS session
	cpu     float64 // the terminator's CPU µs per connection
}

// connectRate opens new connections to term's echo port, each carrying one
// round trip, from rateClients goroutines for rateFor.
func connectRate(t *testing.T, dial dialer, port int32, pids []int) rate {
	var n, failed, resumed atomic.Int64
	cpu0 := cpuTime(pids)
	end := time.Now().Add(rateFor)
	var wg sync.WaitGroup
	for range rateClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				c, err := dial(port)
				if err != nil {
					failed.Add(1)
					continue
				}
				if err := roundTrip(c); err != nil {
					failed.Add(1)
				} else {
					n.Add(1)
				}
				if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().DidResume {
					resumed.Add(1)
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	if failed.Load() > n.Load()/100 {
		t.Errorf("port %d: %d of %d connections failed", port, failed.Load(), n.Load()+failed.Load())
	}
	conns := float64(max(n.Load(), 1))
	return rate{perSec: float64(n.Load()) / rateFor.Seconds(), resumed: float64(resumed.Load()) / conns,
		cpu: us(cpuTime(pids)-cpu0) / conns}
}

// holdOpen opens openConns connections to term, each with a round trip,
// and returns term's RSS while they are all open.
func holdOpen(t *testing.T, dial dialer, term terminator) float64 {
	conns := make([]net.Conn, 0, openConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range openConns {
		c, err := dial(term.echo)
		if err != nil {
			t.Fatalf("%s: connection %d: %v", term.name, len(conns), err)
		}
		conns = append(conns, c)
		if err := roundTrip(c); err != nil {
			t.Fatalf("%s: connection %d: %v", term.name, len(conns), err)
		}
	}
	return rssMiB(term.pids())
}

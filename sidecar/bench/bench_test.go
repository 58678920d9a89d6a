// Package bench measures what the TLS sidecar costs against a direct
// loopback connection, in the same run: added latency per request over a
// kept-alive mutual-TLS connection, bulk throughput, and mutual-TLS
// handshakes per second (ECDSA P-256, client certificate, no resumption).
//
// It runs the real decco-sidecar binary and stunnel4 and only when asked:
//
//	DECCO_BENCH=1 go test ./sidecar/bench -run TestSidecarBench -v -count=1
package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decco-dev/decco/sidecar"
	"github.com/decco-dev/decco/sidecar/sidecartest"
)

const (
	requests   = 5000 // round trips per latency sample
	reqSize    = 64   // bytes per request and response
	bulkBytes  = 256 << 20
	handshakeD = 3 * time.Second
)

func TestSidecarBench(t *testing.T) {
	if os.Getenv("DECCO_BENCH") == "" {
		t.Skip("benchmark: set DECCO_BENCH=1 to run")
	}
	sidecartest.RequireStunnel(t)
	bin, err := sidecartest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ca := sidecartest.NewCA(t, "acme")
	leaf := ca.Issue(t, sidecartest.SpaceNames("acme")...)
	client := ca.Issue(t, sidecartest.SpaceNames("acme")...)
	dir := sidecartest.NewCertDir(t, leaf, ca)

	echoPort, bulkPort := sidecartest.FreePort(t), sidecartest.FreePort(t)
	sidecartest.EchoServer(ctx, t, echoPort)
	bulkServer(t, bulkPort)
	start := func(level string) (echoTLS, bulkTLS int32) {
		cfg := sidecar.Config{CertDir: dir.Dir, HealthPort: sidecartest.FreePort(t), LogLevel: level,
			Listeners: []sidecar.Listener{
				{Name: "echo", Port: sidecartest.FreePort(t), AppPort: echoPort, VerifyClient: true},
				{Name: "bulk", Port: sidecartest.FreePort(t), AppPort: bulkPort, VerifyClient: true}}}
		p := sidecartest.Start(t, bin, cfg)
		p.WaitReady(t, 15*time.Second)
		return cfg.Listeners[0].Port, cfg.Listeners[1].Port
	}
	echoTLS, bulkTLS := start("")
	echoWarn, _ := start("warn")
	tlsCfg := ca.ClientTLS(&client, "echo.acme.example.com")
	plain := func(port int32) (net.Conn, error) { return net.Dial("tcp", sidecartest.Addr(port)) }
	viaTLS := func(port int32) (net.Conn, error) { return tls.Dial("tcp", sidecartest.Addr(port), tlsCfg) }

	dp50, dp99 := latency(t, plain, echoPort)
	sp50, sp99 := latency(t, viaTLS, echoTLS)
	dBulk := throughput(t, plain, bulkPort)
	sBulk := throughput(t, viaTLS, bulkTLS)
	dConn := connectRate(t, plain, echoPort)
	sHS := connectRate(t, viaTLS, echoTLS)
	sHSWarn := connectRate(t, viaTLS, echoWarn)

	var b strings.Builder
	fmt.Fprintf(&b, "\n| metric | direct loopback | via sidecar (stunnel) | ratio / added |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| request p50 (%d B, kept-alive) | %s | %s | +%s |\n", reqSize, us(dp50), us(sp50), us(sp50-dp50))
	fmt.Fprintf(&b, "| request p99 | %s | %s | +%s |\n", us(dp99), us(sp99), us(sp99-dp99))
	fmt.Fprintf(&b, "| bulk throughput (%d MiB) | %.0f MB/s | %.0f MB/s | %.2fx |\n", bulkBytes>>20, dBulk, sBulk, sBulk/dBulk)
	fmt.Fprintf(&b, "| new connections/s (TCP vs mTLS P-256 handshake) | %.0f | %.0f | %.3fx |\n", dConn, sHS, sHS/dConn)
	fmt.Fprintf(&b, "| mTLS handshakes/s, --log-level=warn | | %.0f | |\n", sHSWarn)
	t.Log(b.String())
	fmt.Print(b.String())
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

// latency does requests round trips on one connection and returns p50, p99.
func latency(t *testing.T, dial func(int32) (net.Conn, error), port int32) (time.Duration, time.Duration) {
	conn, err := dial(port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, resp := make([]byte, reqSize), make([]byte, reqSize)
	samples := make([]time.Duration, 0, requests)
	for i := 0; i < requests+200; i++ {
		start := time.Now()
		if _, err := conn.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, resp); err != nil {
			t.Fatal(err)
		}
		if i >= 200 { // warm-up
			samples = append(samples, time.Since(start))
		}
	}
	slices.Sort(samples)
	return samples[len(samples)/2], samples[len(samples)*99/100]
}

// bulkServer writes bulkBytes to every connection and closes it.
func bulkServer(t *testing.T, port int32) {
	ln := sidecartest.Listen(t, port)
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
func throughput(t *testing.T, dial func(int32) (net.Conn, error), port int32) float64 {
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

// connectRate opens new connections (each a full handshake, no session
// resumption) from two goroutines for handshakeD and returns them per second.
func connectRate(t *testing.T, dial func(int32) (net.Conn, error), port int32) float64 {
	var n, failed atomic.Int64
	end := time.Now().Add(handshakeD)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				c, err := dial(port)
				if err != nil {
					failed.Add(1)
					continue
				}
				if tc, ok := c.(*tls.Conn); ok && tc.Handshake() != nil {
					failed.Add(1)
				} else {
					n.Add(1)
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	if failed.Load() > n.Load()/100 {
		t.Errorf("%d of %d connections failed", failed.Load(), n.Load()+failed.Load())
	}
	return float64(n.Load()) / handshakeD.Seconds()
}

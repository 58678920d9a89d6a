// Package bench measures what the TLS sidecar costs, in one run, against a
// direct loopback connection and against two other programs doing the same
// mutual-TLS termination with the same certificates: a minimal Go
// crypto/tls terminator (the floor: what TLS itself costs) and HAProxy
// (the peer). For each it reports the added latency per request over a
// kept-alive connection, bulk throughput, new mutual-TLS connections per
// second (full handshakes, and resumed ones for TLS 1.3 and 1.2) and its
// resident memory idle and holding 1,000 open connections.
//
// It runs the real decco-sidecar binary, stunnel4 and haproxy, and only
// when asked:
//
//	DECCO_BENCH=1 go test ./sidecar/bench -run TestSidecarBench -v -count=1
package bench

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/decco-dev/decco/sidecar/sidecartest"
)

const (
	requests   = 5000 // round trips per latency sample
	reqSize    = 64   // bytes per request and response
	bulkBytes  = 256 << 20
	openConns  = 1000 // connections held open for the memory figure
	rateRounds = 3    // connection-rate rounds per terminator, interleaved; the median counts
)

// result is what one terminator measured.
type result struct {
	name               string
	p50, p99           float64 // µs added over direct loopback
	bulk               float64 // MB/s
	full, res13, res12 rate    // new connections
	idle, loaded       float64 // RSS MiB
}

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

	up := upstreams{echo: sidecartest.FreePort(t), bulk: sidecartest.FreePort(t)}
	sidecartest.EchoServer(ctx, t, up.echo)
	bulkServer(t, up.bulk)
	terms := []terminator{
		goTerminator(t, dir.Dir, up),
		haproxyTerminator(t, dir.Dir, up),
		sidecarTerminator(t, bin, dir.Dir, up, ""),
		sidecarTerminator(t, bin, dir.Dir, up, "warn"),
	}
	tlsCfg := func(maxVersion uint16, resume bool) dialer {
		cfg := ca.ClientTLS(&client, "echo.acme.example.com")
		cfg.MaxVersion = maxVersion
		if resume {
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
		}
		return func(port int32) (net.Conn, error) { return tls.Dial("tcp", sidecartest.Addr(port), cfg) }
	}
	plain := func(port int32) (net.Conn, error) { return net.Dial("tcp", sidecartest.Addr(port)) }
	full := tlsCfg(0, false)

	direct := result{name: "direct loopback (no TLS)"}
	dp50, dp99 := latency(t, plain, up.echo)
	direct.p50, direct.p99 = us(dp50), us(dp99)
	direct.bulk = throughput(t, plain, up.bulk)
	res := make([]result, len(terms))
	for i, term := range terms {
		res[i].name = term.name
		res[i].idle = rssMiB(term.pids())
		p50, p99 := latency(t, full, term.echo)
		res[i].p50, res[i].p99 = us(p50)-direct.p50, us(p99)-direct.p99
		res[i].bulk = throughput(t, full, term.bulk)
	}
	direct.full = connectRate(t, plain, up.echo, nil)
	// Connection rates move most with the machine's other load: rounds
	// alternate between the terminators and each reports its median.
	rates := func(d dialer, set func(*result, rate)) {
		samples := make([][]rate, len(terms))
		for range rateRounds {
			for i, term := range terms {
				samples[i] = append(samples[i], connectRate(t, d, term.echo, term.pids()))
			}
		}
		for i := range terms {
			set(&res[i], medianRate(samples[i]))
		}
	}
	rates(full, func(r *result, v rate) { r.full = v })
	rates(tlsCfg(tls.VersionTLS13, true), func(r *result, v rate) { r.res13 = v })
	rates(tlsCfg(tls.VersionTLS12, true), func(r *result, v rate) { r.res12 = v })
	for i, term := range terms {
		res[i].loaded = holdOpen(t, full, term)
	}
	report := table(direct, res) + keyTypes(t, bin, up, res[:3])
	t.Log(report)
	fmt.Print(report)
}

// keyTypes measures full handshakes again with Ed25519 certificates,
// against p256 (the same terminators' results with ECDSA P-256), and
// renders the comparison.
func keyTypes(t *testing.T, bin string, up upstreams, p256 []result) string {
	ca := sidecartest.NewCAWith(t, "acme", sidecartest.Ed25519)
	leaf := ca.Issue(t, sidecartest.SpaceNames("acme")...)
	client := ca.Issue(t, sidecartest.SpaceNames("acme")...)
	dir := sidecartest.NewCertDir(t, leaf, ca)
	terms := []terminator{goTerminator(t, dir.Dir, up), haproxyTerminator(t, dir.Dir, up), sidecarTerminator(t, bin, dir.Dir, up, "")}
	cfg := ca.ClientTLS(&client, "echo.acme.example.com")
	dial := func(port int32) (net.Conn, error) { return tls.Dial("tcp", sidecartest.Addr(port), cfg) }
	samples := make([][]rate, len(terms))
	for range rateRounds {
		for i, term := range terms {
			samples[i] = append(samples[i], connectRate(t, dial, term.echo, term.pids()))
		}
	}
	var b strings.Builder
	b.WriteString("\nKey type of the space's certificates (server and client), full mutual-TLS handshakes:\n\n")
	b.WriteString("| terminator | P-256 conns/s | its CPU µs per conn | Ed25519 conns/s | its CPU µs per conn |\n| --- | ---: | ---: | ---: | ---: |\n")
	for i, term := range terms {
		ed := medianRate(samples[i])
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.0f |\n", term.name, p256[i].full.perSec, p256[i].full.cpu, ed.perSec, ed.cpu)
	}
	return b.String()
}

// medianRate is the sample with the median rate.
func medianRate(samples []rate) rate {
	s := slices.Clone(samples)
	slices.SortFunc(s, func(a, b rate) int { return cmp.Compare(a.perSec, b.perSec) })
	return s[len(s)/2]
}

// table renders the results with the Go terminator (res[0]) as the floor.
func table(direct result, res []result) string {
	var b strings.Builder
	floor := res[0]
	b.WriteString("\nTLS termination, mutual TLS with ECDSA P-256 certificates, in one run; × is the ratio to the Go crypto/tls terminator (the floor).\n\n")
	b.WriteString("| terminator | added p50 µs | added p99 µs | bulk MB/s | × | new conns/s, full handshake | × | its CPU µs per conn | resumed TLS 1.3, conns/s | × | resumed TLS 1.2, conns/s | × | RSS idle MiB | RSS, 1,000 conns MiB |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(&b, "| %s | %.0f (p50) | %.0f (p99) | %.0f | | %.0f (TCP) | | | | | | | | |\n", direct.name, direct.p50, direct.p99, direct.bulk, direct.full.perSec)
	for _, r := range res {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.2f | %.0f | %.2f | %.0f | %s | %.2f | %s | %.2f | %.1f | %.1f |\n",
			r.name, r.p50, r.p99, r.bulk, r.bulk/floor.bulk, r.full.perSec, r.full.perSec/floor.full.perSec, r.full.cpu,
			resumedCell(r.res13), r.res13.perSec/floor.res13.perSec, resumedCell(r.res12), r.res12.perSec/floor.res12.perSec,
			r.idle, r.loaded)
	}
	fmt.Fprintf(&b, "\nThe direct row gives absolute p50/p99 µs and TCP connections/s. Each new connection carries one %d-byte round trip; %d client goroutines share the machine's cores with the terminator; connection rates are the median of %d interleaved %s rounds.\n",
		reqSize, rateClients, rateRounds, rateFor)
	return b.String()
}

func resumedCell(r rate) string {
	return fmt.Sprintf("%.0f (%.0f%% resumed, %.0f µs CPU)", r.perSec, 100*r.resumed, r.cpu)
}

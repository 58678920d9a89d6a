// Command testapp is the one program of the test node's images: the pod
// sandbox's pause process, the workloads decco injects into (an HTTP server
// and a MySQL-style TCP server that speaks first) and the probes that
// measure what can connect to what.
//
//	testapp pause
//	testapp http  -listen :8080
//	testapp tcp   -listen :3306[,:33060...]
//	testapp member -listen :7000 -health :7001 -peers host:port,... -payload text
//	testapp agent -listen :9000    GET /connect?addr=host:port[&send=x][&timeout=1s]
//	testapp dial  -addr host:port -expect text
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testapp pause|http|tcp|agent|dial [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	listen := fs.String("listen", "", "address to listen on")
	addr := fs.String("addr", "", "address to dial")
	expect := fs.String("expect", "", "text the peer must send first")
	timeout := fs.Duration("timeout", 30*time.Second, "how long dial keeps trying")
	health := fs.String("health", "", "member: address serving /healthy")
	peers := fs.String("peers", "", "member: comma-separated host:port of the other members (or the primary)")
	payload := fs.String("payload", "", "member: text sent to every peer")
	_ = fs.Parse(args)
	var err error
	switch cmd {
	case "pause":
		waitForSignal()
	case "http":
		err = http.ListenAndServe(*listen, http.HandlerFunc(hello))
	case "tcp":
		err = serveAll(strings.Split(*listen, ","))
	case "member":
		err = member(*listen, *health, *peers, *payload)
	case "agent":
		err = http.ListenAndServe(*listen, http.HandlerFunc(connect))
	case "dial":
		err = dialUntil(*addr, *expect, *timeout)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func waitForSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// hello answers every HTTP request with the pod's name and the path.
func hello(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "hello from %s path %s\n", hostname(), r.URL.Path)
}

// greeting is what the TCP server sends first, as MySQL's server does.
func greeting() string { return "greeting from " + hostname() }

// serveAll serves serveTCP on each address, as brokers serve several ports.
func serveAll(addrs []string) error {
	errs := make(chan error, len(addrs))
	for _, a := range addrs {
		go func() { errs <- serveTCP(a) }()
	}
	return <-errs
}

// serveTCP greets each connection, then echoes lines back.
func serveTCP(listen string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			fmt.Fprintln(c, greeting())
			_, _ = io.Copy(c, c)
		}()
	}
}

// connect dials addr once and reports what happened: 200 with the first
// line the peer sent (empty if it sent nothing within the timeout), or 502
// with the error. The test runs probes through it, so a pod's view of the
// network is measured from inside the pod.
func connect(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("addr")
	timeout, err := time.ParseDuration(r.URL.Query().Get("timeout"))
	if err != nil {
		timeout = time.Second
	}
	c, err := net.DialTimeout("tcp", target, timeout)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer c.Close()
	if send := r.URL.Query().Get("send"); send != "" {
		fmt.Fprint(c, send)
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && line == "" && !isTimeout(err) && err != io.EOF {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprint(w, strings.TrimSpace(line))
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// dialUntil connects to addr until the peer's first line contains expect
// or timeout passes: a Job's whole work.
func dialUntil(addr, expect string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		line, err := firstLine(addr)
		if err == nil && strings.Contains(line, expect) {
			fmt.Println(line)
			return nil
		}
		last = fmt.Errorf("%s answered %q, %v", addr, line, err)
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("no %q from %s within %s: %v", expect, addr, timeout, last)
}

func firstLine(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// member behaves like a clustered server (a Redis replica syncing from its
// primary, a Kafka or Elasticsearch node dialing its peers by pod DNS name
// on the app port): it answers every line on listen with "ack <name>
// <line>", dials each peer every second sending payload, and serves
// /healthy on health, 200 only while every peer answered within the last
// 10 seconds. Its readiness probe is that endpoint, so a Ready member is a
// member that reaches all of its peers.
func member(listen, health, peerList, payload string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				fmt.Fprintf(c, "ack %s %s\n", hostname(), strings.TrimSpace(line))
			}()
		}
	}()
	var peers []string
	if peerList != "" {
		peers = strings.Split(peerList, ",")
	}
	var mu sync.Mutex
	last := map[string]time.Time{}
	lastErr := map[string]error{}
	for _, p := range peers {
		go func() {
			for {
				err := exchange(p, payload+" from "+hostname())
				mu.Lock()
				if err == nil {
					last[p] = time.Now()
				}
				lastErr[p] = err
				mu.Unlock()
				time.Sleep(time.Second)
			}
		}()
	}
	return http.ListenAndServe(health, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var missing []string
		for _, p := range peers {
			if time.Since(last[p]) > 10*time.Second {
				missing = append(missing, fmt.Sprintf("%s: %v", p, lastErr[p]))
			}
		}
		if len(missing) > 0 {
			http.Error(w, "unreachable peers: "+strings.Join(missing, "; "), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%d peers reached\n", len(peers))
	}))
}

// exchange sends one line to a peer and checks its acknowledgement.
func exchange(addr, line string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintln(c, line)
	ack, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no acknowledgement: %w", err)
	}
	if !strings.HasPrefix(ack, "ack ") {
		return fmt.Errorf("answered %q", ack)
	}
	return nil
}

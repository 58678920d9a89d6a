package supervisor

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/decco-dev/decco/sidecar"
)

// portCheck is one loopback port that must accept connections.
type portCheck struct {
	what string // "listen http-8443" or "egress 15001", for the 503 body
	port int32
	// transparent listeners are checked for a listening socket, never
	// dialed: a connection that reaches one without a redirect has the
	// listener itself as its original destination, and the rules refuse
	// the sidecar's own connections to it (intercept.GuardChain).
	transparent bool
}

func readinessChecks(c sidecar.Config) []portCheck {
	var checks []portCheck
	for _, l := range c.Listeners {
		checks = append(checks, portCheck{"listen " + ListenerService(l), l.Port, false})
	}
	for _, e := range c.Egress {
		checks = append(checks, portCheck{"egress " + EgressService(e), e.LocalPort, false})
	}
	for _, in := range c.Inbound {
		checks = append(checks, portCheck{InboundService(in), in.Port, true})
	}
	if c.OutboundPort != 0 {
		checks = append(checks, portCheck{OutboundService(c.OutboundPort, "ipv4"), c.OutboundPort, true})
	}
	return checks
}

// readyHandler answers 200 only when stunnel runs and every listener and
// egress port accepts a TCP connection on loopback; otherwise 503 with one
// line per problem.
func (s *supervisor) readyHandler(w http.ResponseWriter, _ *http.Request) {
	problems := s.notReady()
	for _, c := range s.checks {
		check := s.probe
		if c.transparent {
			check = listening
		}
		if err := check(c.port); err != nil {
			problems = append(problems, fmt.Sprintf("%s: port %d: %v", c.what, c.port, err))
		}
	}
	if s.cfg.CheckPort != 0 {
		problems = append(problems, s.checkInterception()...)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready:\n%s\n", strings.Join(problems, "\n"))
		return
	}
	fmt.Fprintln(w, "ready")
}

// probe connects to port on loopback and hangs up at once. The source port
// is registered first so the log forwarder can tell the probe from a client.
func (s *supervisor) probe(port int32) error {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return err
	}
	local := conn.LocalAddr().(*net.TCPAddr).Port
	s.probes.add(local)
	// Forget it later in case stunnel never logged the connection.
	time.AfterFunc(time.Minute, func() { s.probes.remove(local) })
	// A plain close, not a reset: stunnel must still be able to log the
	// peer address so the log forwarder can recognise the probe.
	return conn.Close()
}

// interceptedPath answers the interception check with the sidecar's token.
const interceptedPath = "/intercepted"

func (s *supervisor) interceptedHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, s.token)
}

// checkClient never reuses a connection: each check must go through the
// redirect again.
var checkClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// checkInterception dials CheckPort on loopback, in each family the pod
// has: only the CNI plugin's rule (for the sidecar's own user) leads
// there, to this health server, which answers with a token no one else
// knows. Without the rules nothing listens there, and the pod never
// becomes ready: interception fails closed.
func (s *supervisor) checkInterception() []string {
	hosts := []string{"127.0.0.1"}
	if s.cfg.IPv6 {
		hosts = append(hosts, "::1")
	}
	var problems []string
	for _, h := range hosts {
		u := "http://" + net.JoinHostPort(h, strconv.Itoa(int(s.cfg.CheckPort))) + interceptedPath
		if err := s.checkOnce(u); err != nil {
			problems = append(problems, fmt.Sprintf("interception rules not in place (%s): %v; the node's decco-cni plugin must run for this pod (see docs/design.md)", u, err))
		}
	}
	return problems
}

func (s *supervisor) checkOnce(u string) error {
	resp, err := checkClient.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if string(body) != s.token {
		return fmt.Errorf("answered by something other than this sidecar (%d)", resp.StatusCode)
	}
	return nil
}

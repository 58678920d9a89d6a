package sidecar

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// portCheck is one loopback port that must accept connections.
type portCheck struct {
	what string // "listen http-8443" or "egress 15001", for the 503 body
	port int32
}

func readinessChecks(c Config) []portCheck {
	var checks []portCheck
	for _, l := range c.Listeners {
		checks = append(checks, portCheck{"listen " + ListenerService(l), l.Port})
	}
	for _, e := range c.Egress {
		checks = append(checks, portCheck{"egress " + EgressService(e), e.LocalPort})
	}
	return checks
}

// readyHandler answers 200 only when stunnel runs and every listener and
// egress port accepts a TCP connection on loopback; otherwise 503 with one
// line per problem.
func (s *supervisor) readyHandler(w http.ResponseWriter, _ *http.Request) {
	problems := s.notReady()
	for _, c := range s.checks {
		if err := s.probe(c.port); err != nil {
			problems = append(problems, fmt.Sprintf("%s: port %d: %v", c.what, c.port, err))
		}
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

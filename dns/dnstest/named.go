// Package dnstest runs a real authoritative DNS server for tests: Debian's
// BIND 9 (named) on 127.0.0.1, serving primary zones that accept RFC 2136
// dynamic updates signed with a TSIG key. Nothing is mocked: what a test
// sees through Query is what any resolver asking that server would see.
//
// Tests call New, which applies test/prereq's rule when named is not
// installed: a failure in CI or with DECCO_REQUIRE_ALL=1, a recorded skip
// elsewhere. TestMain-style callers use Start and Stop directly, and each
// of their tests calls Require.
package dnstest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/decco-dev/decco/test/prereq"
	"github.com/decco-dev/decco/test/testkit"
)

// DefaultZone is the zone served when Options.Zones is empty.
const DefaultZone = "decco.test"

// Options says what the server serves.
type Options struct {
	// Zones are served as primaries that allow updates signed with the
	// key; default [DefaultZone]. Each starts with only its SOA, NS and the
	// name server's A record.
	Zones []string
	// KeyName is the TSIG key's name; default "decco-test".
	KeyName string
	// Algorithm is the TSIG algorithm as named spells it; default
	// "hmac-sha256".
	Algorithm string
	// ReadOnlyZones are served like Zones but take no updates, to test a
	// key the server knows but doesn't grant.
	ReadOnlyZones []string
	// TCPIdleTimeout, if set, is how long named keeps an idle TCP
	// connection open (BIND's default is 30s; the minimum 100ms).
	TCPIdleTimeout time.Duration
}

// Server is a running named.
type Server struct {
	// Addr is host:port for both UDP and TCP.
	Addr string
	// KeyName, Algorithm and Secret (base64) form the TSIG key the zones
	// accept updates with.
	KeyName, Algorithm, Secret string
	// Zones are the served zone names, without the trailing dot;
	// ReadOnlyZones those that take no updates.
	Zones, ReadOnlyZones []string
	// Dir holds the configuration, zone files and journals.
	Dir string

	tcpIdle time.Duration
	proc    *testkit.Proc
}

// Fix is how to get named on Debian.
const Fix = "apt-get install bind9"

// Binary finds named: on PATH, else in /usr/sbin (where Debian's bind9
// puts it, off an ordinary user's PATH).
func Binary() (string, error) {
	if p, ok := prereq.LookPath("named"); ok {
		return p, nil
	}
	return "", errors.New("named (BIND 9) is not installed: " + Fix)
}

// Require fails or skips t by prereq's rule when named is missing.
func Require(t testing.TB) {
	t.Helper()
	prereq.Command(t, Fix, "named")
}

// New starts a server for t and stops it when t ends. If named is missing
// it fails or skips t by prereq's rule.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	Require(t)
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("named log (%s):\n%s", s.Dir, s.Log())
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stopping named: %v", err)
		}
	})
	return s
}

// Start writes a configuration to a new temporary directory and starts
// named on a free loopback port, returning once it answers for every zone.
func Start(opts Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	// A free port found by binding can be taken before named binds it;
	// try a few.
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.start(bin); err == nil {
			return s, nil
		}
		_ = s.stopProcess()
	}
	_ = os.RemoveAll(s.Dir)
	return nil, err
}

func newServer(opts Options) (*Server, error) {
	s := &Server{
		Zones: canonical(opts.Zones), ReadOnlyZones: canonical(opts.ReadOnlyZones),
		KeyName: opts.KeyName, Algorithm: opts.Algorithm, tcpIdle: opts.TCPIdleTimeout,
	}
	if len(opts.Zones) == 0 {
		s.Zones = []string{DefaultZone}
	}
	if s.KeyName == "" {
		s.KeyName = "decco-test"
	}
	if s.Algorithm == "" {
		s.Algorithm = "hmac-sha256"
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	s.Secret = base64.StdEncoding.EncodeToString(secret)
	dir, err := os.MkdirTemp("", "dnstest-named-")
	if err != nil {
		return nil, err
	}
	s.Dir = dir
	return s, nil
}

func canonical(zones []string) []string {
	out := make([]string, len(zones))
	for i, z := range zones {
		out[i] = strings.TrimSuffix(strings.ToLower(z), ".")
	}
	return out
}

func (s *Server) start(bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := s.writeConfig(port); err != nil {
		return err
	}
	// -g: foreground, log to stderr; -n 1: one worker thread (the test
	// machine is shared); -c: our config, not /etc/bind.
	s.proc, err = testkit.Start("named", exec.Command(bin, "-g", "-n", "1", "-c", filepath.Join(s.Dir, "named.conf")))
	if err != nil {
		return err
	}
	if err := s.waitReady(15 * time.Second); err != nil {
		return fmt.Errorf("named on %s did not come up: %w\nnamed log:\n%s", s.Addr, err, s.Log())
	}
	return nil
}

// waitReady polls every zone's SOA until named answers authoritatively.
func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, zone := range append(slices.Clone(s.Zones), s.ReadOnlyZones...) {
		for {
			select {
			case <-s.proc.Exited():
				return errors.New("named exited")
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			rrs, err := s.Query(ctx, zone, dns.TypeSOA)
			cancel()
			if err == nil && len(rrs) > 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("zone %s not served after %s (last error: %v)", zone, timeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// Stop terminates named and removes its directory. Safe to call twice.
func (s *Server) Stop() error {
	err := s.stopProcess()
	return errors.Join(err, os.RemoveAll(s.Dir))
}

func (s *Server) stopProcess() error {
	if s.proc == nil {
		return nil
	}
	return s.proc.Stop(syscall.SIGTERM, 5*time.Second)
}

// Log is named's output so far.
func (s *Server) Log() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.Log()
}

// freePort returns a port free for both TCP and UDP on 127.0.0.1.
func freePort() (int, error) {
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port, nil
		}
	}
	return 0, errors.New("no port free for both TCP and UDP on 127.0.0.1")
}

package dnstest

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The server answers authoritatively for its zones, refuses others, and
// applies updates signed with its key.
func TestServerServesZonesAndAcceptsSignedUpdates(t *testing.T) {
	s := New(t, Options{Zones: []string{"one.test", "Two.Test."}})
	if got := s.Values(t, "ns.one.test", dns.TypeA); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Fatalf("ns.one.test A = %v, want [127.0.0.1]", got)
	}
	if got := s.Values(t, "two.test", dns.TypeSOA); len(got) != 1 {
		t.Fatalf("two.test SOA = %v, want one record", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := new(dns.Msg)
	m.SetQuestion("elsewhere.example.", dns.TypeSOA)
	r, err := dns.ExchangeContext(ctx, m, s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeRefused {
		t.Fatalf("query outside the zones: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}

	s.Insert(t, "www.two.test. 60 IN A 192.0.2.7", "www.two.test. 60 IN TXT \"hello\"")
	if got := s.Values(t, "www.two.test", dns.TypeA); len(got) != 1 || got[0] != "192.0.2.7" {
		t.Fatalf("after update, www.two.test A = %v", got)
	}
	if got := s.TTL(t, "www.two.test", dns.TypeA); got != 60 {
		t.Fatalf("TTL = %d, want 60", got)
	}
	if got := s.Values(t, "www.two.test", dns.TypeTXT); len(got) != 1 || got[0] != "hello" {
		t.Fatalf("TXT = %v", got)
	}
}

// An update signed with a key the server doesn't know is refused.
func TestServerRejectsWrongKey(t *testing.T) {
	s := New(t, Options{})
	wrong := &Server{Addr: s.Addr, KeyName: s.KeyName, Algorithm: s.Algorithm, Secret: "c2VjcmV0LXRoYXQtZG9lcy1ub3QtbWF0Y2gtYW55dGhpbmc="}
	rr, _ := dns.NewRR("x." + DefaultZone + ". 60 IN A 192.0.2.1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wrong.Update(ctx, DefaultZone, []dns.RR{rr}, nil); err == nil {
		t.Fatal("update with a wrong secret succeeded")
	}
	if got := s.Values(t, "x."+DefaultZone, dns.TypeA); len(got) != 0 {
		t.Fatalf("record written despite the wrong key: %v", got)
	}
}

// Stop ends the process, frees the port and removes the directory.
func TestStopCleansUp(t *testing.T) {
	Require(t)
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Fatalf("directory %s still there: %v", s.Dir, err)
	}
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		t.Fatalf("port still taken after Stop: %v", err)
	}
	_ = l.Close()
}

// The configuration never lets named reach outside its directory and
// loopback port.
func TestConfigIsConfined(t *testing.T) {
	s := &Server{Zones: []string{"a.test"}, KeyName: "k", Algorithm: "hmac-sha256", Secret: "c2VjcmV0", Dir: "/tmp/x"}
	conf := s.namedConf(5353)
	for _, want := range []string{
		`listen-on port 5353 { 127.0.0.1; };`, `listen-on-v6 { none; };`, `recursion no;`,
		`controls { };`, `directory "/tmp/x";`, `allow-update { key "k"; };`, `algorithm hmac-sha256;`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("named.conf lacks %q:\n%s", want, conf)
		}
	}
}

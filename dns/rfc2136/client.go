package rfc2136

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// client signs every message with the TSIG key and turns the server's
// answers into errors that say what to fix. It keeps a few TCP
// connections open between exchanges: one reconcile sends several
// messages per name, and a handshake per message would double the round
// trips to a remote server.
type client struct {
	server  string
	key     string // canonical key name
	alg     string // canonical algorithm name
	secret  string // base64
	source  string
	timeout time.Duration
	dns     *dns.Client

	mu   sync.Mutex
	idle []idleConn
}

// idleConn is a pooled connection. It is wrapped in a new dns.Conn for
// each exchange: a dns.Conn chains each message's TSIG to the previous
// one's MAC (as zone transfers need), which the server rejects for
// separate exchanges.
type idleConn struct {
	conn  net.Conn
	since time.Time
}

const (
	maxIdleConns = 4
	// maxIdleAge stays below BIND's default tcp-idle-timeout (30s), so a
	// pooled connection is rarely one the server already closed.
	maxIdleAge = 20 * time.Second
)

func newClient(cfg Config) *client {
	key := dns.CanonicalName(cfg.KeyName)
	return &client{
		server:  cfg.Server,
		key:     key,
		alg:     allowedAlgorithms[cfg.Algorithm],
		secret:  cfg.Secret,
		source:  cfg.Source,
		timeout: cfg.Timeout,
		dns:     &dns.Client{Net: "tcp", Timeout: cfg.Timeout, TsigSecret: map[string]string{key: cfg.Secret}},
	}
}

func (c *client) tsigError(code string) error {
	return &TSIGError{Server: c.server, KeyName: c.key, Code: code, Source: c.source}
}

// exchange sends m signed over TCP (an index RRset can outgrow a UDP
// answer) and verifies the signed reply. TSIG failures become TSIGError;
// the rcode is left to the caller. A query that fails on a pooled
// connection is retried once on a new one; an update is not, since it may
// have been applied.
func (c *client) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	c.sign(m)
	conn, pooled, err := c.conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("DNS server %s: %w", c.server, err)
	}
	r, _, err := c.dns.ExchangeWithConnContext(ctx, m, conn)
	if err != nil && pooled && m.Opcode == dns.OpcodeQuery && r == nil && ctx.Err() == nil {
		_ = conn.Close()
		if conn, err = c.dial(ctx); err != nil {
			return nil, fmt.Errorf("DNS server %s: %w", c.server, err)
		}
		c.sign(m)
		r, _, err = c.dns.ExchangeWithConnContext(ctx, m, conn)
	}
	if err != nil {
		_ = conn.Close()
	} else {
		c.release(conn)
	}
	return c.check(r, err)
}

// sign attaches a fresh TSIG stub (signed when written), replacing any
// left from an earlier attempt.
func (c *client) sign(m *dns.Msg) {
	if m.IsTsig() != nil {
		m.Extra = m.Extra[:len(m.Extra)-1]
	}
	m.SetTsig(c.key, c.alg, 300, time.Now().Unix())
}

// check maps an exchange's outcome to TSIG and transport errors.
func (c *client) check(r *dns.Msg, err error) (*dns.Msg, error) {
	// A rejected key comes back as NOTAUTH with the TSIG error in an
	// unsigned TSIG record; miekg/dns returns the message and ErrAuth.
	if r != nil {
		if t := r.IsTsig(); t != nil && t.Error != dns.RcodeSuccess {
			return nil, c.tsigError(rcodeName(int(t.Error)))
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, dns.ErrSig), errors.Is(err, dns.ErrAuth), errors.Is(err, dns.ErrTime):
		return nil, c.tsigError("bad response signature: " + err.Error())
	default:
		return nil, fmt.Errorf("DNS server %s: %w", c.server, err)
	}
	if r.IsTsig() == nil {
		// The server answered a signed message without signing: a
		// server that doesn't know TSIG, or someone else answering.
		return nil, c.tsigError("unsigned response")
	}
	return r, nil
}

// conn takes a fresh-enough idle connection, or dials one.
func (c *client) conn(ctx context.Context) (*dns.Conn, bool, error) {
	c.mu.Lock()
	for len(c.idle) > 0 {
		ic := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if time.Since(ic.since) < maxIdleAge {
			c.mu.Unlock()
			return &dns.Conn{Conn: ic.conn}, true, nil
		}
		_ = ic.conn.Close()
	}
	c.mu.Unlock()
	conn, err := c.dial(ctx)
	return conn, false, err
}

func (c *client) dial(ctx context.Context) (*dns.Conn, error) {
	return c.dns.DialContext(ctx, c.server)
}

func (c *client) release(conn *dns.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) >= maxIdleConns {
		_ = conn.Close()
		return
	}
	c.idle = append(c.idle, idleConn{conn: conn.Conn, since: time.Now()})
}

// Close closes the idle connections.
func (c *client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ic := range c.idle {
		_ = ic.conn.Close()
	}
	c.idle = nil
}

func rcodeName(code int) string {
	if s, ok := dns.RcodeToString[code]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", code)
}

// query asks for name's records of type qtype. It returns the reply so
// callers can tell an authoritative answer from a refusal.
func (c *client) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	r, err := c.exchange(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("querying %s %s: %w", name, dns.TypeToString[qtype], err)
	}
	return r, nil
}

// read returns the answer records at name of type qtype (and a CNAME at
// name, which answers every type) from a zone the server must be
// authoritative for.
func (c *client) read(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	r, err := c.query(ctx, name, qtype)
	if err != nil {
		return nil, err
	}
	switch {
	case r.Rcode == dns.RcodeNameError:
		return nil, nil
	case r.Rcode != dns.RcodeSuccess:
		return nil, fmt.Errorf("querying %s %s at DNS server %s: %s", name, dns.TypeToString[qtype], c.server, rcodeName(r.Rcode))
	case !r.Authoritative:
		return nil, fmt.Errorf("querying %s %s: DNS server %s is not authoritative for it; point --dns-rfc2136-server at the zone's primary", name, dns.TypeToString[qtype], c.server)
	}
	return r.Answer, nil
}

// txtValues reads the TXT values at name.
func (c *client) txtValues(ctx context.Context, name string) ([]string, error) {
	rrs, err := c.read(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok && dns.CanonicalName(t.Hdr.Name) == name {
			out = append(out, txtValue(t))
		}
	}
	return out, nil
}

// errPrerequisite means an update's prerequisites failed: someone else's
// records are there, or ours changed underneath.
var errPrerequisite = errors.New("update prerequisite failed")

// update sends m (built with SetUpdate(zone)) and maps the rcode.
func (c *client) update(ctx context.Context, m *dns.Msg) error {
	zone := m.Question[0].Name
	r, err := c.exchange(ctx, m)
	if err != nil {
		return fmt.Errorf("updating zone %s: %w", zone, err)
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
		return nil
	case dns.RcodeYXDomain, dns.RcodeYXRrset, dns.RcodeNXRrset, dns.RcodeNameError:
		return fmt.Errorf("updating zone %s: %w (%s)", zone, errPrerequisite, rcodeName(r.Rcode))
	case dns.RcodeRefused:
		return fmt.Errorf("DNS server %s refused the update of zone %s: grant key %q updates there (allow-update { key %q; }; or an update-policy rule)",
			c.server, zone, c.key, c.key)
	case dns.RcodeNotAuth, dns.RcodeNotZone:
		return fmt.Errorf("DNS server %s is not the primary of zone %s (%s): point --dns-rfc2136-server at the primary", c.server, zone, rcodeName(r.Rcode))
	default:
		return fmt.Errorf("DNS server %s failed the update of zone %s: %s", c.server, zone, rcodeName(r.Rcode))
	}
}

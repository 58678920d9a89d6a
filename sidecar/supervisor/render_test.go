package supervisor

import (
	"strings"
	"testing"

	"github.com/decco-dev/decco/sidecar"
)

func TestRenderStunnel(t *testing.T) {
	const dir = "/var/run/decco/tls"
	tests := []struct {
		name    string
		cfg     sidecar.Config
		want    []string // lines that must appear, in order
		notWant []string
	}{{
		name: "verified listener",
		cfg:  sidecar.Config{CertDir: dir, HealthPort: 15021, Listeners: []sidecar.Listener{{Name: "mysql", Port: 13306, AppPort: 3306, VerifyClient: true}}},
		want: []string{"foreground = yes", "pid =", "syslog = no", "debug = notice",
			"[listen-mysql-13306]", "accept = 13306", "connect = 127.0.0.1:3306",
			"cert = /var/run/decco/tls/tls.crt", "key = /var/run/decco/tls/tls.key",
			"CAfile = /var/run/decco/tls/ca.crt", "verifyChain = yes", "requireCert = yes",
			"sslVersionMin = TLSv1.2", "ciphers = " + tls12Ciphers, "ciphersuites = " + tls13Suites,
			"options = NO_COMPRESSION", "options = NO_RENEGOTIATION", "renegotiation = no", "libwrap = no"},
		notWant: []string{"client = yes"},
	}, {
		name:    "unverified listener requests no client certificate",
		cfg:     sidecar.Config{CertDir: dir, HealthPort: 15021, LogLevel: "warn", Listeners: []sidecar.Listener{{Name: "http", Port: 8443, AppPort: 8080}}},
		want:    []string{"debug = warning", "[listen-http-8443]", "accept = 8443", "connect = 127.0.0.1:8080", "sslVersionMin = TLSv1.2"},
		notWant: []string{"requireCert", "verifyChain", "CAfile"},
	}, {
		name: "egress",
		cfg:  sidecar.Config{CertDir: dir, HealthPort: 15021, Egress: []sidecar.Egress{{LocalPort: 15001, Host: "db.acme.example.com", Port: 5432}}},
		want: []string{"[egress-15001]", "client = yes", "accept = 127.0.0.1:15001",
			"connect = db.acme.example.com:5432", "delay = yes", "sni = db.acme.example.com",
			"CAfile = /var/run/decco/tls/ca.crt", "verifyChain = yes", "checkHost = db.acme.example.com",
			"cert = /var/run/decco/tls/tls.crt", "key = /var/run/decco/tls/tls.key", "sslVersionMin = TLSv1.2"},
		notWant: []string{"requireCert"},
	}, {
		name: "transparent servers take both families and hand connections to their original destination",
		cfg: sidecar.Config{CertDir: dir, HealthPort: 15021, IPv6: true,
			Inbound: []sidecar.Inbound{{Port: 15006, VerifyClient: true}, {Port: 15007}}},
		want: []string{"[inbound-15006]", "accept = :::15006", "transparent = destination",
			"cert = /var/run/decco/tls/tls.crt", "CAfile = /var/run/decco/tls/ca.crt", "verifyChain = yes", "requireCert = yes",
			"[inbound-15007]", "accept = :::15007", "transparent = destination", "sslVersionMin = TLSv1.2"},
		notWant: []string{"client = yes", "connect ="},
	}, {
		name: "transparent server without IPv6 binds IPv4",
		cfg:  sidecar.Config{CertDir: dir, HealthPort: 15021, Inbound: []sidecar.Inbound{{Port: 15006, VerifyClient: true}}},
		want: []string{"[inbound-15006]", "accept = 0.0.0.0:15006"},
	}, {
		name: "transparent client on loopback only, mutual TLS to the space's CA",
		cfg:  sidecar.Config{CertDir: dir, HealthPort: 15021, IPv6: true, OutboundPort: 15001},
		want: []string{"[outbound-15001-ipv4]", "client = yes", "accept = 127.0.0.1:15001", "transparent = destination",
			"CAfile = /var/run/decco/tls/ca.crt", "verifyChain = yes", "cert = /var/run/decco/tls/tls.crt",
			"[outbound-15001-ipv6]", "client = yes", "accept = ::1:15001", "transparent = destination"},
		notWant: []string{"connect =", "checkHost"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := RenderStunnel(tt.cfg)
			if err != nil {
				t.Fatalf("RenderStunnel: %v", err)
			}
			assertLinesInOrder(t, string(out), tt.want)
			for _, s := range tt.notWant {
				if strings.Contains(string(out), s) {
					t.Errorf("config contains %q:\n%s", s, out)
				}
			}
		})
	}
}

func assertLinesInOrder(t *testing.T, conf string, want []string) {
	t.Helper()
	lines := strings.Split(conf, "\n")
	i := 0
	for _, w := range want {
		for i < len(lines) && lines[i] != w {
			i++
		}
		if i == len(lines) {
			t.Fatalf("line %q missing or out of order in:\n%s", w, conf)
		}
	}
}

// A Config built in code (not parsed) must not get hostile values past the
// renderer either.
func TestRenderStunnelRejectsHostileValues(t *testing.T) {
	for name, c := range map[string]sidecar.Config{
		"name with newline": {CertDir: sidecar.CertDir, HealthPort: 1, Listeners: []sidecar.Listener{{Name: "a\nb", Port: 2, AppPort: 3}}},
		"name with bracket": {CertDir: sidecar.CertDir, HealthPort: 1, Listeners: []sidecar.Listener{{Name: "a]", Port: 2, AppPort: 3}}},
		"host with space":   {CertDir: sidecar.CertDir, HealthPort: 1, Egress: []sidecar.Egress{{LocalPort: 2, Host: "a b", Port: 3}}},
		"host with newline": {CertDir: sidecar.CertDir, HealthPort: 1, Egress: []sidecar.Egress{{LocalPort: 2, Host: "a\n[x]", Port: 3}}},
		"cert dir with nul": {CertDir: "/tls\x00", HealthPort: 1},
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := RenderStunnel(c); err == nil {
				t.Fatalf("rendered hostile config:\n%s", out)
			}
		})
	}
	w := &confWriter{}
	w.set("connect", "x\nclient = yes")
	if w.err == nil {
		t.Fatal("confWriter accepted a newline")
	}
}

func TestLogWriterDemotesProbes(t *testing.T) {
	var buf strings.Builder
	log := newTestLogger(&buf)
	probes := &probeSet{}
	lw := newLogWriter(log, probes)
	probes.add(50476)
	_, _ = lw.Write([]byte("2026.11.22 23:06:01 LOG5[1]: Service [in] accepted connection from 127.0.0.1:50476\n" +
		"2026.11.22 23:06:01 LOG3[1]: SSL_accept: unexpected eof while reading\n" +
		"2026.11.22 23:06:01 LOG5[1]: Connection reset/closed: 0 byte(s) sent to TLS\n" +
		"2026.11.22 23:06:01 LOG3[2]: SSL_accept: peer did not return a certificate\n" +
		"not a stunnel line\n"))
	out := buf.String()
	if strings.Contains(out, `"level":"ERROR","msg":"SSL_accept: unexpected eof`) {
		t.Errorf("probe error not demoted:\n%s", out)
	}
	for _, want := range []string{
		`"level":"DEBUG","msg":"SSL_accept: unexpected eof while reading","component":"stunnel","stunnel_id":"1"`,
		`"level":"ERROR","msg":"SSL_accept: peer did not return a certificate","component":"stunnel","stunnel_id":"2"`,
		`"msg":"not a stunnel line"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in:\n%s", want, out)
		}
	}
}

// stunnel's per-connection error for transparent clients is demoted: the
// connection is fine, and an error a second would bury real ones.
func TestLogWriterDemotesTransparentCacheNoise(t *testing.T) {
	var buf strings.Builder
	lw := newLogWriter(newTestLogger(&buf), &probeSet{})
	_, _ = lw.Write([]byte("2026.12.02 06:17:17 LOG3[3]: INTERNAL ERROR: Uninitialized client session cache\n"))
	if !strings.Contains(buf.String(), `"level":"DEBUG","msg":"INTERNAL ERROR: Uninitialized client session cache"`) {
		t.Errorf("not demoted:\n%s", buf.String())
	}
}

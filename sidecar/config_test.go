package sidecar

import (
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	c := Config{CertDir: CertDir, HealthPort: HealthPort, LogLevel: "warn",
		Listeners: []Listener{{Name: "http", Port: 8443, AppPort: 8080}, {Name: "mysql", Port: 13306, AppPort: 3306, VerifyClient: true}},
		Egress:    []Egress{{LocalPort: 15001, Host: "db.acme.example.com", Port: 443}},
		Inbound:   []Inbound{{Port: 15006, VerifyClient: true}, {Port: 15007}}, OutboundPort: 15002, CheckPort: 15020}
	got, err := ParseArgs(c.Args())
	if err != nil {
		t.Fatalf("ParseArgs(%q): %v", c.Args(), err)
	}
	if strings.Join(got.Args(), " ") != strings.Join(c.Args(), " ") {
		t.Fatalf("round trip: got %q, want %q", got.Args(), c.Args())
	}
	// An injector that doesn't know --log-level produces no such flag.
	c.LogLevel = ""
	for _, a := range c.Args() {
		if strings.HasPrefix(a, "--log-level") {
			t.Fatalf("unexpected %q in %q", a, c.Args())
		}
	}
}

func TestParseArgsRejectsHostileValues(t *testing.T) {
	base := []string{"--cert-dir=/var/run/decco/tls", "--health-port=15021"}
	for name, arg := range map[string]string{
		"newline in name":      "--listen=http\nconnect = 10.0.0.1:22:8443:8080:verify",
		"bracket in name":      "--listen=a]b:8443:8080:verify",
		"space in name":        "--listen=a b:8443:8080:verify",
		"upper-case name":      "--listen=HTTP:8443:8080:verify",
		"long name":            "--listen=abcdefghijklmnop:8443:8080:verify",
		"digits-only name":     "--listen=8080:8443:8080:verify",
		"newline in host":      "--egress=15001:db.example.com\n[evil]:5432",
		"bracket in host":      "--egress=15001:db]example.com:5432",
		"space in host":        "--egress=15001:db example.com:5432",
		"tab in host":          "--egress=15001:db\texample.com:5432",
		"upper-case host":      "--egress=15001:DB.example.com:5432",
		"empty label":          "--egress=15001:db..example.com:5432",
		"cert-dir newline":     "--cert-dir=/tls\ncert = /etc/shadow",
		"cert-dir space":       "--cert-dir=/tls dir",
		"cert-dir relative":    "--cert-dir=tls",
		"cert-dir unclean":     "--cert-dir=/var/../etc",
		"app port is own port": "--listen=http:8443:8443:verify",
		"app port is health":   "--listen=http:8443:15021:verify",
		"bad log level":        "--log-level=trace",
		"inbound on health":    "--inbound=15021:verify",
		"inbound bad verify":   "--inbound=15006:maybe",
		"outbound on health":   "--outbound=15021",
		"check port zero":      "--check-port=0",
	} {
		t.Run(name, func(t *testing.T) {
			if c, err := ParseArgs(append(append([]string{}, base...), arg)); err == nil {
				t.Fatalf("ParseArgs accepted %q: %+v", arg, c)
			}
		})
	}
}

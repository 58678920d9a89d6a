package rfc2136

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testSecret = "0jnu3SdsMvzzlmTDPYRceA4InMibyGx6X1CgkTzrYpY=" // 32 random bytes

func validConfig() Config {
	return Config{Server: "192.0.2.53:53", KeyName: "decco", Secret: testSecret, OwnerID: "cluster-a"}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"port defaults to 53", func(c *Config) { c.Server = "ns1.example.com" }, ""},
		{"IPv6 server", func(c *Config) { c.Server = "[2001:db8::53]:5353" }, ""},
		{"sha384", func(c *Config) { c.Algorithm = "HMAC-SHA384." }, ""},
		{"sha512", func(c *Config) { c.Algorithm = "hmac-sha512" }, ""},
		{"no server", func(c *Config) { c.Server = "" }, "--dns-rfc2136-server is empty"},
		{"md5", func(c *Config) { c.Algorithm = "hmac-md5" }, "hmac-md5 and hmac-sha1 are broken or weak"},
		{"sha1", func(c *Config) { c.Algorithm = "hmac-sha1" }, "must be hmac-sha256, hmac-sha384 or hmac-sha512"},
		{"sha224", func(c *Config) { c.Algorithm = "hmac-sha224" }, "must be hmac-sha256"},
		{"no key name", func(c *Config) { c.KeyName = "" }, "TSIG key name"},
		{"secret not base64", func(c *Config) { c.Secret = "not base64!" }, "not base64"},
		{"secret too short", func(c *Config) { c.Secret = "c2hvcnQ=" }, "need at least 16"},
		{"no owner", func(c *Config) { c.OwnerID = "" }, "--dns-owner-id"},
		{"owner with comma", func(c *Config) { c.OwnerID = "a,space=evil" }, "--dns-owner-id"},
		{"negative TTL", func(c *Config) { c.TTL = -1 }, "--dns-ttl"},
		{"bad zone hint", func(c *Config) { c.Zones = []string{"."} }, "--dns-rfc2136-zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Server: "ns1.example.com", Zones: []string{"Example.COM"}}.withDefaults()
	if c.Server != "ns1.example.com:53" || c.TTL != DefaultTTL || c.Timeout != DefaultTimeout || c.Algorithm != "hmac-sha256" || c.Zones[0] != "example.com." {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigFromSecret(t *testing.T) {
	secret := func(data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "decco-system", Name: "dns-tsig"}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	opts := Options{Server: "192.0.2.53", OwnerID: "cluster-a", TTL: 120, Zones: []string{"example.com"}, Timeout: time.Second}

	cfg, err := ConfigFromSecret(secret(map[string]string{
		SecretKeyName: "decco-key\n", SecretKeySecret: testSecret + "\n", SecretKeyAlgorithm: "hmac-sha512",
	}), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Server: "192.0.2.53:53", KeyName: "decco-key", Algorithm: "hmac-sha512", Secret: testSecret, OwnerID: "cluster-a",
		TTL: 120, Zones: []string{"example.com."}, Timeout: time.Second, Source: "Secret decco-system/dns-tsig"}
	if cfg.Server != want.Server || cfg.KeyName != want.KeyName || cfg.Algorithm != want.Algorithm || cfg.Secret != want.Secret ||
		cfg.OwnerID != want.OwnerID || cfg.TTL != want.TTL || cfg.Zones[0] != want.Zones[0] || cfg.Source != want.Source {
		t.Fatalf("ConfigFromSecret = %+v\nwant %+v", cfg, want)
	}

	if cfg, err := ConfigFromSecret(secret(map[string]string{SecretKeyName: "k", SecretKeySecret: testSecret}), opts); err != nil || cfg.Algorithm != "hmac-sha256" {
		t.Fatalf("algorithm should default to hmac-sha256: %+v, %v", cfg, err)
	}

	_, err = ConfigFromSecret(secret(map[string]string{SecretKeyName: "k"}), opts)
	if err == nil || !strings.Contains(err.Error(), "Secret decco-system/dns-tsig lacks data keys tsig-secret") {
		t.Fatalf("missing secret: %v", err)
	}
	_, err = ConfigFromSecret(secret(map[string]string{SecretKeyName: "k", SecretKeySecret: testSecret, SecretKeyAlgorithm: "hmac-md5"}), opts)
	if err == nil || !strings.Contains(err.Error(), "Secret decco-system/dns-tsig") || !strings.Contains(err.Error(), "hmac-md5") {
		t.Fatalf("md5 key: %v", err)
	}
}

func TestNewSecretRoundTrip(t *testing.T) {
	cfg, err := ConfigFromSecret(NewSecret("ns", "tsig", "decco-key", "hmac-sha384", testSecret), Options{Server: "192.0.2.53", OwnerID: "a"})
	if err != nil || cfg.KeyName != "decco-key" || cfg.Algorithm != "hmac-sha384" || cfg.Secret != testSecret || cfg.Source != "Secret ns/tsig" {
		t.Fatalf("ConfigFromSecret(NewSecret(...)) = %+v, %v", cfg, err)
	}
}

func TestOptionsFlags(t *testing.T) {
	var o Options
	fs := pflag.NewFlagSet("decco", pflag.ContinueOnError)
	o.BindFlags(fs)
	err := fs.Parse([]string{
		"--dns-rfc2136-server=192.0.2.53:53", "--dns-rfc2136-tsig-secret=decco-system/dns-tsig", "--dns-owner-id=prod-eu",
		"--dns-rfc2136-zone=example.com", "--dns-rfc2136-zone=example.org", "--dns-rfc2136-timeout=3s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.Server != "192.0.2.53:53" || o.TSIGSecret != "decco-system/dns-tsig" || o.OwnerID != "prod-eu" ||
		len(o.Zones) != 2 || o.Timeout != 3*time.Second {
		t.Fatalf("parsed %+v", o)
	}
	if fs.Lookup("dns-ttl") != nil {
		t.Fatal("--dns-ttl belongs to the reconciler's flags, shared by every provider")
	}
	key, err := o.SecretKey()
	if err != nil || key.Namespace != "decco-system" || key.Name != "dns-tsig" {
		t.Fatalf("SecretKey = %v, %v", key, err)
	}
	for _, bad := range []string{"", "dns-tsig", "/dns-tsig", "ns/", "a/b/c"} {
		if _, err := (Options{TSIGSecret: bad}).SecretKey(); err == nil || !strings.Contains(err.Error(), "namespace/name") {
			t.Errorf("SecretKey(%q): %v", bad, err)
		}
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	c := validConfig()
	c.Algorithm = "hmac-md5"
	if _, err := New(c, testLogger(t)); err == nil || !strings.Contains(err.Error(), "DNS provider rfc2136") {
		t.Fatalf("New with an md5 key: %v", err)
	}
}

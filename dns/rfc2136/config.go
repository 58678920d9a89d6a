package rfc2136

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys of the TSIG Secret's data.
const (
	// SecretKeyName is the TSIG key's name, as in the server's
	// `key "<name>" { ... };` statement. Required.
	SecretKeyName = "tsig-key-name"
	// SecretKeySecret is the key's secret, base64 as in the server's
	// `secret "...";` (what tsig-keygen prints). Required.
	SecretKeySecret = "tsig-secret"
	// SecretKeyAlgorithm is hmac-sha256 (default), hmac-sha384 or
	// hmac-sha512. Optional.
	SecretKeyAlgorithm = "tsig-algorithm"
)

// Defaults.
const (
	DefaultTTL       = 300
	DefaultTimeout   = 10 * time.Second
	DefaultAlgorithm = "hmac-sha256"
)

// minSecretBytes rejects keys too short to be anything but a typo.
const minSecretBytes = 16

// Config is everything the provider needs.
type Config struct {
	// Server is the primary's host:port (port 53 if omitted).
	Server string
	// KeyName, Algorithm and Secret (base64) are the TSIG key.
	KeyName, Algorithm, Secret string
	// OwnerID names this decco installation in ownership records; unique
	// among installations that share a zone.
	OwnerID string
	// TTL is used for records that don't set one.
	TTL int64
	// Zones are searched for a space's records on Remove in addition to
	// those published to since start.
	Zones []string
	// Timeout bounds each exchange with the server.
	Timeout time.Duration
	// Source says where the key came from, for error messages.
	Source string
}

var ownerIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// allowedAlgorithms are the TSIG algorithms accepted: SHA-2 256 bits and up.
var allowedAlgorithms = map[string]string{
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
}

// withDefaults fills the optional fields and canonicalizes names.
func (c Config) withDefaults() Config {
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Algorithm == "" {
		c.Algorithm = DefaultAlgorithm
	}
	c.Algorithm = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(c.Algorithm)), ".")
	c.KeyName = strings.TrimSpace(c.KeyName)
	c.Secret = strings.TrimSpace(c.Secret)
	if c.Server != "" {
		if _, _, err := net.SplitHostPort(c.Server); err != nil {
			c.Server = net.JoinHostPort(strings.Trim(c.Server, "[]"), "53")
		}
	}
	zones := make([]string, 0, len(c.Zones))
	for _, z := range c.Zones {
		zones = append(zones, dns.CanonicalName(z))
	}
	c.Zones = zones
	return c
}

// Validate reports every invalid field, naming its flag or Secret key.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Server == "" {
		errs = append(errs, errors.New("--dns-rfc2136-server is empty: set it to the primary DNS server's host:port"))
	} else if _, port, err := net.SplitHostPort(c.Server); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("--dns-rfc2136-server %q: must be host:port, e.g. 192.0.2.53:53", c.Server))
	}
	if _, ok := dns.IsDomainName(c.KeyName); !ok || c.KeyName == "" || c.KeyName == "." {
		errs = append(errs, fmt.Errorf("TSIG key name %q (%s): must be the name of the key in the server's configuration", c.KeyName, SecretKeyName))
	}
	if _, ok := allowedAlgorithms[c.Algorithm]; !ok {
		errs = append(errs, fmt.Errorf("TSIG algorithm %q (%s): must be hmac-sha256, hmac-sha384 or hmac-sha512; hmac-md5 and hmac-sha1 are broken or weak, generate a new key with `tsig-keygen -a hmac-sha256`", c.Algorithm, SecretKeyAlgorithm))
	}
	if raw, err := base64.StdEncoding.DecodeString(c.Secret); err != nil {
		errs = append(errs, fmt.Errorf("TSIG secret (%s): not base64 (%v); paste the secret exactly as in the server's key statement", SecretKeySecret, err))
	} else if len(raw) < minSecretBytes {
		errs = append(errs, fmt.Errorf("TSIG secret (%s): %d bytes, need at least %d; generate one with `tsig-keygen -a hmac-sha256`", SecretKeySecret, len(raw), minSecretBytes))
	}
	if !ownerIDPattern.MatchString(c.OwnerID) {
		errs = append(errs, fmt.Errorf("--dns-owner-id %q: must be 1-63 letters, digits, '.', '_' or '-' naming this decco installation uniquely among those sharing a zone (the cluster's name, say)", c.OwnerID))
	}
	if c.TTL < 0 || c.TTL > 1<<31-1 {
		errs = append(errs, fmt.Errorf("--dns-ttl %d: must be between 0 (default %d) and 2147483647 seconds", c.TTL, DefaultTTL))
	}
	for _, z := range c.Zones {
		if _, ok := dns.IsDomainName(z); !ok || z == "." {
			errs = append(errs, fmt.Errorf("--dns-rfc2136-zone %q: must be a domain name", z))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("--dns-rfc2136-timeout %s: must be positive", c.Timeout))
	}
	return errors.Join(errs...)
}

// Options are the manager flags of the RFC 2136 provider. The record TTL
// (--dns-ttl) is a reconciler flag shared by every provider; the manager
// copies it into TTL.
type Options struct {
	// Server is --dns-rfc2136-server.
	Server string
	// TSIGSecret is --dns-rfc2136-tsig-secret: "namespace/name" of the
	// Secret holding the key (keys tsig-key-name, tsig-secret,
	// tsig-algorithm).
	TSIGSecret string
	// OwnerID is --dns-owner-id.
	OwnerID string
	// Zones is --dns-rfc2136-zone (repeatable).
	Zones []string
	// Timeout is --dns-rfc2136-timeout.
	Timeout time.Duration
	// TTL comes from --dns-ttl.
	TTL int64
}

// BindFlags registers the provider's flags on fs with o's values as
// defaults.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Server, "dns-rfc2136-server", o.Server, "With --dns-provider=rfc2136: the primary DNS server (host:port) that takes signed dynamic updates.")
	fs.StringVar(&o.TSIGSecret, "dns-rfc2136-tsig-secret", o.TSIGSecret, "With --dns-provider=rfc2136: namespace/name of the Secret holding the TSIG key (data keys "+SecretKeyName+", "+SecretKeySecret+", optional "+SecretKeyAlgorithm+").")
	fs.StringVar(&o.OwnerID, "dns-owner-id", o.OwnerID, "This installation's id (the cluster's name, say): with --dns-provider=rfc2136, in DNS ownership records, unique among decco installations sharing a zone; with dnsendpoint, the setIdentifier of the cluster's endpoint of a space's global name (decco.io/global-name).")
	fs.StringSliceVar(&o.Zones, "dns-rfc2136-zone", o.Zones, "With --dns-provider=rfc2136: zones to search for a deleted space's records besides those published to since start (repeatable).")
	fs.DurationVar(&o.Timeout, "dns-rfc2136-timeout", o.Timeout, "With --dns-provider=rfc2136: timeout of each exchange with the DNS server (default 10s).")
}

// SecretKey parses TSIGSecret ("namespace/name").
func (o Options) SecretKey() (types.NamespacedName, error) {
	ns, name, ok := strings.Cut(o.TSIGSecret, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("--dns-rfc2136-tsig-secret %q: must be namespace/name of the Secret holding the TSIG key", o.TSIGSecret)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

// ConfigFromSecret builds a Config from opts and the TSIG key in secret's
// data (keys SecretKeyName, SecretKeySecret, optional SecretKeyAlgorithm;
// surrounding whitespace, such as the newline `kubectl create secret
// --from-file` keeps, is ignored), and validates it.
func ConfigFromSecret(secret *corev1.Secret, opts Options) (Config, error) {
	if secret == nil {
		return Config{}, errors.New("TSIG Secret is nil")
	}
	src := fmt.Sprintf("Secret %s/%s", secret.Namespace, secret.Name)
	get := func(key string) string { return strings.TrimSpace(string(secret.Data[key])) }
	var missing []string
	for _, k := range []string{SecretKeyName, SecretKeySecret} {
		if get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("%s lacks data keys %s: add the TSIG key's name and base64 secret there", src, strings.Join(missing, ", "))
	}
	cfg := Config{
		Server:    opts.Server,
		KeyName:   get(SecretKeyName),
		Algorithm: get(SecretKeyAlgorithm),
		Secret:    get(SecretKeySecret),
		OwnerID:   opts.OwnerID,
		TTL:       opts.TTL,
		Zones:     opts.Zones,
		Timeout:   opts.Timeout,
		Source:    src,
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("DNS provider rfc2136 (key from %s): %w", src, err)
	}
	return cfg.withDefaults(), nil
}

// NewSecret is a Secret holding a TSIG key in the layout ConfigFromSecret
// reads, for tests and tooling; algorithm may be empty (hmac-sha256).
func NewSecret(namespace, name, keyName, algorithm, secret string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{SecretKeyName: []byte(keyName), SecretKeySecret: []byte(secret)},
	}
	if algorithm != "" {
		s.Data[SecretKeyAlgorithm] = []byte(algorithm)
	}
	return s
}

// LoadConfig reads the Secret opts.TSIGSecret names and builds the Config.
// Use an uncached reader (the manager's APIReader): the manager caches
// no Secrets.
func LoadConfig(ctx context.Context, r ctrlclient.Reader, opts Options) (Config, error) {
	key, err := opts.SecretKey()
	if err != nil {
		return Config{}, err
	}
	var secret corev1.Secret
	if err := r.Get(ctx, key, &secret); err != nil {
		return Config{}, fmt.Errorf("reading the TSIG Secret %s named by --dns-rfc2136-tsig-secret: %w", key, err)
	}
	return ConfigFromSecret(&secret, opts)
}

// Package sidecar is the contract between the injector and the TLS sidecar
// program: the injector writes a Config as the sidecar container's arguments,
// and cmd/decco-sidecar parses the same arguments back. Keeping both ends in
// one type means a flag can't be renamed on one side only.
//
// The package is only that contract: the Config and its flags, the ports
// and paths both sides agree on, the app-health paths. It imports nothing
// but the standard library, so the webhook and spacectl link no sidecar
// code and the sidecar no Kubernetes. The program is sidecar/supervisor.
package sidecar

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Defaults shared by the injector and the sidecar program.
const (
	// CertDir is where the space's TLS Secret is mounted in the sidecar
	// (tls.crt, tls.key, ca.crt as cert-manager writes them).
	CertDir = "/var/run/decco/tls"
	// HealthPort serves /ready, which succeeds only when every TLS listener
	// and egress tunnel accepts connections.
	HealthPort int32 = 15021
	// ReadyPath is the readiness endpoint on HealthPort.
	ReadyPath = "/ready"

	// Transparent mode (cni interception, package intercept): the ports
	// the CNI plugin's rules redirect to. They sit beside HealthPort in
	// the range Istio's sidecars use, which apps rarely declare.

	// InboundPort is the transparent TLS server that requires a client
	// certificate of the space.
	InboundPort int32 = 15006
	// InboundHTTPPort is the transparent TLS server for HTTP ports: no
	// client certificate (the gateway can't present one).
	InboundHTTPPort int32 = 15007
	// OutboundPort is the transparent mutual-TLS client, on loopback.
	OutboundPort int32 = 15001
	// CheckPort, dialled on loopback by the sidecar itself, reaches
	// HealthPort only once the CNI plugin's rules are in.
	CheckPort int32 = 15020
)

// Names of the files in CertDir, as cert-manager writes them into a TLS
// Secret.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
	CAFile   = "ca.crt"
)

// logLevels are the values of --log-level. info logs one line per
// connection opened and closed, the audit trail a multi-tenant platform
// wants.
var logLevels = map[string]slog.Level{
	"":      slog.LevelInfo,
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// SlogLevel is the slog level for c.LogLevel (info when unset or unknown).
func (c Config) SlogLevel() slog.Level {
	if l, ok := logLevels[c.LogLevel]; ok {
		return l
	}
	return slog.LevelInfo
}

// Inbound is a transparent TLS server: the CNI plugin redirects
// connections to the pod's ports here, and stunnel hands each one to the
// app on its original destination (the same port, which the app serves).
type Inbound struct {
	Port         int32
	VerifyClient bool
}

// String is the --inbound flag value: port:verify|noverify.
func (in Inbound) String() string { return itoa(in.Port) + ":" + verifyWord(in.VerifyClient) }

// itoa formats a port. The flag values are built on every pod admission:
// concatenation, unlike fmt.Sprintf, costs one allocation per value.
func itoa(port int32) string { return strconv.Itoa(int(port)) }

func verifyWord(v bool) string {
	if v {
		return "verify"
	}
	return "noverify"
}

// Listener terminates TLS on Port and forwards plaintext to AppPort on
// localhost.
type Listener struct {
	// Name is the container port name the listener took over from the app.
	Name string
	// Port is the TLS port other pods and Services reach.
	Port int32
	// AppPort is the application's plaintext port on localhost.
	AppPort int32
	// VerifyClient requires a client certificate signed by the space's CA.
	VerifyClient bool
}

// Egress is a tunnel from localhost:LocalPort to Host:Port over mutual TLS;
// the peer's certificate must chain to the space's CA and name Host. It is
// also what package space parses a decco.io/egress entry into, so one type
// carries an entry from the annotation to stunnel's configuration (and to
// the NetworkPolicies that let it out).
type Egress struct {
	LocalPort int32
	Host      string
	Port      int32
}

// Config is everything the sidecar needs to know.
type Config struct {
	CertDir    string
	HealthPort int32
	Listeners  []Listener
	Egress     []Egress
	// Inbound are transparent TLS servers (cni interception).
	Inbound []Inbound
	// OutboundPort, when set, runs the transparent mutual-TLS client on
	// loopback (cni interception): the app's connections to the cluster
	// arrive here and leave as TLS to their original destination, with
	// the space's certificate, to a peer whose certificate chains to the
	// space's CA.
	OutboundPort int32
	// CheckPort, when set, is dialled on loopback for readiness: the
	// sidecar is ready only when that connection is redirected to its own
	// health port, i.e. once the interception rules are in.
	CheckPort int32
	// IPv6 makes the listeners accept both families. Run sets it when the
	// pod has IPv6; it is not an argument.
	IPv6 bool
	// LogLevel is debug, info, warn or error; empty means info. It is
	// optional so that injectors which don't know it produce the same args.
	LogLevel string
}

// Args renders c as command-line arguments, in a stable order so that the
// same Config always yields the same Pod spec.
func (c Config) Args() []string {
	args := []string{
		"--cert-dir=" + c.CertDir,
		"--health-port=" + strconv.Itoa(int(c.HealthPort)),
	}
	for _, l := range c.Listeners {
		args = append(args, "--listen="+l.String())
	}
	for _, e := range c.Egress {
		args = append(args, "--egress="+e.String())
	}
	for _, in := range c.Inbound {
		args = append(args, "--inbound="+in.String())
	}
	if c.OutboundPort != 0 {
		args = append(args, "--outbound="+strconv.Itoa(int(c.OutboundPort)))
	}
	if c.CheckPort != 0 {
		args = append(args, "--check-port="+strconv.Itoa(int(c.CheckPort)))
	}
	if c.LogLevel != "" {
		args = append(args, "--log-level="+c.LogLevel)
	}
	return args
}

// String is the --listen flag value: name:port:appPort:verify|noverify.
func (l Listener) String() string {
	return l.Name + ":" + itoa(l.Port) + ":" + itoa(l.AppPort) + ":" + verifyWord(l.VerifyClient)
}

// String is the --egress flag value: localPort:host:port.
func (e Egress) String() string {
	return itoa(e.LocalPort) + ":" + e.Host + ":" + itoa(e.Port)
}

// ParseArgs parses what Args produced. Unknown flags and malformed values
// are errors: the sidecar refuses to start rather than run half-configured.
func ParseArgs(args []string) (Config, error) {
	c := Config{}
	fs := flag.NewFlagSet("decco-sidecar", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.CertDir, "cert-dir", CertDir, "directory holding tls.crt, tls.key and ca.crt")
	health := fs.Int("health-port", int(HealthPort), "port serving "+ReadyPath)
	fs.Func("listen", "TLS listener name:port:appPort:verify|noverify (repeatable)", func(v string) error {
		l, err := parseListener(v)
		c.Listeners = append(c.Listeners, l)
		return err
	})
	fs.Func("egress", "TLS egress tunnel localPort:host:port (repeatable)", func(v string) error {
		e, err := parseEgress(v)
		c.Egress = append(c.Egress, e)
		return err
	})
	fs.Func("inbound", "transparent TLS server port:verify|noverify (repeatable)", func(v string) error {
		in, err := parseInbound(v)
		c.Inbound = append(c.Inbound, in)
		return err
	})
	fs.Func("outbound", "transparent mutual-TLS client port, on loopback", func(v string) (err error) {
		c.OutboundPort, err = checkPort("--outbound", v)
		return err
	})
	fs.Func("check-port", "loopback port the interception rules redirect to the health port", func(v string) (err error) {
		c.CheckPort, err = checkPort("--check-port", v)
		return err
	})
	fs.StringVar(&c.LogLevel, "log-level", "", "debug, info, warn or error (default info)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	port, err := checkPort("--health-port", strconv.Itoa(*health))
	if err != nil {
		return Config{}, err
	}
	c.HealthPort = port
	return c, c.Validate()
}

// Validate checks that no two listeners or tunnels share a port, that no
// listener forwards into a port the sidecar itself owns, and that every name
// and host is safe to render into stunnel's configuration.
func (c Config) Validate() error {
	if c.CertDir == "" {
		return errors.New("--cert-dir must not be empty")
	}
	if err := validCertDir(c.CertDir); err != nil {
		return err
	}
	if _, ok := logLevels[c.LogLevel]; !ok {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if err := c.validateNames(); err != nil {
		return err
	}
	used := map[int32]string{c.HealthPort: "--health-port"}
	claim := func(port int32, by string) error {
		if prev, ok := used[port]; ok {
			return fmt.Errorf("port %d is used by both %s and %s", port, prev, by)
		}
		used[port] = by
		return nil
	}
	for _, l := range c.Listeners {
		if err := claim(l.Port, "--listen="+l.String()); err != nil {
			return err
		}
	}
	for _, e := range c.Egress {
		if err := claim(e.LocalPort, "--egress="+e.String()); err != nil {
			return err
		}
	}
	for _, in := range c.Inbound {
		if err := claim(in.Port, "--inbound="+in.String()); err != nil {
			return err
		}
	}
	if c.OutboundPort != 0 {
		if err := claim(c.OutboundPort, "--outbound"); err != nil {
			return err
		}
	}
	if c.CheckPort != 0 {
		if err := claim(c.CheckPort, "--check-port"); err != nil {
			return err
		}
	}
	// An app port owned by the sidecar would make stunnel forward to itself.
	for _, l := range c.Listeners {
		if by, ok := used[l.AppPort]; ok {
			return fmt.Errorf("--listen=%s: appPort %d is used by %s", l, l.AppPort, by)
		}
	}
	return nil
}

func (c Config) validateNames() error {
	for _, l := range c.Listeners {
		if err := validPortName(l.Name); err != nil {
			return fmt.Errorf("--listen: %w", err)
		}
	}
	for _, e := range c.Egress {
		if err := validHost(e.Host); err != nil {
			return fmt.Errorf("--egress: %w", err)
		}
	}
	return nil
}

func parseListener(v string) (Listener, error) {
	parts := strings.Split(v, ":")
	if len(parts) != 4 {
		return Listener{}, fmt.Errorf("--listen=%q: want name:port:appPort:verify|noverify", v)
	}
	l := Listener{Name: parts[0]}
	if l.Name == "" {
		return Listener{}, fmt.Errorf("--listen=%q: empty port name", v)
	}
	var err error
	if l.Port, err = checkPort("--listen port", parts[1]); err != nil {
		return Listener{}, err
	}
	if l.AppPort, err = checkPort("--listen appPort", parts[2]); err != nil {
		return Listener{}, err
	}
	switch parts[3] {
	case "verify":
		l.VerifyClient = true
	case "noverify":
	default:
		return Listener{}, fmt.Errorf("--listen=%q: last field must be verify or noverify", v)
	}
	return l, nil
}

func parseInbound(v string) (Inbound, error) {
	port, verify, ok := strings.Cut(v, ":")
	if !ok {
		return Inbound{}, fmt.Errorf("--inbound=%q: want port:verify|noverify", v)
	}
	p, err := checkPort("--inbound port", port)
	if err != nil {
		return Inbound{}, err
	}
	switch verify {
	case "verify":
		return Inbound{Port: p, VerifyClient: true}, nil
	case "noverify":
		return Inbound{Port: p}, nil
	}
	return Inbound{}, fmt.Errorf("--inbound=%q: last field must be verify or noverify", v)
}

func parseEgress(v string) (Egress, error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 {
		return Egress{}, fmt.Errorf("--egress=%q: want localPort:host:port", v)
	}
	e := Egress{Host: parts[1]}
	if e.Host == "" {
		return Egress{}, fmt.Errorf("--egress=%q: empty host", v)
	}
	var err error
	if e.LocalPort, err = checkPort("--egress localPort", parts[0]); err != nil {
		return Egress{}, err
	}
	if e.Port, err = checkPort("--egress port", parts[2]); err != nil {
		return Egress{}, err
	}
	return e, nil
}

func checkPort(what, s string) (int32, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s %q: want a port number from 1 to 65535", what, s)
	}
	return int32(n), nil
}

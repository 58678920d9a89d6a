package dnstest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// writeConfig writes named.conf and one zone file per zone into s.Dir.
func (s *Server) writeConfig(port int) error {
	if err := os.WriteFile(filepath.Join(s.Dir, "named.conf"), []byte(s.namedConf(port)), 0o600); err != nil {
		return fmt.Errorf("writing named.conf: %w", err)
	}
	for _, zone := range append(slices.Clone(s.Zones), s.ReadOnlyZones...) {
		// A retry after a failed start must not reuse the journal of the
		// old zone file.
		_ = os.Remove(filepath.Join(s.Dir, zoneFile(zone)+".jnl"))
		if err := os.WriteFile(filepath.Join(s.Dir, zoneFile(zone)), []byte(zoneData(zone)), 0o600); err != nil {
			return fmt.Errorf("writing the zone file of %s: %w", zone, err)
		}
	}
	return nil
}

// namedConf is an authoritative-only configuration confined to s.Dir and
// the loopback port: no recursion, no rndc control channel (its fixed port
// would clash between parallel tests), no PID file.
func (s *Server) namedConf(port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "key %q {\n\talgorithm %s;\n\tsecret %q;\n};\n\n", s.KeyName, s.Algorithm, s.Secret)
	b.WriteString("controls { };\n\n")
	fmt.Fprintf(&b, `options {
	directory %q;
	managed-keys-directory %q;
	pid-file none;
	session-keyfile none;
	listen-on port %d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
	allow-transfer { none; };
	minimal-responses no;
%s};

`, s.Dir, s.Dir, port, s.idleOption())
	for _, zone := range s.Zones {
		fmt.Fprintf(&b, "zone %q {\n\ttype primary;\n\tfile %q;\n\tallow-update { key %q; };\n};\n\n",
			zone, zoneFile(zone), s.KeyName)
	}
	for _, zone := range s.ReadOnlyZones {
		fmt.Fprintf(&b, "zone %q {\n\ttype primary;\n\tfile %q;\n\tallow-update { none; };\n};\n\n",
			zone, zoneFile(zone))
	}
	return b.String()
}

// idleOption sets tcp-idle-timeout, counted in tenths of a second.
func (s *Server) idleOption() string {
	if s.tcpIdle <= 0 {
		return ""
	}
	return fmt.Sprintf("\ttcp-idle-timeout %d;\n", max(1, s.tcpIdle/(100*time.Millisecond)))
}

func zoneFile(zone string) string { return zone + ".zone" }

// zoneData is a minimal zone: SOA, one NS and the name server's address.
// The SOA minimum (negative-caching TTL) is short so nothing lingers.
func zoneData(zone string) string {
	return fmt.Sprintf(`$ORIGIN %[1]s.
$TTL 300
@	IN SOA	ns.%[1]s. hostmaster.%[1]s. 1 3600 600 86400 5
@	IN NS	ns.%[1]s.
ns	IN A	127.0.0.1
`, zone)
}

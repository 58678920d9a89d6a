package supervisor

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// tcpListen is the kernel's TCP state number for LISTEN in /proc/net/tcp.
const tcpListen = "0A"

// listening reports whether a TCP socket of this network namespace
// listens on port, in either family, from the kernel's socket tables
// (Linux's /proc/net; transparent listeners exist only there): the check
// must not connect (see portCheck.transparent).
func listening(port int32) error {
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		ok, err := listensIn(table, port)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("nothing listens on port %d", port)
}

// listensIn scans one /proc/net/tcp-format table for a LISTEN socket on
// port. A missing table (IPv6 disabled) holds none.
func listensIn(table string, port int32) (bool, error) {
	f, err := os.Open(table)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the socket table: %w", err)
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st ...
		fields := strings.Fields(sc.Text())
		if len(fields) > 3 && fields[3] == tcpListen && strings.HasSuffix(fields[1], want) {
			return true, nil
		}
	}
	return false, sc.Err()
}

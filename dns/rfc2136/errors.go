package rfc2136

import (
	"errors"
	"fmt"
	"strings"

	"github.com/decco-dev/decco/dns"
)

// ErrNoZone matches (errors.Is) a NoZoneError.
var ErrNoZone = dns.ErrNoZone

// NoZoneError says that the server serves no zone containing Name.
type NoZoneError struct {
	Name   string
	Server string
}

func (e *NoZoneError) Error() string {
	return fmt.Sprintf("no zone on DNS server %s holds %s: serve a zone for its domain there (and allow updates with decco's TSIG key), or correct the space's decco.io/domain annotation",
		e.Server, e.Name)
}

// Is makes errors.Is(err, ErrNoZone) true.
func (e *NoZoneError) Is(target error) bool { return target == ErrNoZone }

// ErrConflict matches (errors.Is) a ConflictError.
var ErrConflict = dns.ErrConflict

// Conflict is one name decco wants but may not touch.
type Conflict struct {
	// Name is the fully qualified name, without the trailing dot.
	Name string
	// Reason says who holds it.
	Reason string
}

// ConflictError lists the names of a space that exist in DNS without
// being this installation's records for that space. decco leaves them
// untouched and keeps the space's other names in sync.
type ConflictError struct {
	Space     string
	Conflicts []Conflict
}

func (e *ConflictError) Error() string {
	parts := make([]string, len(e.Conflicts))
	for i, c := range e.Conflicts {
		parts[i] = c.Name + " " + c.Reason
	}
	return fmt.Sprintf("DNS names of space %s are taken and were left untouched: %s; remove or rename the existing records, or choose another domain or service name",
		e.Space, strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ErrTSIG matches (errors.Is) a TSIGError.
var ErrTSIG = errors.New("TSIG authentication failed")

// TSIGError is a rejected key: the server refused decco's signature, or
// its answer failed verification.
type TSIGError struct {
	Server  string
	KeyName string
	// Code is the TSIG error: BADSIG, BADKEY, BADTIME, or "bad response
	// signature" when the server's answer didn't verify.
	Code string
	// Source names where the key came from, e.g. "Secret decco-system/dns-tsig".
	Source string
}

func (e *TSIGError) Error() string {
	var hint string
	switch e.Code {
	case "BADKEY":
		hint = "the server has no key of that name and algorithm"
	case "BADSIG":
		hint = "the secret or algorithm differs from the server's key of that name"
	case "BADTIME":
		hint = "the clocks of decco's node and the DNS server differ by more than the 5 minute fudge"
	default:
		hint = "the server's answer is not signed with the same key"
	}
	from := ""
	if e.Source != "" {
		from = " in " + e.Source
	}
	return fmt.Sprintf("DNS server %s rejected TSIG key %q (%s): %s; check the key name, algorithm and secret%s against the key in the server's configuration",
		e.Server, e.KeyName, e.Code, hint, from)
}

// Is makes errors.Is(err, ErrTSIG) true.
func (e *TSIGError) Is(target error) bool { return target == ErrTSIG }

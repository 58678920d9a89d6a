package sidecar

import (
	"fmt"
	"path/filepath"
	"strings"
)

// The sidecar re-validates everything it renders into stunnel's
// configuration even though the webhook validated it already: the arguments
// are part of a Pod spec that a tenant can edit after injection (the webhook
// sees updates too, but defence in depth costs nothing here), and one
// newline in a value would let a tenant add stunnel options of their own.

// validPortName reports whether s is an IANA service name as Kubernetes
// accepts for container port names (RFC 6335 section 5.1): 1-15 characters
// of [a-z0-9-], at least one letter, no leading, trailing or double hyphen.
func validPortName(s string) error {
	if len(s) == 0 || len(s) > 15 {
		return fmt.Errorf("port name %q: want 1 to 15 characters", s)
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			letter = true
		case c >= '0' && c <= '9', c == '-':
		default:
			return fmt.Errorf("port name %q: only lowercase letters, digits and '-' are allowed", s)
		}
	}
	if !letter {
		return fmt.Errorf("port name %q: must contain a letter", s)
	}
	if s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return fmt.Errorf("port name %q: no leading, trailing or double '-'", s)
	}
	return nil
}

// validHost reports whether s is a DNS-1123 subdomain: at most 253
// characters, dot-separated labels of 1-63 characters of [a-z0-9-] that
// start and end with a letter or digit.
func validHost(s string) error {
	if len(s) == 0 || len(s) > 253 {
		return fmt.Errorf("host %q: want 1 to 253 characters", s)
	}
	for _, label := range strings.Split(s, ".") {
		if err := validLabel(label); err != nil {
			return fmt.Errorf("host %q: %w", s, err)
		}
	}
	return nil
}

func validLabel(l string) error {
	if len(l) == 0 || len(l) > 63 {
		return fmt.Errorf("label %q: want 1 to 63 characters", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		alnum := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		if !alnum && (c != '-' || i == 0 || i == len(l)-1) {
			return fmt.Errorf("label %q: only lowercase letters, digits and inner '-' are allowed", l)
		}
	}
	return nil
}

// validCertDir accepts a clean absolute path of [A-Za-z0-9._/-] only: the
// directory ends up in stunnel's configuration as part of file names.
func validCertDir(s string) error {
	if !filepath.IsAbs(s) || filepath.Clean(s) != s {
		return fmt.Errorf("--cert-dir %q: want a clean absolute path", s)
	}
	for i := 0; i < len(s); i++ {
		if !safePathByte(s[i]) {
			return fmt.Errorf("--cert-dir %q: only letters, digits and . _ / - are allowed", s)
		}
	}
	return nil
}

func safePathByte(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '.' || c == '_' || c == '/' || c == '-'
}

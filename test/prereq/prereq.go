// Package prereq is decco's one rule for a real component a test needs
// and the machine lacks (a program such as stunnel4 or named, root for
// network namespaces):
//
//   - in CI (CI set to any value) or with DECCO_REQUIRE_ALL=1, the test
//     fails: a suite that skipped its data plane must not pass there;
//   - elsewhere the test is skipped with the stable line
//     "decco-missing: <component>: <fix>", and the line is appended to the
//     file DECCO_MISSING_LOG names, from which make test prints a summary
//     ("skipped: 14 tests need stunnel4: apt-get install stunnel4").
//
// A test calls Command or Root before it starts anything, so a skip leaves
// nothing running. The package imports nothing of decco's, so any test
// helper (dnstest, sidecartest) can use it without an import cycle.
package prereq

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Environment variables of the rule.
const (
	// EnvRequireAll=1 makes a missing component a failure outside CI too.
	EnvRequireAll = "DECCO_REQUIRE_ALL"
	// EnvMissingLog names a file each skip appends a line to.
	EnvMissingLog = "DECCO_MISSING_LOG"
)

// sbin are searched after PATH: Debian installs named and ip there, and
// they are not on an ordinary user's PATH.
var sbin = []string{"/usr/sbin", "/sbin"}

// Command returns the path of the first of names found on PATH or in
// /usr/sbin or /sbin. When none is, it applies the rule with the first
// name as the component and fix as the way to get it, e.g.
//
//	stunnel := prereq.Command(t, "apt-get install stunnel4", "stunnel4", "stunnel")
func Command(t testing.TB, fix string, names ...string) string {
	t.Helper()
	if p, ok := LookPath(names...); ok {
		return p
	}
	Missing(t, names[0], fix)
	return ""
}

// LookPath is Command's search without the rule, for code that decides
// before it has a test (a TestMain).
func LookPath(names ...string) (string, bool) {
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
		for _, dir := range sbin {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, true
			}
		}
	}
	return "", false
}

// Root applies the rule unless the test runs as root; why says what root
// is for ("network namespaces for webhook replicas").
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root", "run the tests as root ("+why+")")
	}
}

// Missing applies the rule for a component found missing some other way
// (a probe that failed): it fails t in CI or with DECCO_REQUIRE_ALL=1,
// and skips it otherwise. It does not return.
func Missing(t testing.TB, component, fix string) {
	t.Helper()
	line := Line(component, fix)
	if Required() {
		t.Fatalf("%s (a missing component fails the test when CI is set or %s=1)", line, EnvRequireAll)
	}
	if err := record(component, fix, t.Name()); err != nil {
		t.Logf("recording the skip in $%s: %v", EnvMissingLog, err)
	}
	t.Skip(line)
}

// Required reports whether a missing component is a failure here.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv(EnvRequireAll) == "1"
}

// Line is the stable message of a skip.
func Line(component, fix string) string {
	return fmt.Sprintf("decco-missing: %s: %s", component, fix)
}

// record appends "component<TAB>fix<TAB>test" to the missing log, if one
// is set. Test binaries of several packages append to it at once; each
// line is one write to a file opened for appending, so lines don't mix.
func record(component, fix, test string) error {
	path := os.Getenv(EnvMissingLog)
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	clean := func(s string) string { return strings.NewReplacer("\t", " ", "\n", " ").Replace(s) }
	_, err = fmt.Fprintf(f, "%s\t%s\t%s\n", clean(component), clean(fix), clean(test))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

package testkit

import (
	"os/exec"
	"strings"
	"testing"
)

// Deps lists the packages pkg links, as `go list -deps` prints them, so a
// test can keep a binary from growing a dependency it has no use for.
func Deps(t testing.TB, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

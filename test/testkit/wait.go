package testkit

import (
	"testing"
	"time"
)

// WaitFor polls check every 100 ms until it returns nil, failing the test
// with the last error after timeout: the one way the suites wait for an
// observable event.
func WaitFor(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

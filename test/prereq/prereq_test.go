package prereq

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outcome records how a test helper ended a test. It stands in for
// *testing.T only to observe Skip and Fatal, which end the real test.
type outcome struct {
	testing.TB
	skipped, failed string
}

func (o *outcome) Helper()                      {}
func (o *outcome) Name() string                 { return "TestNeedsIt" }
func (o *outcome) Logf(string, ...any)          {}
func (o *outcome) Skip(args ...any)             { o.skipped = fmt.Sprint(args...); runtime.Goexit() }
func (o *outcome) Fatalf(f string, args ...any) { o.failed = fmt.Sprintf(f, args...); runtime.Goexit() }

// run calls f with an outcome in its own goroutine, as Skip and Fatal end
// the goroutine they are called on.
func run(f func(testing.TB)) *outcome {
	o := &outcome{}
	done := make(chan struct{})
	go func() { defer close(done); f(o) }()
	<-done
	return o
}

func TestMissingFailsInCIAndWhenRequiredElseSkips(t *testing.T) {
	tests := []struct {
		ci, requireAll string
		fails          bool
	}{
		{"", "", false},
		{"", "0", false},
		{"true", "", true},
		{"1", "", true},
		{"", "1", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("CI=%q,%s=%q", tt.ci, EnvRequireAll, tt.requireAll), func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			t.Setenv(EnvRequireAll, tt.requireAll)
			log := filepath.Join(t.TempDir(), "missing")
			t.Setenv(EnvMissingLog, log)

			o := run(func(tb testing.TB) { Command(tb, "apt-get install no-such-tool", "decco-no-such-tool") })

			want := "decco-missing: decco-no-such-tool: apt-get install no-such-tool"
			recorded, _ := os.ReadFile(log)
			if tt.fails {
				assert.Contains(t, o.failed, want)
				assert.Empty(t, o.skipped)
				assert.Empty(t, recorded, "a failure is not a skip to summarize")
			} else {
				assert.Equal(t, want, o.skipped)
				assert.Empty(t, o.failed)
				assert.Equal(t, "decco-no-such-tool\tapt-get install no-such-tool\tTestNeedsIt\n", string(recorded))
			}
		})
	}
}

func TestCommandFindsPathAndSbin(t *testing.T) {
	t.Setenv("CI", "true") // a miss would fail
	o := run(func(tb testing.TB) {
		p := Command(tb, "unused", "decco-no-such-tool", "sh")
		assert.FileExists(t, p)
	})
	assert.Empty(t, o.failed)

	// With an empty PATH, sh is still found only if it is in an sbin
	// directory; a program in /usr/sbin must be.
	entries, err := os.ReadDir("/usr/sbin")
	if err != nil || len(entries) == 0 {
		return
	}
	t.Setenv("PATH", "")
	p, ok := LookPath(entries[0].Name())
	require.True(t, ok)
	assert.Equal(t, filepath.Join("/usr/sbin", entries[0].Name()), p)
}

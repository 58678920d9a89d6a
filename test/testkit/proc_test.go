package testkit

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A process's output is readable while it runs; SIGTERM ends one that
// exits on it, and one that ignores it is killed after the grace period.
func TestStartLogStop(t *testing.T) {
	p, err := Start("echo", exec.Command("sh", "-c", "echo started; exec sleep 60"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return p.LogContains("started") }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, p.Stop(syscall.SIGTERM, 10*time.Second))
	assert.Error(t, p.Err(), "killed by SIGTERM")

	stubborn, err := Start("stubborn", exec.Command("sh", "-c", "trap '' TERM; echo trapped; while :; do sleep 1; done"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return stubborn.LogContains("trapped") }, 10*time.Second, 10*time.Millisecond)
	err = stubborn.Stop(syscall.SIGTERM, 200*time.Millisecond)
	require.ErrorContains(t, err, "was killed")
	assert.NoError(t, stubborn.Stop(syscall.SIGTERM, time.Second), "stopping an exited process does nothing")
}

// WaitHTTP gives up as soon as the process exits, with its log.
func TestWaitHTTPFailsWhenTheProcessExits(t *testing.T) {
	p, err := Start("quitter", exec.Command("sh", "-c", "echo bye; exit 3"))
	require.NoError(t, err)
	start := time.Now()
	err = p.WaitHTTP("http://127.0.0.1:1/readyz", time.Minute)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 30*time.Second, "it did not wait for the timeout")
	assert.True(t, strings.Contains(err.Error(), "quitter exited") && strings.Contains(err.Error(), "bye"), err.Error())
}

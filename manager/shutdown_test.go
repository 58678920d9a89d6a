package manager

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runDrain starts d.Run and returns a channel closed when it returns. The
// process-wide drain state is reset when the test ends.
func runDrain(t *testing.T, d *Drain, signals chan os.Signal) <-chan struct{} {
	t.Cleanup(func() { draining.Store(false) })
	done := make(chan struct{})
	go func() { d.Run(context.Background(), signals); close(done) }()
	return done
}

func TestDrainFailsReadinessThenStopsAfterTheDelay(t *testing.T) {
	d := NewDrain(300*time.Millisecond, logr.Discard())
	signals := make(chan os.Signal, 2)
	done := runDrain(t, d, signals)
	require.NoError(t, d.Checker()(nil), "ready before any signal")

	sent := time.Now()
	signals <- syscall.SIGTERM
	require.Eventually(t, func() bool { return d.Checker()(nil) != nil }, time.Second, time.Millisecond, "readiness must fail at once")
	select {
	case <-done:
		t.Fatal("stopped before the delay")
	case <-time.After(150 * time.Millisecond):
	}
	<-done
	assert.GreaterOrEqual(t, time.Since(sent), 300*time.Millisecond)
	assert.ErrorContains(t, d.Checker()(nil), "shutting down")
}

func TestDrainSecondSignalStopsAtOnce(t *testing.T) {
	d := NewDrain(time.Hour, logr.Discard())
	signals := make(chan os.Signal, 2)
	done := runDrain(t, d, signals)
	signals <- syscall.SIGTERM
	signals <- os.Interrupt
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal must end the delay")
	}
}

// While draining, admission responses close their connection, so the
// apiserver retires its pooled connections to this replica itself.
func TestResponsesCloseConnectionsWhileDraining(t *testing.T) {
	t.Cleanup(func() { draining.Store(false) })
	srv := httptest.NewServer(closeConnectionWhileDraining(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	})))
	defer srv.Close()
	get := func() *http.Response {
		resp, err := srv.Client().Get(srv.URL)
		require.NoError(t, err)
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp
	}
	assert.False(t, get().Close, "keep-alive before draining")
	draining.Store(true)
	resp := get()
	assert.True(t, resp.Close, "the response must close the connection")
}

func TestShutdownDelayFlag(t *testing.T) {
	o := DefaultOptions().Shutdown
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.BindFlags(fs)
	require.NoError(t, fs.Parse([]string{"--shutdown-delay=5s"}))
	assert.Equal(t, 5*time.Second, o.Delay)
	assert.NoError(t, o.Validate())
	o.Delay = -time.Second
	assert.ErrorContains(t, o.Validate(), "--shutdown-delay")
}

// Every lease duration gives timings client-go accepts (lease > renew
// deadline > 1.2 × retry period), and the default lease keeps
// controller-runtime's defaults.
func TestLeaseTimings(t *testing.T) {
	for _, lease := range []time.Duration{time.Second, 4 * time.Second, 15 * time.Second, time.Minute} {
		renew, retry := renewDeadline(lease), retryPeriod(lease)
		assert.Greater(t, lease, renew, "lease %s", lease)
		assert.Greater(t, float64(renew), 1.2*float64(retry), "lease %s", lease)
		assert.Positive(t, retry, "lease %s", lease)
	}
	assert.Equal(t, 10*time.Second, renewDeadline(15*time.Second))
	assert.Equal(t, 2*time.Second, retryPeriod(15*time.Second))
}

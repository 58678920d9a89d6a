package spacectl

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/go-logr/logr"
)

// pollInterval is how often --wait checks again.
const pollInterval = 500 * time.Millisecond

// waitCheck reports whether the wait is over and, if not, what it is
// waiting for, in words; an error ends the wait.
type waitCheck func(ctx context.Context) (done bool, state string, err error)

// waitFor polls check until it is done, timeout passes or ctx ends. Each
// new state is printed to progress with the time spent so far, so a long
// wait shows what it is waiting on. A timeout is ExitNotReady, naming the
// last state: that is the reason.
func waitFor(ctx context.Context, progress io.Writer, log logr.Logger, what string, timeout time.Duration, check waitCheck) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		done, state, err := check(ctx)
		log.V(2).Info("poll", "what", what, "done", done, "state", state, "error", err)
		if err != nil && ctx.Err() == nil {
			return err
		}
		elapsed := time.Since(start).Round(time.Second)
		if done {
			fmt.Fprintf(progress, "%s: ready after %s\n", what, elapsed)
			return nil
		}
		if state != last {
			fmt.Fprintf(progress, "waiting for %s (%s): %s\n", what, elapsed, state)
			last = state
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return notReadyf("timed out after %s waiting for %s: %s", timeout, what, last)
			}
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

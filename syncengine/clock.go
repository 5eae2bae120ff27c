package syncengine

import (
	"context"
	"time"

	"github.com/mailsync/mailsync/ews"
)

// Clock is the engine's time source: the debouncer, back-off, pull
// polling, sweeps and push liveness all run on it. It has the same shape
// as debounce.Clock and ews.Clock (standard types only), so one value —
// debounce.SystemClock, or the debouncetest.Clock tests use — serves all
// three. Timer functions run on a goroutine the Clock chooses, never inside
// AfterFunc (see debounce.Clock).
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once d has elapsed and returns a function that
	// cancels the call if it has not started, reporting whether it did so.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// sleep waits d on c, or until ctx ends.
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	ch := make(chan struct{})
	stop := c.AfterFunc(d, func() { close(ch) })
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		stop()
		return ctx.Err()
	}
}

var _ ews.Clock = Clock(nil)

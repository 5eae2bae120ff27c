package ews

import (
	"context"
	"time"
)

// Clock is the client's time source: it reads Retry-After dates, times
// the retry back-off (Options.Clock), and drives the streaming
// connection's read timeout and reconnect back-off (StreamingOptions.Clock)
// and the push listener's liveness tracking (PushListenerOptions.Clock).
// Nil means the wall clock.
//
// The interface uses only standard types, so it is the same interface as
// debounce.Clock and the engine's clock: one value drives them all, and
// tests pass the fake debouncetest.Clock and advance it instead of
// sleeping.
//
// AfterFunc's function runs on a goroutine the clock chooses, never inside
// AfterFunc itself: the wall clock starts one per timer, and
// debouncetest.Clock runs it on the goroutine that calls Advance. The
// client's timer functions only take their own locks, cancel requests and
// close channels, so they never block the goroutine that advances a fake.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once d has elapsed and returns a function that
	// cancels the call if it has not run yet, reporting whether it did
	// so.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// systemClock is the wall clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// clockOrSystem returns c, or the wall clock when c is nil.
func clockOrSystem(c Clock) Clock {
	if c == nil {
		return systemClock{}
	}
	return c
}

// sleep waits d on c and returns nil, or returns ctx.Err() if ctx ends
// first.
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	fired := make(chan struct{})
	stop := c.AfterFunc(d, func() { close(fired) })
	select {
	case <-fired:
		return nil
	case <-ctx.Done():
		stop()
		return ctx.Err()
	}
}

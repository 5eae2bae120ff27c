package debounce

import (
	"context"
	"time"
)

// Clock is the source of time and timers of a Debouncer. The zero Config
// uses the wall clock; tests pass debouncetest.Clock so that they never
// sleep.
//
// # One clock for every package
//
// It is the module's one clock interface: ews.Clock and syncengine.Clock
// are aliases of it, so one value, SystemClock or a *debouncetest.Clock,
// drives the client, the debouncer and the engine. Its methods use only
// standard types (AfterFunc returns a plain stop function, not a named
// Timer), so any value with these two methods satisfies it without
// importing this package.
//
// # Which goroutine runs timers
//
// The function given to AfterFunc runs on a goroutine the Clock chooses,
// never inside AfterFunc itself: SystemClock starts one per timer (as
// time.AfterFunc does), and debouncetest.Clock runs the timers that fall
// due on the goroutine calling its Advance, before Advance returns. Code
// may therefore arm a timer while holding its own lock, and a timer
// function must take whatever lock it needs itself, must not block on the
// goroutine that advances a fake clock, and must not call Advance.
//
// Implementations must be safe for concurrent use. The Debouncer calls Now
// and AfterFunc while holding its own lock, so a Clock must never call back
// into the Debouncer from Now or AfterFunc.
type Clock interface {
	// Now returns the current time. It must never go backwards; the
	// Debouncer clamps it if it does.
	Now() time.Time
	// AfterFunc arranges for f to be called once d has elapsed and returns
	// a function that cancels the call if it has not started yet,
	// reporting whether it did so (as time.Timer.Stop does).
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock is the wall clock, backed by package time. It is what a nil
// Config.Clock means.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc; f runs on its own goroutine.
func (SystemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

var _ Clock = SystemClock{}

// Sleep waits d on c and returns nil, or returns ctx.Err() as soon as ctx
// ends first (at once when d <= 0 and ctx has ended). It is the one
// context-aware sleep of every package that runs on a Clock.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
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

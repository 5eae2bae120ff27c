package debounce

import "time"

// Clock is the source of time and timers of a Debouncer. The zero Config
// uses the wall clock; tests pass a fake such as debouncetest.Clock so that
// they never sleep.
//
// Implementations must be safe for concurrent use. The Debouncer calls Now
// and AfterFunc while holding its own lock, so a Clock must never call back
// into the Debouncer from Now or AfterFunc; the function given to AfterFunc
// may run on any goroutine, but not inside AfterFunc itself.
type Clock interface {
	// Now returns the current time. It must never go backwards; the
	// Debouncer clamps it if it does.
	Now() time.Time
	// AfterFunc arranges for f to be called once d has elapsed and returns
	// a Timer that can cancel the call.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started yet and reports whether
	// it did so.
	Stop() bool
}

// SystemClock is the wall clock, backed by package time. It is what a nil
// Config.Clock means.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc; f runs on its own goroutine.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

var _ Clock = SystemClock{}

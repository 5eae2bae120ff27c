package notify

import "time"

// Clock is the broker's source of time and timers; it is the same
// interface as ewstest.Clock (and ews.Clock, debounce.Clock), and tests
// pass a *debouncetest.Clock. Timer functions run on a goroutine the clock
// chooses, never inside AfterFunc; for debouncetest.Clock, the goroutine
// calling Advance.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once d has elapsed and returns a function that
	// cancels the call if it has not run yet, reporting whether it did
	// so.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

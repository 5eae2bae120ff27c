package ewstest

import "time"

// Clock is the fake server's source of time and timers: commit times,
// retention, subscription expiry, push retries, streaming keep-alives,
// connection timeouts, latency and activity generators all read it, so
// tests never sleep. It is the same interface as ews.Clock and
// debounce.Clock (only standard types), and tests pass the one fake clock
// of the project, *debouncetest.Clock, advancing it by hand.
//
// A timer function runs on a goroutine the clock chooses, never inside
// AfterFunc: the wall clock (debounce.SystemClock, what a nil
// Options.Clock means) starts one per timer, and debouncetest.Clock
// runs the due timers on the goroutine calling Advance, before Advance
// returns. The server's timer functions take their own locks and never
// call Advance.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once d has elapsed and returns a function that
	// cancels the call if it has not run yet, reporting whether it did
	// so.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

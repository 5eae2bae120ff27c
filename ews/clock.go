package ews

import "github.com/mailsync/mailsync/debounce"

// Clock is the client's time source: it reads Retry-After dates, times
// the retry back-off (Options.Clock), and drives the streaming
// connection's read timeout and reconnect back-off (StreamingOptions.Clock)
// and the push listener's liveness tracking (PushListenerOptions.Clock).
// Nil means the wall clock.
//
// It is debounce.Clock, the one clock interface of the module: one value
// drives the client, the debouncer and the engine, and tests pass the fake
// debouncetest.Clock and advance it instead of sleeping. Its methods use
// only standard types, so any value with Now and AfterFunc satisfies it.
//
// AfterFunc's function runs on a goroutine the clock chooses, never inside
// AfterFunc itself: the wall clock starts one per timer, and
// debouncetest.Clock runs it on the goroutine that calls Advance. The
// client's timer functions only take their own locks, cancel requests and
// close channels, so they never block the goroutine that advances a fake.
type Clock = debounce.Clock

// clockOrSystem returns c, or the wall clock when c is nil.
func clockOrSystem(c Clock) Clock {
	if c == nil {
		return debounce.SystemClock{}
	}
	return c
}

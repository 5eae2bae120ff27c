package ewstest

import "github.com/mailsync/mailsync/debounce"

// Clock is the fake server's source of time and timers: commit times,
// retention, subscription expiry, push retries, streaming keep-alives,
// connection timeouts, latency and activity generators all read it, so
// tests never sleep. It is debounce.Clock, the module's one clock
// interface (ews.Clock is the same), and tests pass the one fake clock of
// the project, *debouncetest.Clock, advancing it by hand.
//
// A timer function runs on a goroutine the clock chooses, never inside
// AfterFunc: the wall clock (debounce.SystemClock, what a nil
// Options.Clock means) starts one per timer, and debouncetest.Clock
// runs the due timers on the goroutine calling Advance, before Advance
// returns. The server's timer functions take their own locks and never
// call Advance.
type Clock = debounce.Clock

package notify

import "github.com/mailsync/mailsync/debounce"

// Clock is the broker's source of time and timers: debounce.Clock, the
// module's one clock interface (ewstest.Clock is the same), and tests pass
// a *debouncetest.Clock. Timer functions run on a goroutine the clock
// chooses, never inside AfterFunc; for debouncetest.Clock, the goroutine
// calling Advance.
type Clock = debounce.Clock

package syncengine

import (
	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/ews"
)

// Clock is the engine's time source: the debouncer, back-off, pull
// polling, sweeps and push liveness all run on it. It is debounce.Clock,
// which has the same shape as ews.Clock (standard types only), so one
// value — debounce.SystemClock, or the debouncetest.Clock tests use —
// serves all three. Timer functions run on a goroutine the Clock chooses,
// never inside AfterFunc (see debounce.Clock).
type Clock = debounce.Clock

var _ ews.Clock = Clock(nil)

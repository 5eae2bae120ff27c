package syncengine

import "github.com/mailsync/mailsync/debounce"

// Clock is the engine's time source: the debouncer, back-off, pull
// polling, sweeps and push liveness all run on it. It is debounce.Clock,
// as ews.Clock is, so one value (debounce.SystemClock, or the
// debouncetest.Clock tests use) drives the engine, its debouncers and its
// clients. Timer functions run on a goroutine the Clock chooses, never
// inside AfterFunc (see debounce.Clock).
type Clock = debounce.Clock

package syncengine

import (
	"context"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/ews"
)

// Clock is the engine's time source; it is the debounce package's Clock, so
// one value (debounce.SystemClock, or the fake clock tests use) drives the
// debouncer, the back-off, pull polling, sweeps and push liveness.
type Clock = debounce.Clock

// sleep waits d on c, or until ctx ends.
func sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	ch := make(chan struct{})
	t := c.AfterFunc(d, func() { close(ch) })
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}

// notificationClock adapts a Clock to ews.NotificationClock.
type notificationClock struct{ c Clock }

func (n notificationClock) Now() time.Time { return n.c.Now() }

func (n notificationClock) AfterFunc(d time.Duration, f func()) func() bool {
	return n.c.AfterFunc(d, f).Stop
}

var _ ews.NotificationClock = notificationClock{}

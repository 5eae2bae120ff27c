package debounce_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/debounce/debouncetest"
)

func TestSleep(t *testing.T) {
	clock := debouncetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()

	done := make(chan error, 1)
	go func() { done <- debounce.Sleep(ctx, clock, time.Minute) }()
	if err := clock.WaitPending(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("Sleep returned %v before its minute was up", err)
	default:
	}
	clock.Advance(time.Second)
	if err := wait(t, done, "Sleep"); err != nil {
		t.Fatalf("Sleep = %v, want nil", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- debounce.Sleep(cctx, clock, time.Hour) }()
	if err := clock.WaitPending(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := wait(t, done, "cancelled Sleep"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Sleep = %v, want context.Canceled", err)
	}
	if n := clock.Pending(); n != 0 {
		t.Errorf("a cancelled Sleep left %d timers armed", n)
	}

	if err := debounce.Sleep(ctx, clock, 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
	if err := debounce.Sleep(cctx, clock, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(0) on an ended ctx = %v", err)
	}
}

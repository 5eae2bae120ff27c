package debouncetest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestClock_Advance(t *testing.T) {
	c := debouncetest.NewClock(start)
	var ran []string
	record := func(name string) func() {
		return func() { ran = append(ran, fmt.Sprintf("%s@%v", name, c.Now().Sub(start))) }
	}
	c.AfterFunc(3*time.Second, record("c"))
	c.AfterFunc(time.Second, record("a"))
	c.AfterFunc(time.Second, record("b")) // tie: creation order
	c.AfterFunc(2*time.Second, func() {
		ran = append(ran, "nest@2s")
		c.AfterFunc(500*time.Millisecond, record("nested")) // due within the span
		c.AfterFunc(10*time.Second, record("late"))         // due after it
	})
	stopped := c.AfterFunc(1500*time.Millisecond, record("stopped"))
	if !stopped() || stopped() {
		t.Error("Stop should succeed once")
	}
	if c.Pending() != 4 {
		t.Errorf("Pending = %d, want 4", c.Pending())
	}
	if due, ok := c.NextDue(); !ok || !due.Equal(start.Add(time.Second)) {
		t.Errorf("NextDue = %v %v", due, ok)
	}
	c.Advance(999 * time.Millisecond)
	if len(ran) != 0 || !c.Now().Equal(start.Add(999*time.Millisecond)) {
		t.Fatalf("early: ran %v, now %v", ran, c.Now())
	}
	c.Advance(4 * time.Second)
	want := []string{"a@1s", "b@1s", "nest@2s", "nested@2.5s", "c@3s"}
	if !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	if !c.Now().Equal(start.Add(4999*time.Millisecond)) || c.Pending() != 1 {
		t.Errorf("now %v, pending %d", c.Now(), c.Pending())
	}
}

func TestClock_NeverBackwards(t *testing.T) {
	c := debouncetest.NewClock(start)
	ran := 0
	c.AfterFunc(-time.Second, func() { ran++ })
	c.Advance(-time.Hour)
	if ran != 1 || !c.Now().Equal(start) {
		t.Errorf("Advance(-1h): ran %d, now %v", ran, c.Now())
	}
	c.Set(start.Add(time.Minute))
	c.Set(start)
	if !c.Now().Equal(start.Add(time.Minute)) {
		t.Errorf("Set moved the clock back to %v", c.Now())
	}
	if _, ok := c.NextDue(); ok || c.Pending() != 0 {
		t.Error("timers left after running them all")
	}
	t1 := c.AfterFunc(0, func() { ran++ })
	c.Advance(0)
	if ran != 2 || t1() {
		t.Errorf("Advance(0) ran %d timers; Stop after running must fail", ran-1)
	}
}

func TestClock_WaitPending(t *testing.T) {
	c := debouncetest.NewClock(start)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	armed := make(chan struct{})
	go func() {
		defer close(armed)
		c.AfterFunc(time.Second, func() {})
		c.AfterFunc(2*time.Second, func() {})
	}()
	if err := c.WaitPending(ctx, 2); err != nil || c.Pending() < 2 {
		t.Fatalf("WaitPending(2) = %v with %d pending", err, c.Pending())
	}
	<-armed
	short, stop := context.WithCancel(context.Background())
	stop()
	if err := c.WaitPending(short, 3); err != context.Canceled {
		t.Errorf("WaitPending(3) on an ended context = %v, want context.Canceled", err)
	}
}

func TestClock_AutoAdvance(t *testing.T) {
	c := debouncetest.NewClock(start)
	var waits []time.Duration
	stop := c.AutoAdvance(func(d time.Duration) bool {
		waits = append(waits, d)
		return len(waits) < 3
	})
	defer stop()
	for _, d := range []time.Duration{time.Second, 2 * time.Second} {
		fired := make(chan struct{})
		c.AfterFunc(d, func() { close(fired) })
		<-fired
	}
	c.AfterFunc(time.Minute, func() { t.Error("timer ran after each returned false") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitPending(ctx, 1); err != nil {
		t.Fatal(err)
	}
	stop()
	if want := []time.Duration{time.Second, 2 * time.Second, time.Minute}; !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	if got := c.Now().Sub(start); got != 3*time.Second {
		t.Errorf("clock moved %v, want 3s", got)
	}
}

package debounce_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/debounce/debouncetest"
)

// wait receives from ch, failing the test if nothing arrives within a
// generous bound (a guard against hangs, never a synchronisation point).
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestNew_Errors(t *testing.T) {
	deliver := func(debounce.Batch[string, int]) {}
	if _, err := debounce.New[string, int](nil, nil, nil); !errors.Is(err, debounce.ErrNoDeliver) {
		t.Errorf("nil deliver: err = %v, want ErrNoDeliver", err)
	}
	_, err := debounce.New(&debounce.Config{Quiet: -time.Second}, nil, deliver)
	if !errors.Is(err, debounce.ErrInvalidConfig) || !strings.Contains(err.Error(), "Quiet") {
		t.Errorf("bad config: err = %v, want ErrInvalidConfig naming Quiet", err)
	}
	d, err := debounce.New[string, int](nil, nil, deliver)
	if err != nil {
		t.Fatalf("nil config: %v", err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   *debounce.Config
		field string // empty if valid
	}{
		{"nil", nil, ""},
		{"zero", &debounce.Config{}, ""},
		{"custom", &debounce.Config{Quiet: time.Second, MaxDelay: time.Second, Slack: 999 * time.Millisecond, MaxPending: 1}, ""},
		{"no slack", &debounce.Config{Slack: -1}, ""},
		{"negative quiet", &debounce.Config{Quiet: -1}, "Quiet"},
		{"negative max delay", &debounce.Config{MaxDelay: -1}, "MaxDelay"},
		{"negative max pending", &debounce.Config{MaxPending: -1}, "MaxPending"},
		{"max delay below quiet", &debounce.Config{Quiet: 2 * time.Second, MaxDelay: time.Second}, "MaxDelay"},
		{"quiet above default max delay", &debounce.Config{Quiet: 20 * time.Second}, "MaxDelay"},
		{"quiet over the window limit", &debounce.Config{Quiet: debounce.MaxWindow + 1, MaxDelay: debounce.MaxWindow}, "Quiet"},
		{"max delay over the window limit", &debounce.Config{MaxDelay: 1<<63 - 1}, "MaxDelay"},
		{"windows at the limit", &debounce.Config{Quiet: debounce.MaxWindow, MaxDelay: debounce.MaxWindow}, ""},
		{"slack equal to quiet", &debounce.Config{Quiet: time.Second, Slack: time.Second}, "Slack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.field == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.field != "" && (!errors.Is(err, debounce.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field)):
				t.Errorf("Validate() = %v, want ErrInvalidConfig naming %s", err, tt.field)
			}
		})
	}
}

func TestDebouncer_Closed(t *testing.T) {
	h := newHarness(t, debounce.Config{})
	h.run("+a", "close")
	ctx := context.Background()
	if err := h.d.Add("b", []int{99}); !errors.Is(err, debounce.ErrClosed) {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
	if err := h.d.FlushNow(ctx); !errors.Is(err, debounce.ErrClosed) {
		t.Errorf("FlushNow after Close: %v, want ErrClosed", err)
	}
	if err := h.d.Close(ctx); !errors.Is(err, debounce.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	h.clock.Advance(time.Hour)
	if want := []string{"0s a{1}"}; strings.Join(h.got, "|") != strings.Join(want, "|") {
		t.Errorf("batches %q, want %q", h.got, want)
	}
	if n := h.clock.Pending(); n != 0 {
		t.Errorf("%d timers left armed after Close", n)
	}
	if st := h.d.Stats(); st.Events != 1 || st.Delivered != 1 || st.Pending != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestDebouncer_OneTimer(t *testing.T) {
	h := newHarness(t, debounce.Config{})
	for i := range 1000 {
		h.add(fmt.Sprintf("k%d", i%500))
		if i%100 == 0 {
			h.clock.Advance(10 * time.Millisecond)
		}
	}
	if n := h.clock.Pending(); n != 1 {
		t.Errorf("%d timers armed for 500 keys, want 1", n)
	}
	h.clock.Advance(time.Minute)
	if n := h.clock.Pending(); n != 0 {
		t.Errorf("%d timers armed with nothing pending, want 0", n)
	}
	var keys int
	for _, b := range h.got {
		keys += strings.Count(b, "{")
	}
	if keys != 500 {
		t.Errorf("delivered %d keys, want 500", keys)
	}
}

// blockingDeliverer blocks in its first delivery until released, so that a
// test can act while a batch is being handled on another goroutine.
type blockingDeliverer struct {
	clock   *debouncetest.Clock
	entered chan struct{}
	release chan struct{}
	batches chan debounce.Batch[string, int]
	calls   int
}

func newBlocking(t *testing.T, cfg debounce.Config) (*debounce.Debouncer[string, int], *blockingDeliverer) {
	t.Helper()
	bd := &blockingDeliverer{
		clock:   debouncetest.NewClock(epoch),
		entered: make(chan struct{}),
		release: make(chan struct{}),
		batches: make(chan debounce.Batch[string, int], 100),
	}
	cfg.Clock = bd.clock
	cfg.Logger = slog.New(slog.DiscardHandler)
	sum := func(acc, v int) int { return acc + v }
	d, err := debounce.New(&cfg, sum, func(b debounce.Batch[string, int]) {
		bd.batches <- b
		bd.calls++
		if bd.calls == 1 {
			close(bd.entered)
			<-bd.release
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, bd
}

func keysOf(b debounce.Batch[string, int]) string {
	var sb strings.Builder
	for _, it := range b.Items {
		sb.WriteString(it.Key)
	}
	return sb.String()
}

func TestDebouncer_EventsDuringBlockedDelivery(t *testing.T) {
	d, bd := newBlocking(t, debounce.Config{Slack: -1})
	must(t, d.Add("a", 1))
	advanced := make(chan struct{})
	go func() {
		bd.clock.Advance(10 * time.Second)
		close(advanced)
	}()
	wait(t, bd.entered, "first delivery")
	if got := keysOf(<-bd.batches); got != "a" {
		t.Fatalf("first batch %q, want a", got)
	}
	// deliver is blocked on the Advance goroutine; events keep coming.
	must(t, d.Add("b", 1))
	must(t, d.Add("a", 1))
	must(t, d.Add("b", 1))
	if st := d.Stats(); st.Pending != 2 || st.PendingEvents != 3 {
		t.Errorf("while delivering: Stats = %+v, want 2 keys, 3 events pending", st)
	}
	close(bd.release)
	wait(t, advanced, "Advance")
	// The clock stood at 3 s when the events arrived, so they fall due at
	// 6 s, inside the same Advance, in first-event order.
	b := wait(t, bd.batches, "second batch")
	if got := keysOf(b); got != "ba" || b.Items[0].Value != 2 || b.Items[1].Value != 1 {
		t.Errorf("second batch %+v, want b=2 a=1", b.Items)
	}
	if want := epoch.Add(6 * time.Second); !b.Items[0].First.Equal(epoch.Add(3*time.Second)) || bd.clock.Now().Before(want) {
		t.Errorf("second batch First %v, clock %v", b.Items[0].First, bd.clock.Now())
	}
	must(t, d.Close(context.Background()))
	if len(bd.batches) != 0 {
		t.Errorf("unexpected extra batch %+v", <-bd.batches)
	}
}

func TestDebouncer_FlushWhileDelivering(t *testing.T) {
	d, bd := newBlocking(t, debounce.Config{})
	must(t, d.Add("a", 1))
	advanced := make(chan struct{})
	go func() {
		bd.clock.Advance(3 * time.Second)
		close(advanced)
	}()
	wait(t, bd.entered, "first delivery")
	<-bd.batches
	must(t, d.Add("b", 1))

	// A FlushNow that gives up waiting still gets its flush.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.FlushNow(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("FlushNow with a cancelled ctx: %v, want context.Canceled", err)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- d.FlushNow(context.Background()) }()
	close(bd.release)
	wait(t, advanced, "Advance")
	if err := wait(t, flushed, "FlushNow"); err != nil {
		t.Errorf("FlushNow: %v", err)
	}
	// b was flushed at 3 s by the delivering goroutine, not at 6 s.
	b := wait(t, bd.batches, "flush batch")
	if keysOf(b) != "b" || !bd.clock.Now().Equal(epoch.Add(3*time.Second)) {
		t.Errorf("flush batch %+v at %v", b.Items, bd.clock.Now())
	}
	if st := d.Stats(); st.Pending != 0 || st.Batches != 2 || bd.clock.Pending() != 0 {
		t.Errorf("after flush: Stats = %+v, timers %d", st, bd.clock.Pending())
	}
}

func TestDebouncer_CloseWhileDelivering(t *testing.T) {
	d, bd := newBlocking(t, debounce.Config{})
	must(t, d.Add("a", 1))
	advanced := make(chan struct{})
	go func() {
		bd.clock.Advance(3 * time.Second)
		close(advanced)
	}()
	wait(t, bd.entered, "first delivery")
	<-bd.batches
	must(t, d.Add("b", 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close with a cancelled ctx: %v, want context.Canceled", err)
	}
	if err := d.Add("c", 1); !errors.Is(err, debounce.ErrClosed) {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
	close(bd.release)
	wait(t, advanced, "Advance")
	if b := wait(t, bd.batches, "final batch"); keysOf(b) != "b" {
		t.Errorf("final batch %+v, want b", b.Items)
	}
	if err := d.Close(context.Background()); !errors.Is(err, debounce.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	if st := d.Stats(); st.Events != 2 || st.Delivered != 2 || bd.clock.Pending() != 0 {
		t.Errorf("Stats = %+v, timers %d", st, bd.clock.Pending())
	}
}

func TestDebouncer_DeliverPanics(t *testing.T) {
	clock := debouncetest.NewClock(epoch)
	var got []string
	d, err := debounce.New(&debounce.Config{Clock: clock}, nil, func(b debounce.Batch[string, int]) {
		if keysOf(b) == "boom" {
			panic("deliver failed")
		}
		got = append(got, keysOf(b))
	})
	if err != nil {
		t.Fatal(err)
	}
	must(t, d.Add("boom", 1))
	func() {
		defer func() {
			if r := recover(); r != "deliver failed" {
				t.Errorf("recovered %v", r)
			}
		}()
		_ = d.FlushNow(context.Background())
		t.Error("FlushNow returned despite the panic")
	}()
	must(t, d.Add("a", 1))
	clock.Advance(time.Minute)
	must(t, d.FlushNow(context.Background()))
	if len(got) != 1 || got[0] != "a" {
		t.Errorf("after a panic: batches %q, want [a]", got)
	}
}

func TestDebouncer_NilMergeKeepsNewest(t *testing.T) {
	clock := debouncetest.NewClock(epoch)
	var got []debounce.Item[string, int]
	d, err := debounce.New(&debounce.Config{Clock: clock}, nil, func(b debounce.Batch[string, int]) {
		got = append(got, b.Items...)
	})
	if err != nil {
		t.Fatal(err)
	}
	must(t, d.Add("a", 1))
	clock.Advance(time.Second)
	must(t, d.Add("a", 7))
	clock.Advance(time.Minute)
	want := debounce.Item[string, int]{Key: "a", Value: 7, Events: 2, First: epoch, Last: epoch.Add(time.Second)}
	if len(got) != 1 || got[0] != want {
		t.Errorf("items %+v, want [%+v]", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestDebouncer_MergePanics(t *testing.T) {
	clock := debouncetest.NewClock(epoch)
	var got []debounce.Item[string, int]
	merge := func(acc, v int) int {
		if v < 0 {
			panic("bad value")
		}
		return acc + v
	}
	d, err := debounce.New(&debounce.Config{Clock: clock}, merge, func(b debounce.Batch[string, int]) {
		got = append(got, b.Items...)
	})
	if err != nil {
		t.Fatal(err)
	}
	must(t, d.Add("a", 1))
	func() {
		defer func() { _ = recover() }()
		_ = d.Add("a", -1)
		t.Error("Add returned despite the panic in merge")
	}()
	must(t, d.Add("a", 2)) // the lock was released
	if st := d.Stats(); st.Events != 2 || st.PendingEvents != 2 {
		t.Errorf("Stats = %+v, want the panicking event uncounted", st)
	}
	clock.Advance(time.Minute)
	if len(got) != 1 || got[0].Value != 3 || got[0].Events != 2 {
		t.Errorf("items %+v, want a=3 from 2 events", got)
	}
}

func TestDebouncer_StatsWhileOverflowed(t *testing.T) {
	h := newHarness(t, debounce.Config{MaxPending: 2})
	h.run("+a", "+a", "+b", "+c", "+d")
	want := debounce.Stats{Overflowed: true, PendingEvents: 5, Events: 5, Overflows: 1}
	if st := h.d.Stats(); st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	h.run("flush", "+e")
	want = debounce.Stats{Pending: 1, PendingEvents: 1, Events: 6, Delivered: 5, Batches: 1, Overflows: 1}
	if st := h.d.Stats(); st != want {
		t.Errorf("after the flush: Stats = %+v, want %+v", st, want)
	}
}

// TestDebouncer_LargeBurst goes past the size at which an emptied map is
// replaced, twice, and checks that every key still arrives once.
func TestDebouncer_LargeBurst(t *testing.T) {
	const keys = 3000
	h := newHarness(t, debounce.Config{Slack: -1})
	for round := range 2 {
		for i := range keys {
			h.add(fmt.Sprintf("k%d", i))
			if i%1000 == 999 {
				h.clock.Advance(time.Second)
			}
		}
		h.clock.Advance(time.Minute)
		// Keys added in the same second fall due together.
		if len(h.got) != 3*(round+1) {
			t.Fatalf("round %d: %d batches, want %d", round, len(h.got), 3*(round+1))
		}
	}
	seen := map[string]int{}
	for _, b := range h.got {
		for _, f := range strings.Fields(b)[1:] {
			seen[f[:strings.IndexByte(f, '{')]]++
		}
	}
	if len(seen) != keys {
		t.Errorf("%d distinct keys delivered, want %d", len(seen), keys)
	}
	for k, n := range seen {
		if n != 2 {
			t.Errorf("key %s delivered %d times, want 2", k, n)
		}
	}
	if st := h.d.Stats(); st.Events != 2*keys || st.Delivered != st.Events {
		t.Errorf("Stats = %+v", st)
	}
}

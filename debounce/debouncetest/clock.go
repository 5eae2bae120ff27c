// Package debouncetest provides the manually advanced clock that the tests
// of every package use: debounce, ews, ews/ewstest and the engine.
//
// # Basics
//
// Clock has the two methods of debounce.Clock, which ews.Clock and the
// engine's clock repeat with the same standard types, so one *Clock drives
// a Debouncer, an ews client's back-off, a streaming connection's read
// timeout, a push listener's liveness tracking and the fake Exchange
// server's timers at once. Its time moves only when a test calls Advance
// or Set.
//
// # Which goroutine runs timers
//
// The timers that fall due run, in due-time order, on the goroutine that
// calls Advance or Set, before it returns; never inside AfterFunc. A
// Debouncer driven by it therefore delivers its batches inside Advance, so
// a test can check what was delivered right after Advance without sleeping
// or polling. Code under test that arms a timer from another goroutine is
// waited for with WaitPending, never with a sleep.
//
// # Caveats
//
// A timer function must not call Advance or Set on the same Clock (it
// would deadlock), nor block on the goroutine that advances it. Calls to
// Advance from several goroutines are serialised.
package debouncetest

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/mailsync/mailsync/debounce"
)

// Clock is a fake debounce.Clock. The zero value is not usable; call
// NewClock. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers timerHeap
	armed  chan struct{} // closed and replaced when a timer is armed
	// advancing serialises Advance so that timer functions run in order.
	advancing sync.Mutex
}

var _ debounce.Clock = (*Clock)(nil)

// NewClock returns a Clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{now: start, armed: make(chan struct{})} }

// Now returns the fake current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run when the fake time reaches Now()+d. A
// non-positive d makes f due at the next Advance, including Advance(0).
// The returned function cancels f if it has not run yet and reports
// whether it did so.
func (c *Clock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{c: c, when: c.now.Add(d), seq: c.seq, f: f, index: -1}
	heap.Push(&c.timers, t)
	close(c.armed)
	c.armed = make(chan struct{})
	return t.stop
}

// Advance moves the clock forward by d (a negative d counts as zero),
// running every timer that falls due in due-time order, ties in the order
// they were created. While a timer function runs, Now returns its due time
// (or the current time if that is later). Timers scheduled by timer
// functions run too if they fall due within the span. Advance returns after
// all of them have returned.
func (c *Clock) Advance(d time.Duration) {
	c.advancing.Lock()
	defer c.advancing.Unlock()
	c.mu.Lock()
	end := c.now.Add(max(d, 0))
	for len(c.timers) > 0 && !c.timers[0].when.After(end) {
		t := heap.Pop(&c.timers).(*timer)
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	if end.After(c.now) {
		c.now = end
	}
	c.mu.Unlock()
}

// Set advances the clock to t, as Advance does; it never moves it back.
func (c *Clock) Set(t time.Time) {
	c.Advance(t.Sub(c.Now()))
}

// Pending returns the number of timers that have neither run nor been
// stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Armed returns a channel that is closed when the next timer is armed.
// A test that waits for the code under test to arm a timer takes the
// channel first, then checks Pending or NextDue, then waits on it, so
// that an arming between the check and the wait is not missed.
func (c *Clock) Armed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armed
}

// WaitPending blocks until at least n timers are pending, and returns nil,
// or until ctx ends, and returns ctx.Err(). Tests call it before Advance
// when the code under test arms its timer on another goroutine (a back-off
// before a retry, a read timeout after a request was sent), so that the
// advance is not lost by racing ahead of the timer.
func (c *Clock) WaitPending(ctx context.Context, n int) error {
	for {
		armed := c.Armed()
		if c.Pending() >= n {
			return nil
		}
		select {
		case <-armed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// AutoAdvance starts a goroutine that moves the clock to each timer's due
// time as soon as a timer is pending, so that every wait of the code under
// test ends at once, in order, while Now still moves by exactly the waits
// asked for. Before each move it calls each, if non-nil, with the wait
// ahead (due time minus Now); each returning false stops the goroutine and
// leaves that timer pending. The returned function stops the goroutine and
// waits for it to end. It suits a clock that only the code under test's
// back-off uses; a clock shared with timers the test means to fire itself
// should be advanced by hand.
func (c *Clock) AutoAdvance(each func(wait time.Duration) bool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c.WaitPending(ctx, 1) == nil {
			due, ok := c.NextDue()
			if !ok {
				continue
			}
			if each != nil && !each(due.Sub(c.Now())) {
				return
			}
			c.Set(due)
		}
	}()
	return func() { cancel(); <-done }
}

// NextDue returns the due time of the earliest pending timer and true, or
// the zero time and false when none is pending.
func (c *Clock) NextDue() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	return c.timers[0].when, true
}

type timer struct {
	c     *Clock
	when  time.Time
	seq   uint64
	f     func()
	index int // position in c.timers, or -1 once run or stopped
}

// stop cancels the timer if it has not run yet and reports whether it did.
func (t *timer) stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.c.timers, t.index)
	return true
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}

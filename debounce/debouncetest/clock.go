// Package debouncetest provides a manually advanced Clock for testing code
// built on package debounce.
//
// # Basics
//
// Clock implements debounce.Clock. Its time moves only when a test calls
// Advance or Set, and the timers that fall due run, in due-time order, on
// the goroutine that advances, before Advance returns. A Debouncer driven
// by it therefore delivers its batches inside Advance, so a test can check
// what was delivered right after Advance without sleeping or polling.
//
// # Caveats
//
// A timer function must not call Advance or Set on the same Clock (it
// would deadlock). Calls to Advance from several goroutines are serialised.
package debouncetest

import (
	"container/heap"
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
	// advancing serialises Advance so that timer functions run in order.
	advancing sync.Mutex
}

var _ debounce.Clock = (*Clock)(nil)

// NewClock returns a Clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the fake current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run when the fake time reaches Now()+d. A
// non-positive d makes f due at the next Advance, including Advance(0).
func (c *Clock) AfterFunc(d time.Duration, f func()) debounce.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{c: c, when: c.now.Add(d), seq: c.seq, f: f, index: -1}
	heap.Push(&c.timers, t)
	return t
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

// Stop cancels the timer if it has not run yet and reports whether it did.
func (t *timer) Stop() bool {
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

package debounce

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Item is one key of a Batch with everything that was merged for it.
type Item[K comparable, V any] struct {
	// Key is the key given to Add.
	Key K
	// Value is the first value given to Add for this key, merged with each
	// later one in order by the merge function.
	Value V
	// Events is the number of Add calls merged into Value.
	Events int
	// First and Last are the clock times of the first and the last of
	// those calls.
	First, Last time.Time
}

// Batch is one delivery: the keys that fell due together, or an overflow
// report.
type Batch[K comparable, V any] struct {
	// Items holds the keys that were cut, in the order of their first
	// pending events (ties in the order of the Add calls). It is nil when
	// Overflow is set. The slice is the callee's to keep.
	Items []Item[K, V]

	// Overflow reports that an event arrived for a new key while
	// Config.MaxPending keys were already pending, so the Debouncer dropped
	// what it had collected rather than grow. It stands for "any key may have changed since the previous
	// batch": the receiver should do a full comparison instead of
	// per-key work. See the package documentation.
	Overflow bool

	// Dropped is the number of events an overflow batch stands for: those
	// of the keys pending when the Debouncer overflowed plus every event
	// that arrived while it stayed overflowed. It is zero unless Overflow
	// is set.
	Dropped int
}

// Events returns the number of Add calls the batch accounts for.
func (b Batch[K, V]) Events() int {
	n := b.Dropped
	for i := range b.Items {
		n += b.Items[i].Events
	}
	return n
}

// Stats is a snapshot of a Debouncer's counters.
type Stats struct {
	// Pending is the number of keys waiting to be delivered.
	Pending int
	// PendingEvents is the number of accepted events not yet cut into a
	// batch, including those held by an overflow.
	PendingEvents int
	// Overflowed reports whether an overflow batch is waiting.
	Overflowed bool
	// Events counts the Add calls accepted since New.
	Events uint64
	// Delivered counts the events of every batch handed to deliver so
	// far; Events == Delivered + PendingEvents at every snapshot.
	Delivered uint64
	// Batches counts the batches handed to deliver.
	Batches uint64
	// Overflows counts the times the Debouncer overflowed.
	Overflows uint64
}

// Debouncer coalesces events by key and delivers the keys in batches once
// they have been quiet for Config.Quiet, or have waited Config.MaxDelay.
//
// Create one with New; the zero value is not usable. All methods are safe
// for concurrent use. See the package documentation for the delivery
// contract.
type Debouncer[K comparable, V any] struct {
	quiet, maxDelay, slack time.Duration
	maxPending             int
	clock                  Clock
	logger                 *slog.Logger
	merge                  func(acc, v V) V
	deliver                func(Batch[K, V])
	base                   time.Time // offsets below count from here

	mu      sync.Mutex
	latest  time.Duration // greatest clock offset seen: time never goes back
	pending map[K]*entry[K, V]
	peak    int // largest len(pending) since the map was last replaced
	seq     uint64
	// byFirst lists pending entries in first-event order, which is also
	// first+maxDelay order; byLast lists them in last-event order, which is
	// last+quiet order. The earliest due key is at the head of one of them.
	byFirst, byLast entryList[K, V]
	free            *entry[K, V] // recycled entries, linked through links[firstOrder].next
	nfree           int
	scratch         []*entry[K, V]

	overflowed      bool
	ovFirst, ovLast time.Duration
	ovEvents        int

	timer    func() bool // stops the timer armed for timerAt, or nil
	timerAt  time.Duration
	timerGen uint64

	delivering bool          // some goroutine is in drain
	flushReq   bool          // the next cut takes every pending key
	flushDone  chan struct{} // closed after the requested flush; lazily made
	closed     bool

	events, delivered, batches, overflows uint64
}

// maxFree bounds the recycled entries kept per Debouncer, and
// shrinkAfter is the map size past which an emptied map is replaced so
// that a one-off burst does not pin its memory.
const (
	maxFree     = 256
	shrinkAfter = 1024
)

type entry[K comparable, V any] struct {
	key         K
	value       V
	events      int
	seq         uint64
	first, last time.Duration
	// links holds the entry's neighbours in byFirst (firstOrder, also the
	// free list) and in byLast (lastOrder).
	links [2]links[K, V]
	cut   bool
}

// links are an entry's neighbours in one entryList.
type links[K comparable, V any] struct {
	prev, next *entry[K, V]
}

// The orders an entryList can thread its entries in: the index of the
// links it uses.
const (
	firstOrder = 0
	lastOrder  = 1
)

// entryList is an intrusive doubly linked list through each entry's
// links[order].
type entryList[K comparable, V any] struct {
	head, tail *entry[K, V]
	order      int
}

// next returns the entry after e in l, or nil.
func (l *entryList[K, V]) next(e *entry[K, V]) *entry[K, V] { return e.links[l.order].next }

// push appends e to l.
func (l *entryList[K, V]) push(e *entry[K, V]) {
	e.links[l.order] = links[K, V]{prev: l.tail}
	if l.tail != nil {
		l.tail.links[l.order].next = e
	} else {
		l.head = e
	}
	l.tail = e
}

// remove takes e out of l.
func (l *entryList[K, V]) remove(e *entry[K, V]) {
	k := &e.links[l.order]
	if k.prev != nil {
		k.prev.links[l.order].next = k.next
	} else {
		l.head = k.next
	}
	if k.next != nil {
		k.next.links[l.order].prev = k.prev
	} else {
		l.tail = k.prev
	}
	*k = links[K, V]{}
}

// clear empties l without unlinking its entries.
func (l *entryList[K, V]) clear() { l.head, l.tail = nil, nil }

// New returns a Debouncer configured by cfg (nil means all defaults).
//
// merge combines the value accumulated for a key with the value of a newer
// event and returns the result; it is called as merge(acc, v) under the
// Debouncer's lock, so it must be quick and must not call the Debouncer.
// The first value of a key is kept as it is. A nil merge keeps the newest
// value.
//
// deliver receives the batches; it must not be nil. See the package
// documentation for the goroutine it runs on and what it may do.
//
// New starts no goroutine and arms no timer until the first Add.
func New[K comparable, V any](cfg *Config, merge func(acc, v V) V, deliver func(Batch[K, V])) (*Debouncer[K, V], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deliver == nil {
		return nil, ErrNoDeliver
	}
	if merge == nil {
		merge = func(_, v V) V { return v }
	}
	c := cfg.withDefaults()
	return &Debouncer[K, V]{
		quiet:      c.Quiet,
		maxDelay:   c.MaxDelay,
		slack:      c.effectiveSlack(),
		maxPending: c.MaxPending,
		clock:      c.Clock,
		logger:     c.Logger,
		merge:      merge,
		deliver:    deliver,
		base:       c.Clock.Now(),
		pending:    make(map[K]*entry[K, V]),
		byFirst:    entryList[K, V]{order: firstOrder},
		byLast:     entryList[K, V]{order: lastOrder},
	}, nil
}

// Add records an event for key. If key is pending, v is merged into its
// value; otherwise key becomes pending with value v, behind every key
// already pending. Add never delivers and never waits for a delivery: it
// only takes the Debouncer's lock for a moment (and calls merge under it).
//
// If key is new and Config.MaxPending keys are already pending, the
// Debouncer overflows instead: it drops every pending key and reports one
// overflow batch later, which also stands for this event and for every
// event that arrives before that batch is cut.
//
// Add returns ErrClosed once Close has been called; the event is then not
// recorded.
func (d *Debouncer[K, V]) Add(key K, v V) error {
	dropped, events, err := d.add(key, v)
	if dropped > 0 {
		d.logger.Warn("debounce: too many pending keys; dropping them and reporting an overflow",
			LogKeyPending, dropped, LogKeyLimit, d.maxPending, LogKeyEvents, events)
	}
	return err
}

// add does the work of Add; it reports how many keys and events an
// overflow that it started dropped, so that Add can log outside the lock.
func (d *Debouncer[K, V]) add(key K, v V) (dropped, events int, err error) {
	t := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, 0, ErrClosed
	}
	now := d.offsetLocked(t)
	if d.overflowed {
		d.events++
		d.ovEvents++
		d.ovLast = now
		return 0, 0, nil
	}
	if e := d.pending[key]; e != nil {
		// merge runs first: if it panics, nothing has been counted.
		e.value = d.merge(e.value, v)
		d.events++
		e.events++
		e.last = now
		if d.byLast.tail != e {
			d.byLast.remove(e)
			d.byLast.push(e)
		}
		return 0, 0, nil
	}
	d.events++
	if len(d.pending) >= d.maxPending {
		dropped, events = d.overflowLocked(now)
		return dropped, events, nil
	}
	e := d.free
	if e != nil {
		d.free = d.byFirst.next(e)
		e.links[firstOrder].next = nil
		d.nfree--
	} else {
		e = new(entry[K, V])
	}
	d.seq++
	e.key, e.value, e.events, e.seq, e.first, e.last = key, v, 1, d.seq, now, now
	d.pending[key] = e
	d.peak = max(d.peak, len(d.pending))
	d.byFirst.push(e)
	d.byLast.push(e)
	if d.timer == nil && !d.delivering {
		d.armLocked(now)
	}
	return 0, 0, nil
}

// overflowLocked drops every pending key and enters the overflowed state
// on behalf of one more event at now.
func (d *Debouncer[K, V]) overflowLocked(now time.Duration) (keys, events int) {
	keys = len(d.pending)
	events = 1
	d.ovFirst = now
	if d.byFirst.head != nil {
		d.ovFirst = d.byFirst.head.first
	}
	for e := d.byFirst.head; e != nil; {
		next := d.byFirst.next(e)
		events += e.events
		d.recycleLocked(e)
		e = next
	}
	d.byFirst.clear()
	d.byLast.clear()
	d.resetMapLocked()
	d.overflowed = true
	d.ovLast = now
	d.ovEvents = events
	d.overflows++
	if d.timer == nil && !d.delivering {
		d.armLocked(now)
	}
	return keys, events
}

// FlushNow cuts every pending key into one batch at once, whatever its
// timing, and has it delivered; an overflow pending is delivered as the
// overflow batch. With nothing pending it delivers nothing.
//
// If no delivery is running, FlushNow calls deliver on the calling
// goroutine and returns after deliver returns (it then ignores ctx). If a
// delivery is running on another goroutine, the flush batch follows it on
// that goroutine, and FlushNow waits for it until ctx is done, returning
// ctx.Err() if it gives up waiting; the flush still happens.
//
// FlushNow must not be called from deliver: it would wait for itself.
// It returns ErrClosed once Close has been called.
func (d *Debouncer[K, V]) FlushNow(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	return d.flushLocked(ctx)
}

// Close stops the Debouncer: from the moment it is called Add fails with
// ErrClosed, and it then flushes what is pending as FlushNow does, with
// the same rule for ctx. Once Close has returned nil, deliver is never
// called again and no timer is left armed. A second Close returns
// ErrClosed. Close starts and leaves no goroutine.
//
// Close must not be called from deliver: it would wait for itself.
func (d *Debouncer[K, V]) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.closed = true
	return d.flushLocked(ctx)
}

// flushLocked requests a full flush and either performs it or waits for
// the running delivery to perform it. It is called with d.mu held and
// releases it.
func (d *Debouncer[K, V]) flushLocked(ctx context.Context) error {
	d.flushReq = true
	if !d.delivering {
		d.delivering = true
		d.mu.Unlock()
		d.drain()
		return nil
	}
	if d.flushDone == nil {
		d.flushDone = make(chan struct{})
	}
	done := d.flushDone
	d.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns a snapshot of the counters.
func (d *Debouncer[K, V]) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Stats{
		Pending:    len(d.pending),
		Overflowed: d.overflowed,
		Events:     d.events,
		Delivered:  d.delivered,
		Batches:    d.batches,
		Overflows:  d.overflows,
	}
	if d.overflowed {
		s.PendingEvents = d.ovEvents
	}
	for e := d.byFirst.head; e != nil; e = d.byFirst.next(e) {
		s.PendingEvents += e.events
	}
	return s
}

// fire runs when the timer armed with generation gen goes off.
func (d *Debouncer[K, V]) fire(gen uint64) {
	d.mu.Lock()
	if gen != d.timerGen || d.timer == nil {
		// A timer that was stopped too late to prevent this call.
		d.mu.Unlock()
		return
	}
	d.timer = nil
	if d.delivering {
		// The running drain cuts again before it stops and re-arms.
		d.mu.Unlock()
		return
	}
	d.delivering = true
	d.mu.Unlock()
	d.drain()
}

// drain cuts and delivers batches until nothing is due and no flush is
// requested, then re-arms the timer. The caller has set d.delivering; drain
// clears it. Only one drain runs at a time, so batches are delivered one
// after the other, in the order they were cut.
func (d *Debouncer[K, V]) drain() {
	var done chan struct{}
	clean := false
	defer func() {
		if clean {
			return
		}
		// deliver panicked: the batch it was handling is lost, but the
		// Debouncer stays usable and flush waiters are released.
		d.mu.Lock()
		d.delivering = false
		d.armLocked(d.offsetLocked(d.clock.Now()))
		d.mu.Unlock()
		if done != nil {
			close(done)
		}
	}()
	for {
		d.mu.Lock()
		now := d.offsetLocked(d.clock.Now())
		all := d.flushReq
		if all {
			d.flushReq = false
			done, d.flushDone = d.flushDone, nil
		}
		b, ok := d.cutLocked(now, all)
		if !ok && !all {
			d.delivering = false
			d.armLocked(now)
			d.mu.Unlock()
			clean = true
			return
		}
		d.mu.Unlock()
		if ok {
			d.deliver(b)
		}
		if done != nil {
			close(done)
			done = nil
		}
	}
}

// cutLocked removes the keys due at now (all keys if all is set) and
// returns them as a batch, or reports false if there are none.
func (d *Debouncer[K, V]) cutLocked(now time.Duration, all bool) (Batch[K, V], bool) {
	if !all {
		// A batch is cut only when some key is really due; Slack then
		// widens it, but never starts one (a timer may go off early).
		if due, ok := d.nextDueLocked(); !ok || due > now {
			return Batch[K, V]{}, false
		}
	}
	if d.overflowed {
		b := Batch[K, V]{Overflow: true, Dropped: d.ovEvents}
		d.overflowed = false
		d.delivered += uint64(d.ovEvents)
		d.ovEvents = 0
		d.batches++
		return b, true
	}
	if d.byFirst.head == nil {
		return Batch[K, V]{}, false
	}
	cut := d.scratch[:0]
	if all {
		for e := d.byFirst.head; e != nil; e = d.byFirst.next(e) {
			cut = append(cut, e)
		}
	} else {
		limit := now + d.slack
		for e := d.byLast.head; e != nil && e.last+d.quiet <= limit; e = d.byLast.next(e) {
			e.cut = true
			cut = append(cut, e)
		}
		quietCut := len(cut)
		for e := d.byFirst.head; e != nil && e.first+d.maxDelay <= limit; e = d.byFirst.next(e) {
			if !e.cut {
				e.cut = true
				cut = append(cut, e)
			}
		}
		if quietCut > 1 || (quietCut > 0 && quietCut < len(cut)) {
			slices.SortFunc(cut, func(a, b *entry[K, V]) int {
				switch {
				case a.seq < b.seq:
					return -1
				case a.seq > b.seq:
					return 1
				}
				return 0
			})
		}
	}
	items := make([]Item[K, V], len(cut))
	for i, e := range cut {
		items[i] = Item[K, V]{
			Key:    e.key,
			Value:  e.value,
			Events: e.events,
			First:  d.base.Add(e.first),
			Last:   d.base.Add(e.last),
		}
		d.delivered += uint64(e.events)
		delete(d.pending, e.key)
		d.byFirst.remove(e)
		d.byLast.remove(e)
		d.recycleLocked(e)
		cut[i] = nil
	}
	d.scratch = cut[:0]
	if len(d.pending) == 0 {
		d.resetMapLocked()
	}
	d.batches++
	return Batch[K, V]{Items: items}, true
}

// recycleLocked clears e and keeps it for reuse if there is room.
func (d *Debouncer[K, V]) recycleLocked(e *entry[K, V]) {
	*e = entry[K, V]{}
	if d.nfree < maxFree {
		e.links[firstOrder].next = d.free
		d.free = e
		d.nfree++
	}
}

// resetMapLocked empties the pending map, replacing it if it grew large.
func (d *Debouncer[K, V]) resetMapLocked() {
	if d.peak > shrinkAfter {
		d.pending = make(map[K]*entry[K, V])
	} else {
		clear(d.pending)
	}
	d.peak = 0
	if cap(d.scratch) > shrinkAfter {
		d.scratch = nil
	}
}

// armLocked makes sure the timer goes off no later than the earliest due
// time, or stops it when nothing is pending.
func (d *Debouncer[K, V]) armLocked(now time.Duration) {
	due, ok := d.nextDueLocked()
	if !ok {
		if d.timer != nil {
			d.timer()
			d.timer = nil
		}
		return
	}
	if d.timer != nil {
		if d.timerAt <= due {
			return
		}
		d.timer()
	}
	d.timerGen++
	gen := d.timerGen
	d.timerAt = due
	d.timer = d.clock.AfterFunc(max(due-now, 0), func() { d.fire(gen) })
}

// nextDueLocked returns the earliest due time, or false when nothing is
// pending.
func (d *Debouncer[K, V]) nextDueLocked() (time.Duration, bool) {
	switch {
	case d.overflowed:
		return min(d.ovLast+d.quiet, d.ovFirst+d.maxDelay), true
	case d.byFirst.head != nil:
		return min(d.byLast.head.last+d.quiet, d.byFirst.head.first+d.maxDelay), true
	}
	return 0, false
}

// offsetLocked converts a clock reading to an offset from d.base, never
// earlier than one already seen.
func (d *Debouncer[K, V]) offsetLocked(t time.Time) time.Duration {
	o := t.Sub(d.base)
	if o < d.latest {
		return d.latest
	}
	d.latest = o
	return o
}

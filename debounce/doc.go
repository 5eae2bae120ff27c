// Package debounce coalesces bursts of keyed events into batches: a
// generic Debouncer[K, V] merges the events of each key and delivers the
// keys once they have gone quiet, or have waited long enough.
//
// One user action often raises several notifications in a row; work started
// in the middle of such a burst sees a half-done operation. The Debouncer
// waits for the burst to end and then hands over each affected key once. It
// knows nothing about what the keys mean.
//
// # Basics
//
// Create a Debouncer with New, giving a Config (nil for the defaults), a
// merge function and a deliver function, then call Add for every event:
//
//   - Add(key, v) makes key pending with value v, or merges v into its
//     value with merge(acc, v). Add never blocks on delivery.
//   - A pending key is due when no event has arrived for it for
//     Config.Quiet (default 3 s), or when Config.MaxDelay (default 15 s)
//     has passed since the first event that made it pending, whichever
//     comes first. So a key receiving a steady stream is still delivered at
//     least every MaxDelay.
//   - Keys that are due together are cut into one Batch, in the order of
//     their first events. "Together" means within Config.Slack (default
//     Quiet/10) of the moment the batch is cut: keys touched by one burst
//     travel in one batch, some of them up to Slack early. Once cut, a key
//     is no longer pending; its next event starts it afresh.
//   - FlushNow cuts every pending key at once (for "sync now"), and Close
//     flushes, stops and makes later Adds fail with ErrClosed.
//
// Every accepted event is accounted for exactly once: in the Item of its
// key in one batch, or in the Dropped count of one overflow batch. Stats
// exposes the counters that prove it (Events == Delivered + PendingEvents).
//
// # Delivery contract
//
// The Debouncer owns no goroutine. One timer, shared by all keys, is armed
// for the earliest due time. deliver is called:
//
//   - on the goroutine that runs the Clock's timer functions when keys
//     fall due (for SystemClock a goroutine of time.AfterFunc; for
//     debouncetest.Clock the goroutine calling Advance), or
//   - on the goroutine calling FlushNow or Close when it asks for the
//     flush and no delivery is running.
//
// Never from Add, and never twice at the same time: batches are delivered
// one after the other, in the order they were cut.
//
// deliver may block, for as long as the work takes (the engine syncs the
// folders of a batch inside it). While it runs, Add keeps accepting events;
// they accumulate as pending keys, are never lost, and are cut into a later
// batch, the next one starting as soon as deliver returns if keys are
// already due by then. A slow deliver thus makes batches larger, not more
// numerous, and memory stays bounded by MaxPending. deliver may call Add
// and Stats; it must not call FlushNow or Close, which would wait for it.
// If deliver panics, that batch is lost and the panic propagates to the
// goroutine running it; the Debouncer stays usable.
//
// # Overflow
//
// At most Config.MaxPending (default 10,000) keys are pending. An event
// for one more key makes the Debouncer overflow: it drops every pending
// key and value and, until the overflow is cut, accepts events for any key
// without keeping them (Add stays cheap and returns nil). The overflow is
// cut as a single Batch with Overflow set, no Items, and Dropped counting
// every event it swallowed. It falls due like one key whose first event is
// the earliest dropped one and whose last event is the latest swallowed
// one, so it is delivered within MaxDelay of the oldest event it covers;
// FlushNow and Close deliver it at once. The receiver must treat it as
// "anything may have changed since the previous batch" and do a full
// comparison (the engine plans one, as in recovery). Events added after the
// overflow batch is cut are tracked per key again, so work started inside
// deliver never misses a change made after it began. Each overflow logs
// one warning and counts in Stats.Overflows.
//
// # Caveats
//
//   - Times come from Config.Clock. Tests inject debouncetest.Clock and
//     never sleep: its Advance runs the deliveries that fall due before it
//     returns. Clock is the module's one clock interface (ews.Clock,
//     syncengine.Clock and ewstest.Clock are aliases of it), and
//     debounce.Sleep the one context-aware sleep on it. It uses only
//     standard types (AfterFunc returns a stop function), so any value with
//     the same two methods fits without an adapter (see Clock for which
//     goroutine runs timers).
//   - merge runs under the Debouncer's lock, on the goroutine calling Add:
//     it must be quick and must not call the Debouncer. Values are kept, not
//     copied: if V holds references, merge may mutate acc in place, and the
//     receiver owns the values of a delivered batch.
//   - Due times hold to the clock's precision: with SystemClock a key may
//     be delivered a little after it falls due (timer latency, or a
//     deliver still running) and up to Slack before.
//   - An overflow forgets the values of the dropped keys, including
//     anything merge accumulated in them (a newest watermark, say); a
//     receiver that needs such a value across an overflow must track it
//     itself.
package debounce

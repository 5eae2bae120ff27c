package debounce_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/debounce/debouncetest"
)

// countingSink checks the invariants of every batch and adds up what was
// delivered. It takes no lock: deliver is never called concurrently, and
// the race detector holds the Debouncer to that.
type countingSink struct {
	t       *testing.T
	perKey  map[string]int
	dropped int
	batches int
	events  int // as counted by Batch.Events
}

func (s *countingSink) deliver(b debounce.Batch[string, int]) {
	s.batches++
	s.events += b.Events()
	if b.Overflow {
		if len(b.Items) != 0 || b.Dropped <= 0 {
			s.t.Errorf("overflow batch with %d items, %d dropped", len(b.Items), b.Dropped)
		}
		s.dropped += b.Dropped
		return
	}
	if len(b.Items) == 0 {
		s.t.Error("empty batch delivered")
	}
	seen := make(map[string]bool, len(b.Items))
	for i, it := range b.Items {
		if seen[it.Key] {
			s.t.Errorf("key %s twice in one batch", it.Key)
		}
		seen[it.Key] = true
		if it.Value != it.Events {
			s.t.Errorf("key %s: merged value %d, events %d", it.Key, it.Value, it.Events)
		}
		if i > 0 && it.First.Before(b.Items[i-1].First) {
			s.t.Errorf("batch not in first-event order at %s", it.Key)
		}
		s.perKey[it.Key] += it.Value
	}
}

// total adds up the values and overflow counts delivered, checking them
// against Batch.Events.
func (s *countingSink) total() int {
	n := s.dropped
	for _, v := range s.perKey {
		n += v
	}
	if n != s.events {
		s.t.Errorf("batches hold %d events by value, %d by Batch.Events", n, s.events)
	}
	return n
}

func produce(d *debounce.Debouncer[string, int], producers, perProducer, keys int) (sent []map[string]int) {
	sent = make([]map[string]int, producers)
	var wg sync.WaitGroup
	for p := range producers {
		sent[p] = map[string]int{}
		wg.Go(func() {
			for i := range perProducer {
				k := fmt.Sprintf("k%d", (i*7+p*13)%keys)
				if err := d.Add(k, 1); err != nil {
					panic(err)
				}
				sent[p][k]++
			}
		})
	}
	wg.Wait()
	return sent
}

func TestDebouncer_ConcurrentProducers(t *testing.T) {
	const producers, perProducer, keys = 8, 4000, 200
	for _, maxPending := range []int{1000, 50} {
		t.Run(fmt.Sprintf("maxPending=%d", maxPending), func(t *testing.T) {
			clock := debouncetest.NewClock(epoch)
			sink := &countingSink{t: t, perKey: map[string]int{}}
			cfg := &debounce.Config{Clock: clock, MaxPending: maxPending, Logger: slog.New(slog.DiscardHandler)}
			d, err := debounce.New(cfg, func(acc, v int) int { return acc + v }, sink.deliver)
			if err != nil {
				t.Fatal(err)
			}
			// Make sure the small limit overflows at least once.
			pre := 0
			if maxPending < keys {
				for pre = 0; pre <= maxPending; pre++ {
					must(t, d.Add(fmt.Sprintf("pre%d", pre), 1))
				}
			}
			// Time moves and flushes happen while the producers run.
			var stop atomic.Bool
			var bg sync.WaitGroup
			bg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					clock.Advance(time.Duration(i%7) * 400 * time.Millisecond)
				}
			})
			bg.Go(func() {
				for !stop.Load() {
					if err := d.FlushNow(context.Background()); err != nil {
						t.Errorf("FlushNow: %v", err)
						return
					}
				}
			})
			sent := produce(d, producers, perProducer, keys)
			stop.Store(true)
			bg.Wait()
			if err := d.Close(context.Background()); err != nil {
				t.Fatal(err)
			}

			if got, want := sink.total(), pre+producers*perProducer; got != want {
				t.Errorf("delivered %d events, sent %d", got, want)
			}
			if pre == 0 {
				want := map[string]int{}
				for _, m := range sent {
					for k, n := range m {
						want[k] += n
					}
				}
				for k, n := range want {
					if sink.perKey[k] != n {
						t.Errorf("key %s: delivered %d events, sent %d", k, sink.perKey[k], n)
					}
				}
			}
			st := d.Stats()
			if st.Events != uint64(pre+producers*perProducer) || st.Delivered != st.Events || st.Batches != uint64(sink.batches) {
				t.Errorf("Stats = %+v, %d batches seen", st, sink.batches)
			}
			if pre > 0 && (st.Overflows == 0 || sink.dropped == 0) {
				t.Errorf("no overflow with %d keys over a limit of %d", keys, maxPending)
			}
			if pre == 0 && st.Overflows != 0 {
				t.Errorf("%d overflows under the limit", st.Overflows)
			}
			t.Logf("%d batches, %d overflows, %d events dropped into overflows", sink.batches, st.Overflows, sink.dropped)
		})
	}
}

// TestDebouncer_ConcurrentSystemClock runs on the wall clock with tiny
// windows, so that real timer goroutines deliver while producers add. Batch
// boundaries vary from run to run; the totals may not.
func TestDebouncer_ConcurrentSystemClock(t *testing.T) {
	const producers, perProducer, keys = 4, 5000, 64
	sink := &countingSink{t: t, perKey: map[string]int{}}
	cfg := &debounce.Config{Quiet: time.Millisecond, MaxDelay: 2 * time.Millisecond, Slack: -1}
	d, err := debounce.New(cfg, func(acc, v int) int { return acc + v }, sink.deliver)
	if err != nil {
		t.Fatal(err)
	}
	produce(d, producers, perProducer, keys)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := sink.total(), producers*perProducer; got != want {
		t.Errorf("delivered %d events, sent %d", got, want)
	}
	if st := d.Stats(); st.Delivered != st.Events || st.Overflows != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

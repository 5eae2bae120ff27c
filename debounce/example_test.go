package debounce_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/debounce/debouncetest"
)

// change is what an engine might merge per folder: which kinds of event
// arrived and the newest watermark.
type change struct {
	kinds     []string
	watermark int
}

func mergeChange(acc, v change) change {
	for _, k := range v.kinds {
		if !slices.Contains(acc.kinds, k) {
			acc.kinds = append(acc.kinds, k)
		}
	}
	acc.watermark = max(acc.watermark, v.watermark)
	return acc
}

// A folder move raises three events within milliseconds; they reach the
// receiver as one batch once the folders have been quiet for 3 s.
func Example() {
	clock := debouncetest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	start := clock.Now()
	d, err := debounce.New(&debounce.Config{Clock: clock}, mergeChange,
		func(b debounce.Batch[string, change]) {
			fmt.Println("batch at", clock.Now().Sub(start))
			for _, it := range b.Items {
				fmt.Printf("  %s %v watermark %d (%d events)\n", it.Key, it.Value.kinds, it.Value.watermark, it.Events)
			}
		})
	if err != nil {
		panic(err)
	}
	_ = d.Add("drafts", change{[]string{"modified"}, 1})
	_ = d.Add("projects", change{[]string{"moved"}, 2})
	clock.Advance(20 * time.Millisecond)
	_ = d.Add("archive", change{[]string{"modified"}, 3})
	_ = d.Add("drafts", change{[]string{"modified", "created"}, 4})
	clock.Advance(10 * time.Second)
	_ = d.Close(context.Background())
	// Output:
	// batch at 3s
	//   drafts [modified created] watermark 4 (2 events)
	//   projects [moved] watermark 2 (1 events)
	//   archive [modified] watermark 3 (1 events)
}

// FlushNow hands over what is pending at once, for "sync now" and shutdown.
func ExampleDebouncer_FlushNow() {
	d, err := debounce.New(nil, func(acc, v int) int { return acc + v },
		func(b debounce.Batch[string, int]) {
			for _, it := range b.Items {
				fmt.Println(it.Key, it.Value)
			}
		})
	if err != nil {
		panic(err)
	}
	_ = d.Add("inbox", 1)
	_ = d.Add("inbox", 1)
	_ = d.Add("sent", 1)
	// deliver runs on this goroutine and has returned when FlushNow does.
	if err := d.FlushNow(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println("flushed")
	_ = d.Close(context.Background())
	// Output:
	// inbox 2
	// sent 1
	// flushed
}

// Close delivers what is pending and makes later events fail.
func ExampleDebouncer_Close() {
	d, err := debounce.New(nil, nil, func(b debounce.Batch[string, struct{}]) {
		fmt.Println("final batch:", len(b.Items), "keys")
	})
	if err != nil {
		panic(err)
	}
	_ = d.Add("inbox", struct{}{})
	_ = d.Add("sent", struct{}{})
	fmt.Println(d.Close(context.Background()))
	fmt.Println(d.Add("inbox", struct{}{}))
	// Output:
	// final batch: 2 keys
	// <nil>
	// debounce: closed
}

// Past MaxPending keys the Debouncer reports an overflow instead of
// growing; the receiver then compares everything.
func Example_overflow() {
	clock := debouncetest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	cfg := &debounce.Config{Clock: clock, MaxPending: 2}
	d, err := debounce.New(cfg, nil, func(b debounce.Batch[int, struct{}]) {
		if b.Overflow {
			fmt.Println("overflow: full comparison for", b.Dropped, "events")
			return
		}
		fmt.Println("keys:", len(b.Items))
	})
	if err != nil {
		panic(err)
	}
	for folder := range 5 {
		_ = d.Add(folder, struct{}{})
	}
	clock.Advance(time.Minute)
	_ = d.Add(7, struct{}{}) // tracked per key again
	clock.Advance(time.Minute)
	fmt.Println("overflows:", d.Stats().Overflows)
	// Output:
	// overflow: full comparison for 5 events
	// keys: 1
	// overflows: 1
}

// Stats accounts for every event: delivered, or still pending.
func ExampleDebouncer_Stats() {
	clock := debouncetest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	d, err := debounce.New(&debounce.Config{Clock: clock}, nil, func(debounce.Batch[string, int]) {})
	if err != nil {
		panic(err)
	}
	_ = d.Add("inbox", 1)
	clock.Advance(5 * time.Second)
	_ = d.Add("inbox", 2)
	_ = d.Add("sent", 3)
	st := d.Stats()
	fmt.Printf("events %d = delivered %d + pending %d (%d keys)\n", st.Events, st.Delivered, st.PendingEvents, st.Pending)
	// Output:
	// events 3 = delivered 1 + pending 2 (2 keys)
}

// Tests drive a Debouncer with debouncetest.Clock: Advance runs the
// deliveries that fall due before it returns.
func ExampleNew() {
	clock := debouncetest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	var delivered int
	d, err := debounce.New(&debounce.Config{Clock: clock, Quiet: time.Second, MaxDelay: 5 * time.Second}, nil,
		func(b debounce.Batch[string, int]) { delivered += len(b.Items) })
	if err != nil {
		panic(err)
	}
	_ = d.Add("inbox", 1)
	clock.Advance(999 * time.Millisecond)
	fmt.Println("after 999ms:", delivered)
	clock.Advance(time.Millisecond)
	fmt.Println("after 1s:", delivered)
	// Output:
	// after 999ms: 0
	// after 1s: 1
}

// SystemClock is what a nil Config.Clock means; any type with these two
// methods can stand in for it.
func ExampleSystemClock() {
	var c debounce.Clock = debounce.SystemClock{}
	stop := c.AfterFunc(time.Hour, func() {})
	fmt.Println(stop())
	// Output:
	// true
}

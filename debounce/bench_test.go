package debounce_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce"
)

// folderIDs returns n distinct keys shaped like EWS folder ids (about 120
// base64 characters), which are what the engine coalesces on.
func folderIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("AAMkAGI2TG93AAA%s%06d=", strings.Repeat("x", 100), i)
	}
	return ids
}

func orKinds(acc, v uint32) uint32 { return acc | v }

// benchAdd measures Add throughput with producers on every P, reporting
// events/s. With a short quiet window batches are cut and delivered while
// the producers run.
func benchAdd[K comparable](b *testing.B, keys []K, cfg *debounce.Config) {
	var batches atomic.Int64
	d, err := debounce.New(cfg, orKinds, func(debounce.Batch[K, uint32]) { batches.Add(1) })
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Each producer walks the keys from its own offset.
		i := int(next.Add(1) * 7919)
		for pb.Next() {
			if err := d.Add(keys[i%len(keys)], 1<<(i&7)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(batches.Load()), "batches")
	if err := d.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	if st := d.Stats(); st.Events != uint64(b.N) || st.Delivered != st.Events {
		b.Fatalf("Stats = %+v after %d events", st, b.N)
	}
}

func BenchmarkDebouncer_Add(b *testing.B) {
	ints := make([]int, 1000)
	for i := range ints {
		ints[i] = i
	}
	ids := folderIDs(1000)
	delivering := &debounce.Config{Quiet: time.Millisecond, MaxDelay: 5 * time.Millisecond, Slack: -1}
	b.Run("keys=1000/int", func(b *testing.B) { benchAdd(b, ints, nil) })
	b.Run("keys=1000/folderid", func(b *testing.B) { benchAdd(b, ids, nil) })
	b.Run("keys=1000/folderid/delivering", func(b *testing.B) { benchAdd(b, ids, delivering) })
}

// BenchmarkDebouncer_AddSerial is one producer, the pull-subscription case.
func BenchmarkDebouncer_AddSerial(b *testing.B) {
	ids := folderIDs(1000)
	d, err := debounce.New(nil, orKinds, func(debounce.Batch[string, uint32]) {})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := d.Add(ids[i%len(ids)], 1); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	_ = d.Close(context.Background())
}

// BenchmarkDebouncer_Flush measures cutting and delivering a batch of 1,000
// keys (one op is one batch), the cost a due batch adds to the producers.
func BenchmarkDebouncer_Flush(b *testing.B) {
	ids := folderIDs(1000)
	var items int
	d, err := debounce.New(nil, orKinds, func(bt debounce.Batch[string, uint32]) { items += len(bt.Items) })
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for _, id := range ids {
			if err := d.Add(id, 1); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := d.FlushNow(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(items), "ns/key")
	_ = d.Close(ctx)
}

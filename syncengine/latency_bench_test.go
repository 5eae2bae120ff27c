package syncengine

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
)

// BenchmarkLiveLatency runs the activity generator at 200 changes/s for
// five seconds against a streaming mailbox and reports, per batch, the
// time from the debouncer's cut to the commit (the latency after the
// debounce window closes: sync, fetch, apply) and from the batch's first
// event to the commit.
func BenchmarkLiveLatency(b *testing.B) {
	for range b.N {
		ctx := context.Background()
		srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{{Name: testUser, Password: testPass, Address: testAddr}}, Logger: quietLogger()})
		if _, err := ewstest.Seed(srv.Mailbox(testAddr), ewstest.SeedOptions{Messages: 20_000, Folders: 30, Seed: 4}); err != nil {
			b.Fatal(err)
		}
		store, err := localstore.Open(filepath.Join(b.TempDir(), "m.db"), &localstore.Options{Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		client, _ := benchClient(b, srv.URL)
		var mu sync.Mutex
		var afterCut, afterFirst []time.Duration
		ready := make(chan struct{}, 1)
		const quiet = 100 * time.Millisecond
		eng, _ := New(store, Config{Logger: quietLogger(), Quiet: quiet, MaxDelay: 500 * time.Millisecond, OnEvent: func(ev Event) {
			switch ev.Kind {
			case EventInitialSync:
				ready <- struct{}{}
			case EventBatch:
				mu.Lock()
				afterCut = append(afterCut, ev.Batch.Committed.Sub(ev.Batch.Cut))
				afterFirst = append(afterFirst, ev.Batch.Committed.Sub(ev.Batch.FirstEvent))
				mu.Unlock()
			}
		}})
		eng.AddMailbox(ctx, Mailbox{Address: testAddr, Client: client})
		eng.Start(ctx)
		<-ready
		act, err := srv.StartActivity(ewstest.ActivityOptions{Rate: 200, Seed: 6})
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(5 * time.Second) // the measurement window
		act.Stop()
		eng.Close(ctx)
		store.Close()
		srv.Close()
		mu.Lock()
		pc := func(d []time.Duration, p float64) float64 {
			s := slices.Clone(d)
			slices.Sort(s)
			if len(s) == 0 {
				return 0
			}
			return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
		}
		b.ReportMetric(float64(len(afterCut)), "batches")
		b.ReportMetric(float64(act.Total()), "changes")
		b.ReportMetric(pc(afterCut, 0.50), "cut-p50-ms")
		b.ReportMetric(pc(afterCut, 0.95), "cut-p95-ms")
		b.ReportMetric(pc(afterCut, 0.99), "cut-p99-ms")
		b.ReportMetric(pc(afterFirst, 0.50), "event-p50-ms")
		b.ReportMetric(pc(afterFirst, 0.99), "event-p99-ms")
		mu.Unlock()
	}
}

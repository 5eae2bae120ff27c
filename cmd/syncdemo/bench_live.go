package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/syncengine"
)

// liveResult is the live latency: activity at Rate changes/s through a
// streaming subscription, the latency of every applied batch.
type liveResult struct {
	Rate    float64 `json:"rate"`
	Seconds float64 `json:"seconds"`
	// Changes made by the activity generator; Events received by the
	// engine; Batches applied.
	Changes int64 `json:"changes"`
	Events  int64 `json:"events"`
	Batches int   `json:"batches"`
	// QuietMs and MaxDelayMs are the debounce windows.
	QuietMs    float64 `json:"quietMs"`
	MaxDelayMs float64 `json:"maxDelayMs"`
	// P50Ms, P95Ms, P99Ms and MaxMs: from the debouncer's cut to the
	// commit (Batch.Committed - Batch.Cut), the budget's figure.
	P50Ms float64 `json:"p50Ms"`
	P95Ms float64 `json:"p95Ms"`
	P99Ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
	// FirstEvent...: from the batch's first event to the commit (the
	// debounce window included).
	FirstEventP50Ms float64 `json:"firstEventP50Ms"`
	FirstEventP95Ms float64 `json:"firstEventP95Ms"`
	FirstEventP99Ms float64 `json:"firstEventP99Ms"`
}

// live runs the live-latency scenario.
func (r *benchRun) live(ctx context.Context, res *benchResult) error {
	c := r.cfg
	r.logf("live: seeding %d messages, then %g changes/s for %v", c.liveMessages, c.rate, c.liveDuration)
	srv := ewstest.NewServer(ewstest.Options{
		Users:  []ewstest.User{{Name: benchUser, Password: benchPassword, Address: benchAddress}},
		Auth:   ewstest.AuthOptions{Mode: ewstest.AuthBasic},
		Logger: r.quiet,
	})
	defer srv.Close()
	if _, err := ewstest.Seed(srv.Mailbox(benchAddress), ewstest.SeedOptions{Messages: c.liveMessages, Folders: 30, Seed: 4}); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	store, err := localstore.Open(filepath.Join(r.dir, "live.db"), &localstore.Options{Logger: r.quiet})
	if err != nil {
		return err
	}
	defer store.Close()
	ct := newCountingTransport()
	defer ct.closeIdle()
	client, err := r.newClient(srv.URL, ct, ews.Options{})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var afterCut, afterFirst []time.Duration
	ready := make(chan error, 1)
	eng, err := startEngine(ctx, store, syncengine.Config{Logger: r.quiet, Quiet: c.quiet, MaxDelay: c.maxDelay, OnEvent: func(ev syncengine.Event) {
		switch ev.Kind {
		case syncengine.EventInitialSync:
			select {
			case ready <- nil:
			default:
			}
		case syncengine.EventError:
			select {
			case ready <- ev.Err:
			default:
			}
		case syncengine.EventBatch:
			mu.Lock()
			afterCut = append(afterCut, ev.Batch.Committed.Sub(ev.Batch.Cut))
			afterFirst = append(afterFirst, ev.Batch.Committed.Sub(ev.Batch.FirstEvent))
			mu.Unlock()
		}
	}}, syncengine.Mailbox{Address: benchAddress, Client: client})
	if err != nil {
		return err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("initial sync: %w", err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	act, err := srv.StartActivity(ewstest.ActivityOptions{Rate: c.rate, Seed: 6})
	if err != nil {
		return err
	}
	start := time.Now()
	err = sleepCtx(ctx, c.liveDuration)
	act.Stop()
	el := time.Since(start)
	if err != nil {
		return err
	}
	// Close flushes the pending batches, which are measured too.
	if err := eng.Close(context.WithoutCancel(ctx)); err != nil && !errors.Is(err, syncengine.ErrClosed) {
		return err
	}
	met := eng.Metrics()
	mu.Lock()
	defer mu.Unlock()
	if len(afterCut) == 0 {
		return errors.New("no batch was applied")
	}
	l := &liveResult{
		Rate: c.rate, Seconds: el.Seconds(),
		Changes: act.Total(), Events: met.Events, Batches: len(afterCut),
		QuietMs: float64(c.quiet.Microseconds()) / 1000, MaxDelayMs: float64(c.maxDelay.Microseconds()) / 1000,
		P50Ms: percentileMs(afterCut, 0.50), P95Ms: percentileMs(afterCut, 0.95),
		P99Ms: percentileMs(afterCut, 0.99), MaxMs: percentileMs(afterCut, 1),
		FirstEventP50Ms: percentileMs(afterFirst, 0.50), FirstEventP95Ms: percentileMs(afterFirst, 0.95),
		FirstEventP99Ms: percentileMs(afterFirst, 0.99),
	}
	res.Live = l
	r.logf("live: %d batches, after the cut p50 %.1f ms, p99 %.1f ms", l.Batches, l.P50Ms, l.P99Ms)
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/syncengine"
)

// idleGroup is how many mailboxes share one stream client (impersonating
// the group's first mailbox, its anchor): ews.MaxStreamingSubscriptions,
// so each group needs one streaming connection.
const idleGroup = 200

// idleResult is the cost of many idle mailboxes on streaming subscriptions
// in one engine (the in-process fake included).
type idleResult struct {
	Mailboxes int `json:"mailboxes"`
	// GroupSize mailboxes share each of StreamClients stream clients;
	// Streams and Subscriptions are what the server counted once all were
	// live.
	GroupSize     int `json:"groupSize"`
	StreamClients int `json:"streamClients"`
	Streams       int `json:"streams"`
	Subscriptions int `json:"subscriptions"`
	// StartSeconds is the time from Start until every mailbox was live
	// and the streams open; StartRequests the HTTP requests it took.
	StartSeconds  float64 `json:"startSeconds"`
	StartRequests int64   `json:"startRequests"`
	// WindowSeconds is the idle measurement window; WindowRequests the
	// HTTP requests made in it.
	WindowSeconds  float64 `json:"windowSeconds"`
	WindowRequests int64   `json:"windowRequests"`
	// CPUPercent is the process's CPU time (user + system) over the window,
	// as % of one core.
	CPUPercent float64 `json:"cpuPercent"`
	// MemoryMB is the process RSS at the end of the window; HeapMB the Go
	// heap in use; EngineHeapMB the live heap (after a GC) grown since
	// before the engine was made: the engine, its clients and stores, and
	// the fake's subscriptions.
	MemoryMB     float64 `json:"memoryMB"`
	HeapMB       float64 `json:"heapMB"`
	EngineHeapMB float64 `json:"engineHeapMB"`
	// ConnectionLimit is the fake's streaming connections per account
	// (HangingConnectionLimit); ConnectionLimitRaised is true when it was
	// raised because ErrorExceededConnectionCount blocked the start.
	ConnectionLimit       int  `json:"connectionLimit"`
	ConnectionLimitRaised bool `json:"connectionLimitRaised"`
	// Errors counts the engine's back-offs (EventError) during the run.
	Errors int64 `json:"errors"`
	// StopSeconds is how long Close took (every subscription ended).
	StopSeconds float64 `json:"stopSeconds"`
}

// idle runs the idle-mailboxes scenario.
func (r *benchRun) idle(ctx context.Context, res *benchResult) error {
	n := r.cfg.idleMailboxes
	r.logf("idle: %d mailboxes on streaming subscriptions", n)
	users := []ewstest.User{{Name: "svc", Password: benchPassword, Address: "svc@example.com"}}
	for i := range n {
		users = append(users, ewstest.User{Name: fmt.Sprintf("u%05d", i), Password: benchPassword, Address: fmt.Sprintf("u%05d@example.com", i)})
	}
	srv := ewstest.NewServer(ewstest.Options{
		Users:              users,
		ImpersonationUsers: []string{"svc"},
		Auth:               ewstest.AuthOptions{Mode: ewstest.AuthBasic},
		Logger:             r.quiet,
	})
	defer srv.Close()
	limit := ewstest.DefaultHangingConnectionLimit
	if r.cfg.idleConnectionLimit > 0 {
		limit = r.cfg.idleConnectionLimit
	}
	setLimit := func(l int) error {
		return srv.SetNotificationOptions(ewstest.NotificationOptions{HangingConnectionLimit: l})
	}
	if err := setLimit(limit); err != nil {
		return err
	}
	store, err := localstore.Open(filepath.Join(r.dir, "idle.db"), &localstore.Options{Logger: r.quiet})
	if err != nil {
		return err
	}
	defer store.Close()
	ct := newCountingTransport()
	defer ct.closeIdle()
	newClient := func(addr string) (*ews.Client, error) {
		return r.newClient(srv.URL, ct, ews.Options{Auth: ews.Basic("svc", benchPassword), Impersonation: &ews.Impersonation{SMTPAddress: addr}})
	}
	runtime.GC()
	heapBefore := heapAlloc()

	var (
		mu         sync.Mutex
		live       = map[string]bool{}
		allLive    = make(chan struct{})
		errs       atomic.Int64
		exceeded   atomic.Bool
		firstError atomic.Value
	)
	eng, err := syncengine.New(store, syncengine.Config{Logger: r.quiet, OnEvent: func(ev syncengine.Event) {
		switch ev.Kind {
		case syncengine.EventPhase:
			if ev.Phase != syncengine.PhaseLive {
				return
			}
			mu.Lock()
			if !live[ev.Mailbox] {
				live[ev.Mailbox] = true
				if len(live) == n {
					close(allLive)
				}
			}
			mu.Unlock()
		case syncengine.EventError:
			errs.Add(1)
			firstError.CompareAndSwap(nil, ev.Err.Error())
			if errors.Is(ev.Err, ews.ErrExceededConnectionCount) {
				exceeded.Store(true)
			}
		}
	}})
	if err != nil {
		return err
	}
	groups := (n + idleGroup - 1) / idleGroup
	var stream *ews.Client
	for i := range n {
		addr := users[i+1].Address
		if i%idleGroup == 0 {
			if stream, err = newClient(addr); err != nil {
				return err
			}
		}
		c, err := newClient(addr)
		if err != nil {
			return err
		}
		if err := eng.AddMailbox(ctx, syncengine.Mailbox{Address: addr, Client: c, StreamClient: stream}); err != nil {
			return err
		}
	}
	closed := false
	defer func() {
		if !closed {
			eng.Close(context.WithoutCancel(ctx))
		}
	}()
	start := time.Now()
	if err := eng.Start(ctx); err != nil {
		return err
	}
	id := &idleResult{Mailboxes: n, GroupSize: idleGroup, StreamClients: groups, ConnectionLimit: limit}
	deadline := time.NewTimer(r.cfg.idleStartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastReport := time.Now()
	liveCh := (<-chan struct{})(allLive)
	for done := false; !done; {
		select {
		case <-liveCh:
			liveCh = nil
		case <-tick.C:
			if exceeded.Load() && !id.ConnectionLimitRaised {
				id.ConnectionLimitRaised, id.ConnectionLimit = true, 2*groups+ewstest.DefaultHangingConnectionLimit
				if err := setLimit(id.ConnectionLimit); err != nil {
					return err
				}
				r.logf("idle: ErrorExceededConnectionCount at %d connections per account; raised the fake's limit to %d", limit, id.ConnectionLimit)
			}
			if time.Since(lastReport) > 10*time.Second {
				mu.Lock()
				r.logf("idle: %d of %d mailboxes live after %.0f s", len(live), n, time.Since(start).Seconds())
				mu.Unlock()
				lastReport = time.Now()
			}
			if liveCh == nil && srv.NotificationStats().OpenStreams >= groups {
				done = true
			}
		case <-deadline.C:
			mu.Lock()
			nl := len(live)
			mu.Unlock()
			msg, _ := firstError.Load().(string)
			return fmt.Errorf("%d of %d mailboxes live and %d of %d streams open after %v (%d errors; first: %s)",
				nl, n, srv.NotificationStats().OpenStreams, groups, r.cfg.idleStartTimeout, errs.Load(), msg)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	id.StartSeconds = time.Since(start).Seconds()
	id.StartRequests = ct.requests.Load()
	st := srv.NotificationStats()
	id.Streams, id.Subscriptions = st.OpenStreams, st.Subscriptions
	r.logf("idle: all live in %.1f s; measuring for %v", id.StartSeconds, r.cfg.idleWindow)

	// Let the start's last commits and garbage settle, then measure.
	runtime.GC()
	id.EngineHeapMB = mb(int64(heapAlloc()) - int64(heapBefore))
	if err := sleepCtx(ctx, time.Second); err != nil {
		return err
	}
	cpu0, err := procCPU()
	if err != nil {
		return err
	}
	req0 := ct.requests.Load()
	t0 := time.Now()
	if err := sleepCtx(ctx, r.cfg.idleWindow); err != nil {
		return err
	}
	cpu1, err := procCPU()
	if err != nil {
		return err
	}
	el := time.Since(t0)
	id.WindowSeconds = el.Seconds()
	id.WindowRequests = ct.requests.Load() - req0
	id.CPUPercent = 100 * (cpu1 - cpu0).Seconds() / el.Seconds()
	rss, err := procStatus("VmRSS")
	if err != nil {
		return err
	}
	id.MemoryMB = mb(rss)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	id.HeapMB = mb(int64(ms.HeapInuse))

	stop := time.Now()
	closed = true
	if err := eng.Close(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	id.StopSeconds = time.Since(stop).Seconds()
	id.Errors = errs.Load()
	res.Idle = id
	r.logf("idle: %.2f %% of a core, %.0f MB RSS", id.CPUPercent, id.MemoryMB)
	return nil
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

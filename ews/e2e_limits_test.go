package ews_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// End-to-end proofs of the client under the fake server's limits:
// throttling, concurrency and hanging-connection limits.

// TestE2E_ServerBusy checks that the fake's ErrorServerBusy faults make
// the client wait exactly the advised BackOffMilliseconds before each
// retry, under NTLM and without authentication, and that a call busy past
// the retry budget fails with a transient, typed error.
func TestE2E_ServerBusy(t *testing.T) {
	for _, mode := range []string{ewstest.AuthNone, ewstest.AuthNTLM} {
		t.Run(mode, func(t *testing.T) {
			srv, _ := e2eServer(t, mode, nil)
			ctx := context.Background()
			var sleeps []time.Duration
			c := e2eClient(t, srv, e2eAuth(mode, false), &sleeps)
			req := ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}}

			srv.Faults().ServerBusy(2, 1500*time.Millisecond)
			if res, err := c.GetFolder(ctx, req); err != nil || res[0].Err != nil {
				t.Fatalf("after two busy answers: %v %+v", err, res)
			}
			if want := []time.Duration{1500 * time.Millisecond, 1500 * time.Millisecond}; !slices.Equal(sleeps, want) {
				t.Fatalf("waits %v, want %v", sleeps, want)
			}

			sleeps = nil
			srv.Faults().ServerBusy(5, 2*time.Second)
			_, err := c.GetFolder(ctx, req)
			var fe *ews.FaultError
			if !errors.Is(err, ews.ErrServerBusy) || !errors.As(err, &fe) || !fe.IsTransient() || fe.BackOff != 2*time.Second {
				t.Fatalf("busy past the budget: %v", err)
			}
			if len(sleeps) != 3 { // default MaxAttempts 4
				t.Fatalf("waits %v for four attempts", sleeps)
			}
			sleeps = nil
			if res, err := c.GetFolder(ctx, req); err != nil || res[0].Err != nil {
				t.Fatalf("last busy answer then success: %v %+v", err, res)
			}
			if !slices.Equal(sleeps, []time.Duration{2 * time.Second}) {
				t.Fatalf("waits %v", sleeps)
			}
		})
	}
}

// TestE2E_ConcurrencyLimit runs a call while another holds the fake's
// only concurrent-request slot: the fake refuses it with an
// ErrorServerBusy fault, the client waits the advised
// BackOffMilliseconds and retries, and both calls succeed.
func TestE2E_ConcurrencyLimit(t *testing.T) {
	entered, gate := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	var openGate sync.Once
	srv, _ := e2eServer(t, ewstest.AuthNTLM, func(o *ewstest.Options) {
		o.Throttle = ewstest.ThrottleOptions{MaxConcurrentRequests: 1, BackOff: 3 * time.Second, Latency: time.Millisecond,
			// The first request admitted holds its slot until the gate opens.
			Sleep: func(ctx context.Context, _ time.Duration) error {
				if !first.CompareAndSwap(false, true) {
					return nil
				}
				close(entered)
				select {
				case <-gate:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}}
	})
	t.Cleanup(func() { openGate.Do(func() { close(gate) }) }) // before srv.Close
	ctx := context.Background()
	aDone := make(chan error, 1)
	var waits []time.Duration // only the second call waits
	var aErr error
	cclk := debouncetest.NewClock(e2eStart)
	t.Cleanup(cclk.AutoAdvance(func(d time.Duration) bool {
		waits = append(waits, d)
		if len(waits) == 1 {
			openGate.Do(func() { close(gate) })
			aErr = <-aDone
		}
		return true
	}))
	c, err := ews.New(srv.URL, &ews.Options{
		Auth: e2eAuth(ewstest.AuthNTLM, false), Logger: slog.New(slog.DiscardHandler),
		Clock: cclk, Retry: ews.RetryPolicy{MaxAttempts: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	req := ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}}
	call := func() error {
		res, err := c.GetFolder(ctx, req)
		if err == nil && res[0].Err != nil {
			err = res[0].Err
		}
		return err
	}
	go func() { aDone <- call() }()
	<-entered
	if err := call(); err != nil {
		t.Fatalf("refused call: %v", err)
	}
	if aErr != nil {
		t.Fatalf("first call: %v", aErr)
	}
	refused := srv.Throttle().Refused()
	if refused < 1 || int64(len(waits)) != refused {
		t.Errorf("%d waits for %d refusals", len(waits), refused)
	}
	for _, d := range waits {
		if d != 3*time.Second {
			t.Fatalf("waited %v, the server advised 3s", d)
		}
	}
}

// TestE2E_StreamingConnectionLimit opens one streaming connection more
// than the fake's three hanging connections per account: the extra one is
// refused with ErrorExceededConnectionCount, reported as a transient
// connection error, and backs off on its clock; once another connection
// closes it gets in, and the mail that arrived meanwhile is delivered.
func TestE2E_StreamingConnectionLimit(t *testing.T) {
	srv, _ := e2eServer(t, ewstest.AuthNone, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, nil, nil)
	lclk := debouncetest.NewClock(e2eStart)
	open := func(clk ews.Clock) (*ews.StreamingConnection, string) {
		t.Helper()
		sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, DistinguishedFolders: []string{"inbox"}, EventTypes: []ews.EventType{ews.EventNewMail}})
		if err != nil {
			t.Fatal(err)
		}
		// The back-offs of this test move lclk by minutes while requests
		// are in flight; the read timeout (tested elsewhere) is kept out
		// of reach so that only the connection limit is under test.
		sc, err := c.NewStreamingConnection(&ews.StreamingOptions{Clock: clk, ReadTimeout: 24 * time.Hour, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sc.Close() })
		sc.Add(sub.ID)
		sc.Start(ctx)
		return sc, sub.ID
	}
	recvMail := func(sc *ews.StreamingConnection, id string) {
		t.Helper()
		select {
		case ev := <-sc.Events():
			if ev.Err != nil || !slices.Equal(newMailIDs(ev.Notification), []string{id}) {
				t.Fatalf("want the NewMailEvent of %s, got %+v", id, ev)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no event")
		}
	}
	var conns []*ews.StreamingConnection
	for range ewstest.DefaultHangingConnectionLimit {
		sc, _ := open(nil)
		conns = append(conns, sc)
	}
	it, _ := mb.Deliver("inbox", e2eMsg("all three open"))
	for _, sc := range conns {
		recvMail(sc, it.ID) // each request is open at the server
	}

	extra, _ := open(lclk)
	select {
	case ev := <-extra.Events():
		var re *ews.ResponseError
		if ev.SubscriptionID != "" || !errors.Is(ev.Err, ews.ErrExceededConnectionCount) || !errors.As(ev.Err, &re) || !re.IsTransient() || re.SubscriptionLost() {
			t.Fatalf("fourth connection: %+v", ev)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("fourth connection not refused")
	}
	late, _ := mb.Deliver("inbox", e2eMsg("while the fourth waits"))
	if err := conns[0].Close(); err != nil {
		t.Fatal(err)
	}
	// The back-off runs on lclk; its timer is set after the error was
	// handed over. Each round moves lclk to the next back-off timer (at
	// most a minute away) once one is armed, and never further: the
	// client's 90 s read timeout runs on lclk too once the connection is
	// in, and must not fire while the queued mail is on its way.
	for range 400 {
		ev := nextEvent(t, lclk, time.Minute, extra.Events())
		if ev.Err != nil {
			if !errors.Is(ev.Err, ews.ErrExceededConnectionCount) {
				t.Fatalf("fourth connection: %v", ev.Err)
			}
			continue
		}
		if !slices.Equal(newMailIDs(ev.Notification), []string{late.ID}) {
			t.Fatalf("fourth connection delivered %+v", ev.Notification)
		}
		return
	}
	t.Fatal("the fourth connection never got in")
}

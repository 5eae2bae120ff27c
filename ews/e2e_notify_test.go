package ews_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// End-to-end proofs of pull, streaming and push notifications against
// the fake server.

// newMailIDs returns the ids of the NewMailEvents of n.
func newMailIDs(n *ews.Notification) []string {
	var ids []string
	for _, e := range n.Events {
		if e.Type == ews.EventNewMail {
			ids = append(ids, e.ItemID.ID)
		}
	}
	return ids
}

// TestE2E_PullWatermarks follows a pull subscription through several
// GetEvents calls: each notification continues from the watermark asked
// for, an idle call gives one StatusEvent carrying a watermark, and a
// burst of more than 50 events arrives over several calls (MoreEvents)
// with every new mail seen exactly once.
func TestE2E_PullWatermarks(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthNTLM, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthNTLM, false), nil)
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, DistinguishedFolders: []string{"inbox"}, Timeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if sub.ID == "" || sub.Watermark == "" || sub.Kind != ews.Pull {
		t.Fatalf("subscription %+v", sub)
	}
	wm := sub.Watermark
	get := func(step string) *ews.Notification {
		t.Helper()
		n, err := c.GetEvents(ctx, sub.ID, wm, nil)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if n.SubscriptionID != sub.ID || n.PreviousWatermark != wm {
			t.Fatalf("%s: subscription %q previous watermark %q, asked from %q", step, n.SubscriptionID, n.PreviousWatermark, wm)
		}
		if n.LastWatermark() == "" {
			t.Fatalf("%s: no watermark", step)
		}
		wm = n.LastWatermark()
		return n
	}

	clk.Advance(time.Minute)
	it1, err := mb.Deliver("inbox", e2eMsg("first"))
	if err != nil {
		t.Fatal(err)
	}
	n := get("after one mail")
	if ids := newMailIDs(n); !slices.Equal(ids, []string{it1.ID}) {
		t.Fatalf("NewMailEvents %v, want [%s]", ids, it1.ID)
	}
	for _, e := range n.Events {
		if e.Watermark == "" || !e.TimeStamp.Equal(clk.Now()) {
			t.Errorf("event %+v: watermark or time stamp (%v)", e, clk.Now())
		}
	}

	n = get("idle")
	if !n.StatusOnly() || len(n.Events) != 1 {
		t.Fatalf("idle GetEvents: %+v", n)
	}

	clk.Advance(time.Minute)
	it2, err := mb.Deliver("inbox", e2eMsg("second"))
	if err != nil {
		t.Fatal(err)
	}
	if ids := newMailIDs(get("after the second mail")); !slices.Equal(ids, []string{it2.ID}) {
		t.Fatalf("NewMailEvents %v, want [%s]", ids, it2.ID)
	}

	// A burst: 40 mails raise 40 × 3 events (Created, NewMail, folder
	// Modified), more than one GetEvents returns.
	want := map[string]bool{}
	for i := range 40 {
		it, err := mb.Deliver("inbox", e2eMsg(fmt.Sprintf("burst %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		want[it.ID] = true
	}
	calls, seen := 0, map[string]int{}
	for n, err := range c.AllEvents(ctx, sub.ID, wm, nil) {
		if err != nil {
			t.Fatalf("AllEvents: %v", err)
		}
		calls++
		if len(n.Events) > 50 {
			t.Fatalf("%d events in one notification", len(n.Events))
		}
		for _, id := range newMailIDs(n) {
			seen[id]++
		}
		wm = n.LastWatermark()
	}
	if calls < 3 {
		t.Errorf("burst drained in %d calls", calls)
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("NewMailEvent for %s seen %d times", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d NewMailEvents, want %d", len(seen), len(want))
	}
	if n := get("drained"); !n.StatusOnly() {
		t.Fatalf("after draining: %+v", n)
	}
}

// TestE2E_StreamingAcrossConnectionTimeout runs a streaming subscription
// through the client's StreamingConnection with a one-minute
// ConnectionTimeout. Advancing the fake's clock ends the request with
// ConnectionStatus Closed; the client reopens it at once, and an item
// created while the new request is held back at the server's door is
// delivered on it. No error reaches the application.
func TestE2E_StreamingAcrossConnectionTimeout(t *testing.T) {
	var streams atomic.Int32
	reconnecting, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hold := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte("GetStreamingEvents")) && streams.Add(1) == 2 {
				close(reconnecting)
				<-release
			}
			next.ServeHTTP(w, r)
		})
	}
	srv, clk := e2eServer(t, ewstest.AuthNone, func(o *ewstest.Options) { o.Middleware = append(o.Middleware, hold) })
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before srv.Close
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, nil, nil)
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, DistinguishedFolders: []string{"inbox"}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.NewStreamingConnection(&ews.StreamingOptions{ConnectionTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Add(sub.ID); err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitItem := func(id string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case ev, ok := <-sc.Events():
				if !ok {
					t.Fatal("events closed")
				}
				if ev.Err != nil {
					t.Fatalf("stream error: %+v", ev)
				}
				if ev.Notification.SubscriptionID != sub.ID {
					t.Fatalf("notification for %q", ev.Notification.SubscriptionID)
				}
				if slices.Contains(newMailIDs(ev.Notification), id) {
					return
				}
			case <-deadline:
				t.Fatalf("no NewMailEvent for %s", id)
			}
		}
	}
	it1, err := mb.Deliver("inbox", e2eMsg("before the timeout"))
	if err != nil {
		t.Fatal(err)
	}
	waitItem(it1.ID) // the first request is open and registered

	clk.Advance(time.Minute) // ConnectionTimeout: Closed
	select {
	case <-reconnecting:
	case <-time.After(20 * time.Second):
		t.Fatal("no reconnect after ConnectionStatus Closed")
	}
	it2, err := mb.Deliver("inbox", e2eMsg("across the reconnect"))
	if err != nil {
		t.Fatal(err)
	}
	once.Do(func() { close(release) })
	waitItem(it2.ID)
	if n := sc.Reconnects(); n != 1 {
		t.Errorf("Reconnects = %d, want 1", n)
	}
}

// nextEvent returns the next value received from events while it drives
// clk: whenever a timer is due within horizon it moves clk to that timer
// (running it), and otherwise it waits for a value or for the code under
// test to arm a timer. It never polls on real time; 20 s without progress
// fails the test.
func nextEvent[E any](t testing.TB, clk *debouncetest.Clock, horizon time.Duration, events <-chan E) E {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		armed := clk.Armed()
		if due, ok := clk.NextDue(); ok && !due.After(clk.Now().Add(horizon)) {
			clk.Set(due)
		}
		select {
		case ev := <-events:
			return ev
		case <-armed:
		case <-deadline:
			var zero E
			t.Fatalf("no event and no timer due within %v", horizon)
			return zero
		}
	}
}

// TestE2E_Push subscribes the client's PushListener, served by
// httptest, and sees the fake's first StatusEvent, a new mail, and an
// idle StatusEvent after StatusFrequency, with continuous watermarks.
func TestE2E_Push(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthBasic, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthBasic, false), nil)
	l, hs := e2eListener(t, nil)
	sub := e2ePushSubscribe(ctx, t, c, l, hs.URL)

	first := recvPushEvent(t, l)
	if !first.Notification.StatusOnly() || first.Notification.PreviousWatermark != sub.Watermark {
		t.Fatalf("first POST: %+v", first.Notification)
	}
	clk.Advance(10 * time.Second)
	it, err := mb.Deliver("inbox", e2eMsg("pushed"))
	if err != nil {
		t.Fatal(err)
	}
	ev := recvPushEvent(t, l)
	if ids := newMailIDs(ev.Notification); !slices.Equal(ids, []string{it.ID}) {
		t.Fatalf("pushed NewMailEvents %v, want [%s]", ids, it.ID)
	}
	if wm, ok := l.Watermark(sub.ID); !ok || wm != ev.Notification.LastWatermark() {
		t.Fatalf("listener watermark %q %v, last pushed %q", wm, ok, ev.Notification.LastWatermark())
	}
	// StatusFrequency of quiet gives a StatusEvent. The fake re-arms its
	// status timer when it has read the listener's answer, which may be
	// after the event reached us, so the clock moves to the status timer
	// once it is armed.
	var idle *ews.Notification
	if ev := nextEvent(t, clk, time.Minute, l.Events()); ev.Err != nil || ev.Notification == nil {
		t.Fatalf("push event %+v", ev)
	} else {
		idle = ev.Notification
	}
	if idle == nil || !idle.StatusOnly() || idle.PreviousWatermark != ev.Notification.LastWatermark() {
		t.Fatalf("idle POST: %+v", idle)
	}
	if l.Dropped() != 0 {
		t.Errorf("Dropped = %d", l.Dropped())
	}
}

// e2eListener starts a PushListener behind httptest on the given
// listener clock (nil for the wall clock).
func e2eListener(t testing.TB, clk ews.Clock) (*ews.PushListener, *httptest.Server) {
	t.Helper()
	l, err := ews.NewPushListener(&ews.PushListenerOptions{LivenessSlack: 10 * time.Second, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(l)
	t.Cleanup(func() { hs.Close(); l.Close() })
	return l, hs
}

// e2ePushSubscribe creates a push subscription on the inbox with a
// one-minute StatusFrequency and registers it with l.
func e2ePushSubscribe(ctx context.Context, t testing.TB, c *ews.Client, l *ews.PushListener, base string) *ews.Subscription {
	t.Helper()
	cb := l.Expect()
	defer cb.Release()
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Push, DistinguishedFolders: []string{"inbox"},
		StatusFrequency: time.Minute, URL: cb.URL(base + "/ews/push")})
	if err != nil {
		t.Fatal(err)
	}
	if err := cb.Register(sub.ID, time.Minute, sub.Watermark); err != nil {
		t.Fatal(err)
	}
	return sub
}

// recvPushEvent waits for the listener's next notification.
func recvPushEvent(t testing.TB, l *ews.PushListener) ews.PushEvent {
	t.Helper()
	select {
	case ev, ok := <-l.Events():
		if !ok {
			t.Fatal("listener closed")
		}
		if ev.Err != nil || ev.Gap || ev.Notification == nil {
			t.Fatalf("push event %+v", ev)
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no push notification")
	}
	panic("unreachable")
}

// TestE2E_SubscriptionLostOnRestart restarts the fake's Client Access
// layer under a pull, a streaming and a push subscription: each loss
// reaches the application as a typed error the client classifies as a
// lost subscription.
func TestE2E_SubscriptionLostOnRestart(t *testing.T) {
	srv, _ := e2eServer(t, ewstest.AuthNone, nil)
	ctx := context.Background()
	c := e2eClient(t, srv, nil, nil)
	lclk := debouncetest.NewClock(e2eStart)
	l, hs := e2eListener(t, lclk)

	pull, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, AllFolders: true, Timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, AllFolders: true})
	if err != nil {
		t.Fatal(err)
	}
	push := e2ePushSubscribe(ctx, t, c, l, hs.URL)
	recvPushEvent(t, l) // the first StatusEvent: the listener's deadline is set

	sc, err := c.NewStreamingConnection(&ews.StreamingOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sc.Add(stream.ID)
	sc.Start(ctx)
	it, _ := srv.Mailbox(e2eAddress).Deliver("inbox", e2eMsg("before the restart"))
	// The push subscription sees it too; its POST must be in before the
	// listener's clock moves.
	if ids := newMailIDs(recvPushEvent(t, l).Notification); !slices.Equal(ids, []string{it.ID}) {
		t.Fatalf("pushed %v", ids)
	}
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case ev := <-sc.Events():
			if ev.Err != nil {
				t.Fatalf("stream error before the restart: %+v", ev)
			}
			seen = slices.Contains(newMailIDs(ev.Notification), it.ID)
		case <-deadline:
			t.Fatal("streaming connection not delivering")
		}
	}

	srv.Restart()

	_, err = c.GetEvents(ctx, pull.ID, pull.Watermark, nil)
	var re *ews.ResponseError
	if !errors.As(err, &re) || !re.SubscriptionLost() || re.NeedsResync() || re.IsTransient() {
		t.Fatalf("pull after restart: %v", err)
	}

	// Streaming: the request ends; the reconnect is refused for the only
	// subscription, which is reported as lost and removed.
	deadline = time.After(20 * time.Second)
	for lost := false; !lost; {
		select {
		case ev, ok := <-sc.Events():
			if !ok {
				t.Fatal("events closed")
			}
			switch {
			case ev.Notification != nil:
			case ev.SubscriptionID == "":
				if errors.As(ev.Err, &re) && re.SubscriptionLost() {
					t.Fatalf("connection-wide loss on a one-subscription connection: %+v", ev)
				}
			default:
				if ev.SubscriptionID != stream.ID || !ev.Removed || !errors.As(ev.Err, &re) || !re.SubscriptionLost() {
					t.Fatalf("streaming loss: %+v", ev)
				}
				lost = true
			}
		case <-deadline:
			t.Fatal("streaming subscription loss not reported")
		}
	}
	if subs := sc.Subscriptions(); len(subs) != 0 {
		t.Errorf("connection still carries %v", subs)
	}

	// Push: the server no longer posts; after 2 × StatusFrequency plus
	// slack on the listener's clock the subscription is reported lost.
	lclk.Advance(2*time.Minute + 10*time.Second)
	select {
	case ev := <-l.Events():
		if ev.SubscriptionID != push.ID || !errors.Is(ev.Err, ews.ErrSubscriptionLost) {
			t.Fatalf("push loss: %+v", ev)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("push subscription loss not reported")
	}
}

// TestE2E_PullResume resumes a pull subscription from a stored watermark
// after Unsubscribe: the mail that arrived meanwhile is replayed. A
// watermark the server has aged out, and a mailbox move, give errors the
// client classifies as a lost subscription.
func TestE2E_PullResume(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthBearer, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthBearer, false), nil)
	subscribe := func(wm string) (*ews.Subscription, error) {
		return c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, DistinguishedFolders: []string{"inbox"}, Timeout: 10 * time.Minute, Watermark: wm})
	}
	drain := func(sub *ews.Subscription, wm string) ([]string, string) {
		t.Helper()
		var ids []string
		for n, err := range c.AllEvents(ctx, sub.ID, wm, nil) {
			if err != nil {
				t.Fatalf("AllEvents: %v", err)
			}
			ids = append(ids, newMailIDs(n)...)
			wm = n.LastWatermark()
		}
		return ids, wm
	}
	sub, err := subscribe("")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	m1, _ := mb.Deliver("inbox", e2eMsg("one"))
	ids, wm := drain(sub, sub.Watermark)
	if !slices.Equal(ids, []string{m1.ID}) {
		t.Fatalf("first drain %v", ids)
	}
	if err := c.Unsubscribe(ctx, sub.ID, nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	m2, _ := mb.Deliver("inbox", e2eMsg("two, while unsubscribed"))
	resumed, err := subscribe(wm)
	if err != nil {
		t.Fatalf("resume from %q: %v", wm, err)
	}
	if ids, _ := drain(resumed, resumed.Watermark); !slices.Equal(ids, []string{m2.ID}) {
		t.Fatalf("resumed subscription replayed %v, want [%s]", ids, m2.ID)
	}

	if err := srv.ExpireWatermarks(e2eAddress); err != nil {
		t.Fatal(err)
	}
	_, err = subscribe(wm)
	var re *ews.ResponseError
	if !errors.Is(err, ews.ErrInvalidWatermark) || !errors.As(err, &re) || !re.SubscriptionLost() {
		t.Fatalf("resume from an aged-out watermark: %v", err)
	}

	if err := srv.MoveMailbox(e2eAddress, "DB07"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEvents(ctx, resumed.ID, resumed.Watermark, nil)
	if !errors.Is(err, ews.ErrMailboxMoveInProgress) || !errors.As(err, &re) || !re.SubscriptionLost() {
		t.Fatalf("GetEvents after a mailbox move: %v", err)
	}
}

// statusRecorder captures the status a handler answers with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// TestE2E_PushBackpressure fills the PushListener's Events channel: the
// next POST is answered 503, the fake keeps the notification and retries
// it on its schedule (30 s first, on its clock), and once the application
// reads again the retried notification arrives — nothing is lost, and
// watermarks stay continuous.
func TestE2E_PushBackpressure(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthNone, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, nil, nil)
	l, err := ews.NewPushListener(&ews.PushListenerOptions{Buffer: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan struct{}, 16)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		l.ServeHTTP(rec, r)
		if rec.status == http.StatusServiceUnavailable {
			refused <- struct{}{}
		}
	}))
	t.Cleanup(func() { hs.Close(); l.Close() })
	sub := e2ePushSubscribe(ctx, t, c, l, hs.URL)

	// The first POST (a StatusEvent) fills the channel; the mail's POST is
	// refused.
	m1, err := mb.Deliver("inbox", e2eMsg("while the application is busy"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-refused:
	case <-time.After(20 * time.Second):
		t.Fatal("the POST of the new mail was not refused")
	}
	first := recvPushEvent(t, l)
	if !first.Notification.StatusOnly() || first.Notification.PreviousWatermark != sub.Watermark {
		t.Fatalf("first notification %+v", first.Notification)
	}
	// The fake retries on its clock; its timer is set once it has read
	// the 503, so the clock moves to it once it is armed.
	var got *ews.Notification
	for range 100 {
		ev := nextEvent(t, clk, 30*time.Second, l.Events())
		if ev.Err != nil || ev.Gap {
			t.Fatalf("push event %+v", ev)
		}
		if ev.Notification.StatusOnly() {
			continue
		}
		got = ev.Notification
		break
	}
	if got == nil || !slices.Equal(newMailIDs(got), []string{m1.ID}) {
		t.Fatalf("retried notification %+v", got)
	}
	if got.PreviousWatermark != first.Notification.LastWatermark() {
		t.Errorf("retried notification continues %q, last seen %q", got.PreviousWatermark, first.Notification.LastWatermark())
	}
	if l.Dropped() < 1 {
		t.Errorf("Dropped = %d", l.Dropped())
	}
}

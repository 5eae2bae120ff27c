package ews_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// End-to-end runs of the notification client against the fake server.
// They complement the golden and httptest-based tests, which are the
// primary proof of the client.

func newE2E(t *testing.T) (*ewstest.Server, *debouncetest.Clock, *ews.Client) {
	t.Helper()
	clk := debouncetest.NewClock(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	srv := ewstest.NewServer(ewstest.Options{
		Users: []ewstest.User{{Name: "alice", Password: "secret", Address: "alice@example.com"}},
		Clock: clk,
	})
	t.Cleanup(srv.Close)
	c, err := ews.New(srv.URL, &ews.Options{AnchorMailbox: "alice@example.com", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return srv, clk, c
}

func e2eMessage(subject string) ewstest.Message {
	return ewstest.Message{
		Subject: subject,
		From:    ewstest.Address{Name: "Ann Sender", Email: "ann@example.org"},
		To:      []ewstest.Address{{Name: "Alice", Email: "alice@example.com"}},
		Body:    "Hello.\n",
	}
}

// nextItemEvents reads stream events until one notification names item,
// and returns its event types.
func nextItemEvents(t *testing.T, sc *ews.StreamingConnection, item string) []ews.EventType {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-sc.Events():
			if !ok {
				t.Fatal("events closed")
			}
			if ev.Err != nil {
				t.Fatalf("stream error: %v", ev.Err)
			}
			var kinds []ews.EventType
			found := false
			for _, e := range ev.Notification.Events {
				if e.Type == ews.EventStatus {
					continue
				}
				kinds = append(kinds, e.Type)
				found = found || e.ItemID.ID == item
			}
			if found {
				return kinds
			}
		case <-deadline:
			t.Fatalf("no notification for %s", item)
		}
	}
}

func TestE2E_StreamingAgainstEwstest(t *testing.T) {
	srv, clk, c := newE2E(t)
	ctx := context.Background()
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, DistinguishedFolders: []string{"inbox"}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.NewStreamingConnection(nil)
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
	alice := srv.Mailbox("alice@example.com")
	it, err := alice.Deliver("inbox", e2eMessage("first"))
	if err != nil {
		t.Fatal(err)
	}
	if kinds := nextItemEvents(t, sc, it.ID); !slices.Contains(kinds, ews.EventNewMail) || !slices.Contains(kinds, ews.EventCreated) {
		t.Fatalf("events %v", kinds)
	}
	// The server's 30-minute boundary: Closed, an immediate reconnect,
	// and an event raised across it still arrives.
	clk.Advance(31 * time.Minute)
	it2, err := alice.Deliver("inbox", e2eMessage("second"))
	if err != nil {
		t.Fatal(err)
	}
	if kinds := nextItemEvents(t, sc, it2.ID); !slices.Contains(kinds, ews.EventNewMail) {
		t.Fatalf("events %v", kinds)
	}
	if sc.Reconnects() < 1 {
		t.Errorf("Reconnects = %d after the ConnectionTimeout", sc.Reconnects())
	}
}

func TestE2E_PullAgainstEwstest(t *testing.T) {
	srv, _, c := newE2E(t)
	ctx := context.Background()
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, DistinguishedFolders: []string{"inbox"}, Timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	it, err := srv.Mailbox("alice@example.com").Deliver("inbox", e2eMessage("pulled"))
	if err != nil {
		t.Fatal(err)
	}
	wm, found := sub.Watermark, false
	for n, err := range c.AllEvents(ctx, sub.ID, wm, nil) {
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range n.Events {
			found = found || (e.Type == ews.EventNewMail && e.ItemID.ID == it.ID)
		}
		wm = n.LastWatermark()
	}
	if !found || wm == sub.Watermark {
		t.Fatalf("NewMailEvent for %s not pulled (watermark %q)", it.ID, wm)
	}
	if err := c.Unsubscribe(ctx, sub.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetEvents(ctx, sub.ID, wm, nil); !errors.Is(err, ews.ErrSubscriptionNotFound) && !errors.Is(err, ews.ErrInvalidSubscription) {
		t.Fatalf("GetEvents after Unsubscribe: %v", err)
	}
}

func TestE2E_PushAgainstEwstest(t *testing.T) {
	srv, _, c := newE2E(t)
	ctx := context.Background()
	l, err := ews.NewPushListener(&ews.PushListenerOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hs := httptest.NewServer(l)
	defer hs.Close()
	cb := l.Expect()
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Push, DistinguishedFolders: []string{"inbox"},
		StatusFrequency: time.Minute, URL: cb.URL(hs.URL + "/ews/push")})
	if err == nil {
		err = cb.Register(sub.ID, time.Minute, sub.Watermark)
	}
	cb.Release()
	if err != nil {
		t.Fatal(err)
	}
	it, err := srv.Mailbox("alice@example.com").Deliver("inbox", e2eMessage("pushed"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-l.Events():
			if ev.Err != nil {
				t.Fatalf("push error: %v", ev.Err)
			}
			for _, e := range ev.Notification.Events {
				if e.Type == ews.EventNewMail && e.ItemID.ID == it.ID {
					return
				}
			}
		case <-deadline:
			t.Fatal("no pushed NewMailEvent")
		}
	}
}

// Adding a subscription to a running connection hands over to a new
// request; the fake answers ErrorNewEventStreamConnectionOpened on the old
// one, as Exchange does, which the connection expects: no error reaches
// the application and events keep flowing for both subscriptions.
func TestE2E_StreamingHandoverAgainstEwstest(t *testing.T) {
	srv, _, c := newE2E(t)
	ctx := context.Background()
	alice := srv.Mailbox("alice@example.com")
	s1, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, DistinguishedFolders: []string{"inbox"}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.NewStreamingConnection(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sc.Add(s1.ID)
	if err := sc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	it, _ := alice.Deliver("inbox", e2eMessage("before"))
	nextItemEvents(t, sc, it.ID)

	s2, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, AllFolders: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Add(s2.ID); err != nil {
		t.Fatal(err)
	}
	it2, _ := alice.Deliver("inbox", e2eMessage("after"))
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for !seen[s1.ID] || !seen[s2.ID] {
		select {
		case ev := <-sc.Events():
			if ev.Err != nil {
				t.Fatalf("error during handover: %+v", ev)
			}
			for _, e := range ev.Notification.Events {
				if e.ItemID.ID == it2.ID {
					seen[ev.Notification.SubscriptionID] = true
				}
			}
		case <-deadline:
			t.Fatalf("events for %s seen by %v", it2.ID, seen)
		}
	}
}

// Affinity against the fake's two backends: subscriptions of mailboxes on
// different backends share one streaming connection only when they were
// created through the same AffinityGroup (anchor headers and cookie).
func TestE2E_AffinityGroupAgainstEwstest(t *testing.T) {
	clk := debouncetest.NewClock(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	srv := ewstest.NewServer(ewstest.Options{
		Users: []ewstest.User{
			{Name: "alice", Password: "secret", Address: "alice@example.com"},
			{Name: "bob", Password: "secret", Address: "bob@example.com", Database: "DB02"},
		},
		Clock: clk,
	})
	defer srv.Close()
	ba, _ := srv.MailboxBackend("alice@example.com")
	bb, _ := srv.MailboxBackend("bob@example.com")
	if ba == bb {
		t.Fatalf("one backend %s", ba)
	}
	c, err := ews.New(srv.URL, &ews.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	as := func(addr string) *ews.Impersonation { return &ews.Impersonation{SMTPAddress: addr} }

	// Without a group, bob's subscription lives on his own backend and a
	// connection routed to alice's does not find it.
	ida, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, AllFolders: true, Impersonation: as("alice@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	idb, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, AllFolders: true, Impersonation: as("bob@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	loose, err := c.NewStreamingConnection(&ews.StreamingOptions{Impersonation: as("alice@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	loose.Add(ida.ID, idb.ID)
	loose.Start(ctx)
	select {
	case ev := <-loose.Events():
		if ev.SubscriptionID != idb.ID || !errors.Is(ev.Err, ews.ErrSubscriptionNotFound) || !ev.Removed {
			t.Fatalf("ungrouped: %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no error for the subscription on the other backend")
	}
	loose.Close()

	// Through a group both are hosted on the anchor's backend.
	g := &ews.GroupMailboxes("db", []string{"bob@example.com", "alice@example.com"})[0]
	var ids []string
	for _, m := range g.Members {
		s, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, AllFolders: true, Group: g, Impersonation: as(m)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	sc, err := c.NewStreamingConnection(&ews.StreamingOptions{Group: g, Impersonation: as(g.Anchor)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sc.Add(ids...)
	sc.Start(ctx)
	it, err := srv.Mailbox("bob@example.com").Deliver("inbox", e2eMessage("for bob"))
	if err != nil {
		t.Fatal(err)
	}
	if kinds := nextItemEvents(t, sc, it.ID); !slices.Contains(kinds, ews.EventNewMail) {
		t.Fatalf("bob's events %v", kinds)
	}
}

// A dropped streaming connection is reported as a connection error and
// reopened; the event raised meanwhile arrives on the new request.
func TestE2E_DroppedConnectionAgainstEwstest(t *testing.T) {
	srv, _, c := newE2E(t)
	ctx := context.Background()
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, DistinguishedFolders: []string{"inbox"}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.NewStreamingConnection(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sc.Add(sub.ID)
	sc.Start(ctx)
	alice := srv.Mailbox("alice@example.com")
	it, _ := alice.Deliver("inbox", e2eMessage("one"))
	nextItemEvents(t, sc, it.ID)
	if n := srv.DropStreamingConnections("alice@example.com"); n != 1 {
		t.Fatalf("dropped %d connections", n)
	}
	select {
	case ev := <-sc.Events():
		if ev.Err == nil || ev.SubscriptionID != "" {
			t.Fatalf("want a connection error, got %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("drop not reported")
	}
	it2, _ := alice.Deliver("inbox", e2eMessage("two"))
	nextItemEvents(t, sc, it2.ID)
}

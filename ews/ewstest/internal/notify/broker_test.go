package notify

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestOptions_Validate(t *testing.T) {
	for _, o := range []Options{
		{KeepAliveInterval: 45 * time.Second},
		{Retention: -1},
		{PushRetry: 7},
	} {
		if _, err := New(&o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := New(nil); err != nil {
		t.Fatal(err)
	}
}

func TestWatermark_Decode(t *testing.T) {
	wm := encodeWatermark(dbToken("MDB01"), 42)
	tok, seq, ok := decodeWatermark(wm)
	if !ok || tok != dbToken("MDB01") || seq != 42 {
		t.Fatalf("round trip: %v %v %v", tok, seq, ok)
	}
	for _, bad := range []string{"", "garbage!", "AAAA", wm[:len(wm)-4], "AgAAAAAAAAAAAAAAAA=="} {
		if _, _, ok := decodeWatermark(bad); ok {
			t.Errorf("decoded %q", bad)
		}
	}
}

func TestGetEvents_WatermarksChain(t *testing.T) {
	b, clk := newTestBroker(t, nil)
	b.Publish(alice, created("old", inbox)) // before the subscription: not delivered
	sub := mustSubscribe(t, b, pullReq(alice))
	clk.Advance(time.Second)
	b.Publish(alice, newMail("I1", 1)...)
	b.Publish(alice, Event{Kind: MovedEvent, ID: ID{ID: "I1b"}, ParentFolderID: ID{ID: other}, OldID: ID{ID: "I1"}, OldParentFolderID: ID{ID: inbox}})

	n := getEvents(t, b, alice, sub.ID, sub.Watermark)
	if n.SubscriptionID != sub.ID || n.PreviousWatermark != sub.Watermark || n.MoreEvents {
		t.Fatalf("header = %+v", n)
	}
	want := []EventKind{CreatedEvent, NewMailEvent, ModifiedEvent, MovedEvent}
	if got := kinds(n); !slices.Equal(got, want) {
		t.Fatalf("kinds = %v, want %v", got, want)
	}
	prev := seqOf(t, sub.Watermark)
	for _, e := range n.Events {
		if s := seqOf(t, e.Watermark); s <= prev {
			t.Fatalf("watermarks not increasing: %d after %d", s, prev)
		} else {
			prev = s
		}
		if !e.Time.Equal(t0.Add(time.Second)) {
			t.Fatalf("TimeStamp = %v", e.Time)
		}
	}
	last := n.Events[len(n.Events)-1].Watermark

	// Idle: one StatusEvent repeating the last watermark.
	idle := getEvents(t, b, alice, sub.ID, last)
	if idle.PreviousWatermark != last || len(idle.Events) != 1 || idle.Events[0].Kind != StatusEvent || idle.Events[0].Watermark != last {
		t.Fatalf("idle = %+v", idle)
	}
	// The StatusEvent's watermark chains too.
	b.Publish(alice, created("I2", inbox))
	n = getEvents(t, b, alice, sub.ID, idle.Events[0].Watermark)
	if n.PreviousWatermark != last || len(n.Events) != 1 || n.Events[0].ID.ID != "I2" {
		t.Fatalf("after idle = %+v", n)
	}
}

func TestGetEvents_MoreEventsPaging(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	sub := mustSubscribe(t, b, pullReq(alice))
	for i := range 120 {
		b.Publish(alice, created(fmt.Sprint("I", i), inbox))
	}
	wm := sub.Watermark
	var got []string
	for page, want := range []struct {
		n    int
		more bool
	}{{50, true}, {50, true}, {20, false}} {
		n := getEvents(t, b, alice, sub.ID, wm)
		if len(n.Events) != want.n || n.MoreEvents != want.more || n.PreviousWatermark != wm {
			t.Fatalf("page %d: %d events, more=%v, prev ok=%v", page, len(n.Events), n.MoreEvents, n.PreviousWatermark == wm)
		}
		for _, e := range n.Events {
			got = append(got, e.ID.ID)
		}
		wm = n.Events[len(n.Events)-1].Watermark
	}
	for i, id := range got {
		if id != fmt.Sprint("I", i) {
			t.Fatalf("event %d = %s: order lost", i, id)
		}
	}
}

func TestGetEvents_Errors(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	b.AddMailbox(bob, "MDB02", "")
	sub := mustSubscribe(t, b, pullReq(alice))
	ctx := context.Background()
	cases := []struct {
		name string
		r    GetEventsRequest
		want error
	}{
		{"unknown id", GetEventsRequest{Principal: alice, SubscriptionID: "nope", Watermark: sub.Watermark}, ErrSubscriptionNotFound},
		{"other owner", GetEventsRequest{Principal: bob, SubscriptionID: sub.ID, Watermark: sub.Watermark}, ErrSubscriptionAccessDenied},
		{"garbage watermark", GetEventsRequest{Principal: alice, SubscriptionID: sub.ID, Watermark: "%%%"}, ErrInvalidWatermark},
		{"other database", GetEventsRequest{Principal: alice, SubscriptionID: sub.ID, Watermark: b.Watermark(bob)}, ErrInvalidWatermark},
		{"future", GetEventsRequest{Principal: alice, SubscriptionID: sub.ID, Watermark: encodeWatermark(dbToken(DefaultDatabase), 99)}, ErrInvalidWatermark},
		{"other backend", GetEventsRequest{Principal: alice, Backend: "mbx02", SubscriptionID: sub.ID, Watermark: sub.Watermark}, ErrSubscriptionNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.GetEvents(ctx, c.r)
			wantErr(t, err, c.want)
		})
	}
	st := mustSubscribe(t, b, streamReq(alice))
	_, err := b.GetEvents(ctx, GetEventsRequest{Principal: alice, SubscriptionID: st.ID, Watermark: sub.Watermark})
	wantErr(t, err, ErrInvalidPullSubscriptionID)
}

func TestPull_TimeoutExpiry(t *testing.T) {
	b, clk := newTestBroker(t, nil)
	r := pullReq(alice)
	r.Timeout = 5 * time.Minute
	sub := mustSubscribe(t, b, r)
	clk.Advance(4*time.Minute + 59*time.Second)
	n := getEvents(t, b, alice, sub.ID, sub.Watermark) // resets the timer
	clk.Advance(4*time.Minute + 59*time.Second)
	getEvents(t, b, alice, sub.ID, n.Events[0].Watermark)
	clk.Advance(5 * time.Minute)
	_, err := b.GetEvents(context.Background(), GetEventsRequest{Principal: alice, SubscriptionID: sub.ID, Watermark: sub.Watermark})
	wantErr(t, err, ErrExpiredSubscription)
	if s := b.Stats(); s.Subscriptions != 0 {
		t.Fatalf("expired subscription still counted: %+v", s)
	}
	// After a restart the server no longer remembers it.
	b.Restart()
	_, err = b.GetEvents(context.Background(), GetEventsRequest{Principal: alice, SubscriptionID: sub.ID, Watermark: sub.Watermark})
	wantErr(t, err, ErrSubscriptionNotFound)
}

func TestSubscribe_Validation(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	mod := func(f func(*SubscribeRequest)) SubscribeRequest { r := pullReq(alice); f(&r); return r }
	cases := []struct {
		name string
		r    SubscribeRequest
		want error
	}{
		{"timeout 0", mod(func(r *SubscribeRequest) { r.Timeout = 0 }), ErrSchemaValidation},
		{"timeout 1441", mod(func(r *SubscribeRequest) { r.Timeout = 1441 * time.Minute }), ErrSchemaValidation},
		{"no event types", mod(func(r *SubscribeRequest) { r.EventTypes = nil }), ErrSchemaValidation},
		{"status event", mod(func(r *SubscribeRequest) { r.EventTypes = []EventKind{StatusEvent} }), ErrSchemaValidation},
		{"unknown event", mod(func(r *SubscribeRequest) { r.EventTypes = []EventKind{"BogusEvent"} }), ErrSchemaValidation},
		{"all folders and ids", mod(func(r *SubscribeRequest) { r.FolderIDs = []string{inbox} }), ErrInvalidSubscriptionRequest},
		{"no folders", mod(func(r *SubscribeRequest) { r.AllFolders = false }), ErrInvalidSubscriptionRequest},
		{"bad watermark", mod(func(r *SubscribeRequest) { r.Watermark = "AAAA" }), ErrInvalidWatermark},
		{"streaming watermark", func() SubscribeRequest { r := streamReq(alice); r.Watermark = b.Watermark(alice); return r }(), ErrSchemaValidation},
		{"push url", SubscribeRequest{Kind: Push, Mailbox: alice, AllFolders: true, EventTypes: allKinds, StatusFrequency: time.Minute, URL: "ftp://x/y"}, ErrInvalidPushSubscriptionURL},
		{"push relative url", SubscribeRequest{Kind: Push, Mailbox: alice, AllFolders: true, EventTypes: allKinds, StatusFrequency: time.Minute, URL: "/ews"}, ErrInvalidPushSubscriptionURL},
		{"push frequency", SubscribeRequest{Kind: Push, Mailbox: alice, AllFolders: true, EventTypes: allKinds, StatusFrequency: 0, URL: "http://x/"}, ErrSchemaValidation},
		{"kind", SubscribeRequest{Mailbox: alice, AllFolders: true, EventTypes: allKinds}, ErrSchemaValidation},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.Subscribe(context.Background(), c.r)
			wantErr(t, err, c.want)
		})
	}
	if s := b.Stats(); s.Subscriptions != 0 {
		t.Fatalf("a refused Subscribe left a subscription: %+v", s)
	}
}

func TestSubscribe_LimitFreedByUnsubscribe(t *testing.T) {
	b, _ := newTestBroker(t, &Options{MaxSubscriptions: 3})
	two := pullReq(alice)
	two.AllFolders, two.FolderIDs = false, []string{inbox, other}
	s1 := mustSubscribe(t, b, two)              // costs 2
	s2 := mustSubscribe(t, b, streamReq(alice)) // costs 1
	_, err := b.Subscribe(context.Background(), streamReq(alice))
	wantErr(t, err, ErrExceededSubscriptionCount)
	mustSubscribe(t, b, streamReq(bob)) // another mailbox has its own budget
	if err := b.Unsubscribe(context.Background(), UnsubscribeRequest{Principal: alice, SubscriptionID: s2.ID}); err != nil {
		t.Fatal(err)
	}
	mustSubscribe(t, b, streamReq(alice))
	if err := b.Unsubscribe(context.Background(), UnsubscribeRequest{Principal: alice, SubscriptionID: s1.ID}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, b.Unsubscribe(context.Background(), UnsubscribeRequest{Principal: alice, SubscriptionID: s1.ID}), ErrSubscriptionNotFound)
	mustSubscribe(t, b, two)
}

func TestSubscribe_Filters(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	r := pullReq(alice)
	r.AllFolders, r.FolderIDs = false, []string{other}
	r.EventTypes = []EventKind{CreatedEvent, MovedEvent, ModifiedEvent}
	sub := mustSubscribe(t, b, r)
	b.Publish(alice, newMail("I1", 1)...)                                                        // inbox: not watched
	b.Publish(bob, created("B1", other))                                                         // another mailbox
	b.Publish(alice, created("I2", other))                                                       // watched folder
	b.Publish(alice, Event{Kind: DeletedEvent, ID: ID{ID: "I2"}, ParentFolderID: ID{ID: other}}) // type not requested
	b.Publish(alice, Event{Kind: MovedEvent, ID: ID{ID: "I3"}, ParentFolderID: ID{ID: inbox}, OldID: ID{ID: "I3o"}, OldParentFolderID: ID{ID: other}})
	b.Publish(alice, Event{Kind: ModifiedEvent, Folder: true, ID: ID{ID: other}, ParentFolderID: ID{ID: root}})
	n := getEvents(t, b, alice, sub.ID, sub.Watermark)
	var got []string
	for _, e := range n.Events {
		got = append(got, string(e.Kind)+":"+e.ID.ID)
	}
	want := []string{"CreatedEvent:I2", "MovedEvent:I3", "ModifiedEvent:" + other}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSubscribe_ResumeFromWatermarkWalksTheLog(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	sub := mustSubscribe(t, b, pullReq(alice))
	for i := range 10 {
		b.Publish(bob, created(fmt.Sprint("B", i), inbox)) // same database, other mailbox
		b.Publish(alice, created(fmt.Sprint("A", i), inbox))
	}
	n := getEvents(t, b, alice, sub.ID, sub.Watermark)
	mid := n.Events[4].Watermark // after A4
	if err := b.Unsubscribe(context.Background(), UnsubscribeRequest{Principal: alice, SubscriptionID: sub.ID}); err != nil {
		t.Fatal(err)
	}
	r := pullReq(alice)
	r.Watermark = mid
	again := mustSubscribe(t, b, r)
	if again.Watermark != mid {
		t.Fatalf("resumed subscription starts at %q, want %q", again.Watermark, mid)
	}
	n = getEvents(t, b, alice, again.ID, again.Watermark)
	var got []string
	for _, e := range n.Events {
		got = append(got, e.ID.ID)
	}
	if !slices.Equal(got, []string{"A5", "A6", "A7", "A8", "A9"}) {
		t.Fatalf("replayed %v", got)
	}
	if w := b.Stats().ReplayWalked; w != 20 {
		t.Fatalf("ReplayWalked = %d, want the whole log (20)", w)
	}
}

func TestWatermark_RetentionAndOverrun(t *testing.T) {
	b, clk := newTestBroker(t, &Options{MaxLogEvents: 5})
	wm0 := b.Watermark(alice)
	for i := range 5 {
		b.Publish(alice, created(fmt.Sprint("I", i), inbox))
	}
	r := pullReq(alice)
	r.Watermark = wm0
	mustSubscribe(t, b, r) // exactly at the edge: still valid
	b.Publish(alice, created("I5", inbox))
	_, err := b.Subscribe(context.Background(), r)
	wantErr(t, err, ErrInvalidWatermark) // overrun by the maximum number of events

	wm := b.Watermark(alice)
	r.Watermark = wm
	mustSubscribe(t, b, r)
	b.Publish(alice, created("aging", inbox))
	clk.Advance(DefaultRetention - time.Minute)
	b.Publish(alice, created("young", inbox))
	mustSubscribe(t, b, r) // the event after wm is 29 days old: still valid
	clk.Advance(time.Hour)
	b.Publish(alice, created("late", inbox)) // trims everything older than 30 days
	_, err = b.Subscribe(context.Background(), r)
	wantErr(t, err, ErrInvalidWatermark)

	r.Watermark = b.Watermark(alice)
	mustSubscribe(t, b, r)
	b.Publish(alice, created("x", inbox))
	b.TrimLog(DefaultDatabase, 0)
	_, err = b.Subscribe(context.Background(), r)
	wantErr(t, err, ErrInvalidWatermark)
}

func TestMissedEvents_Pull(t *testing.T) {
	b, _ := newTestBroker(t, &Options{MaxQueuedEvents: 3})
	sub := mustSubscribe(t, b, pullReq(alice))
	for i := range 5 {
		b.Publish(alice, created(fmt.Sprint("I", i), inbox))
	}
	_, err := b.GetEvents(context.Background(), GetEventsRequest{Principal: alice, SubscriptionID: sub.ID, Watermark: sub.Watermark})
	wantErr(t, err, ErrMissedNotificationEvents)
	// The subscription keeps working with what came after the overflow.
	n := getEvents(t, b, alice, sub.ID, sub.Watermark)
	if len(n.Events) != 1 || n.Events[0].ID.ID != "I4" {
		t.Fatalf("after overflow: %+v", n.Events)
	}
}

func TestMoveMailbox(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	b.AddMailbox(alice, "MDB01", "mbx01")
	sub := mustSubscribe(t, b, pullReq(alice))
	b.Publish(alice, created("I1", inbox))
	n := getEvents(t, b, alice, sub.ID, sub.Watermark)
	old := n.Events[0].Watermark
	b.MoveMailbox(alice, "MDB02", "mbx02")
	_, err := b.GetEvents(context.Background(), GetEventsRequest{Principal: alice, SubscriptionID: sub.ID, Watermark: old})
	wantErr(t, err, ErrMailboxMoveInProgress)
	r := pullReq(alice)
	r.Watermark = old
	_, err = b.Subscribe(context.Background(), r)
	wantErr(t, err, ErrInvalidWatermark)
	if b.MailboxBackend(alice) != "mbx02" || b.MailboxDatabase(alice) != "MDB02" {
		t.Fatalf("mailbox not moved")
	}
	fresh := mustSubscribe(t, b, pullReq(alice))
	b.Publish(alice, created("I2", inbox))
	if n := getEvents(t, b, alice, fresh.ID, fresh.Watermark); n.Events[0].ID.ID != "I2" {
		t.Fatalf("after move: %+v", n.Events)
	}
	if s := b.Stats(); s.Subscriptions != 1 {
		t.Fatalf("moved subscription still live: %+v", s)
	}
}

func TestRestart_KeepsWatermarks(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	sub := mustSubscribe(t, b, pullReq(alice))
	b.Publish(alice, created("I1", inbox))
	b.Restart()
	_, err := b.GetEvents(context.Background(), GetEventsRequest{Principal: alice, SubscriptionID: sub.ID, Watermark: sub.Watermark})
	wantErr(t, err, ErrSubscriptionNotFound)
	r := pullReq(alice)
	r.Watermark = sub.Watermark
	again := mustSubscribe(t, b, r)
	if n := getEvents(t, b, alice, again.ID, again.Watermark); len(n.Events) != 1 || n.Events[0].ID.ID != "I1" {
		t.Fatalf("resume after restart: %+v", n.Events)
	}
}

func TestClose(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, b.Close(), ErrClosed)
	_, err := b.Subscribe(context.Background(), pullReq(alice))
	wantErr(t, err, ErrClosed)
}

func TestAffinityCookie(t *testing.T) {
	c := AffinityCookie("mbx02.example.com")
	if be, ok := CookieBackend(c); !ok || be != "mbx02.example.com" {
		t.Fatalf("CookieBackend(%q) = %q, %v", c, be, ok)
	}
	for _, bad := range []string{"", "~", "mbx02.example.com", "mbx02.example.com~1", "~" + c, c + "0"} {
		if _, ok := CookieBackend(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestBroker_ConfigureAndEnsureMailbox(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	if err := b.Configure(Options{HangingConnectionLimit: 1, KeepAliveInterval: time.Minute}); err == nil {
		t.Fatal("keep-alive of a minute accepted")
	}
	if err := b.Configure(Options{HangingConnectionLimit: 1}); err != nil {
		t.Fatal(err)
	}
	s1 := mustSubscribe(t, b, streamReq(alice))
	s2 := mustSubscribe(t, b, streamReq(alice))
	if _, err := b.OpenStream(context.Background(), StreamRequest{Principal: alice, SubscriptionIDs: []string{s1.ID}, ConnectionTimeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	_, err := b.OpenStream(context.Background(), StreamRequest{Principal: alice, SubscriptionIDs: []string{s2.ID}, ConnectionTimeout: time.Minute})
	wantErr(t, err, ErrExceededConnectionCount)
	// Charged to Account when given.
	if _, err := b.OpenStream(context.Background(), StreamRequest{Principal: alice, Account: bob, SubscriptionIDs: []string{s2.ID}, ConnectionTimeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	b.EnsureMailbox(bob, "MDB07", "mbx07")
	b.EnsureMailbox(bob, "MDB08", "mbx08")
	if b.MailboxDatabase(bob) != "MDB07" || b.MailboxBackend(bob) != "mbx07" {
		t.Fatalf("EnsureMailbox replaced a placement: %s %s", b.MailboxDatabase(bob), b.MailboxBackend(bob))
	}
}

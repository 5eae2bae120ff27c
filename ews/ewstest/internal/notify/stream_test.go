package notify

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func openStream(t *testing.T, b *Broker, principal string, ids ...string) *Stream {
	t.Helper()
	st, err := b.OpenStream(context.Background(), StreamRequest{Principal: principal, SubscriptionIDs: ids, ConnectionTimeout: 30 * time.Minute})
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

// next reads the frame that must already be queued (timers run inside
// Advance, so nothing is ever pending in another goroutine); the deadline
// only turns a bug into a failure instead of a hang.
func next(t *testing.T, st *Stream) Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := st.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return f
}

func wantEnd(t *testing.T, st *Stream, want error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := st.Next(ctx); !errors.Is(err, want) {
		t.Fatalf("Next = %v, want %v", err, want)
	}
}

func isKeepAlive(f Frame) bool {
	return f.Err == nil && len(f.Notifications) == 0 && f.Status == StatusOK
}

func eventIDs(f Frame) []string {
	var out []string
	for _, n := range f.Notifications {
		for _, e := range n.Events {
			out = append(out, e.ID.ID)
		}
	}
	return out
}

func TestStream_Lifecycle(t *testing.T) {
	b, clk := newTestBroker(t, nil)
	sub := mustSubscribe(t, b, streamReq(alice))
	st := openStream(t, b, alice, sub.ID)
	if f := next(t, st); !isKeepAlive(f) {
		t.Fatalf("first frame = %+v, want OK", f)
	}
	b.Publish(alice, newMail("I1", 1)...)
	f := next(t, st)
	if len(f.Notifications) != 1 || f.Notifications[0].SubscriptionID != sub.ID || f.Status != "" {
		t.Fatalf("notification frame = %+v", f)
	}
	if got := kinds(f.Notifications[0]); !slices.Equal(got, []EventKind{CreatedEvent, NewMailEvent, ModifiedEvent}) {
		t.Fatalf("kinds = %v", got)
	}
	// Quiet: keep-alives every KeepAliveInterval, counted from the last frame.
	clk.Advance(DefaultKeepAliveInterval - time.Second)
	if st.pending() != 0 {
		t.Fatal("keep-alive before the interval")
	}
	clk.Advance(time.Second)
	if f := next(t, st); !isKeepAlive(f) {
		t.Fatalf("keep-alive = %+v", f)
	}
	clk.Advance(30*time.Minute - DefaultKeepAliveInterval)
	var last Frame
	for st.pending() > 0 {
		last = next(t, st)
	}
	if last.Status != StatusClosed || last.Err != nil {
		t.Fatalf("last frame = %+v, want Closed", last)
	}
	wantEnd(t, st, io.EOF)
	if s := b.Stats(); s.OpenStreams != 0 {
		t.Fatalf("connection still counted: %+v", s)
	}
}

func TestStream_ReconnectWithoutGap(t *testing.T) {
	b, clk := newTestBroker(t, nil)
	sub := mustSubscribe(t, b, streamReq(alice))
	st := openStream(t, b, alice, sub.ID)
	next(t, st)
	b.Publish(alice, created("I1", inbox))
	if got := eventIDs(next(t, st)); !slices.Equal(got, []string{"I1"}) {
		t.Fatalf("first connection got %v", got)
	}
	clk.Advance(30 * time.Minute)
	for {
		f := next(t, st)
		if f.Status == StatusClosed {
			break
		}
	}
	// Raised between the two connections: queued, delivered on the next.
	b.Publish(alice, created("I2", inbox))
	b.Publish(alice, created("I3", inbox))
	st2 := openStream(t, b, alice, sub.ID)
	if got := eventIDs(next(t, st2)); !slices.Equal(got, []string{"I2", "I3"}) {
		t.Fatalf("second connection got %v", got)
	}
	b.Publish(alice, created("I4", inbox))
	if got := eventIDs(next(t, st2)); !slices.Equal(got, []string{"I4"}) {
		t.Fatalf("then %v", got)
	}
}

func TestStream_DroppedConnectionKeepsQueue(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	sub := mustSubscribe(t, b, streamReq(alice))
	st := openStream(t, b, alice, sub.ID)
	next(t, st)
	if n := b.DropStreams(alice); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	wantEnd(t, st, ErrConnectionDropped)
	b.Publish(alice, created("I1", inbox))
	st2 := openStream(t, b, alice, sub.ID)
	if got := eventIDs(next(t, st2)); !slices.Equal(got, []string{"I1"}) {
		t.Fatalf("after drop got %v", got)
	}
	b.Restart()
	wantEnd(t, st2, ErrConnectionDropped)
	_, err := b.OpenStream(context.Background(), StreamRequest{Principal: alice, SubscriptionIDs: []string{sub.ID}, ConnectionTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStream_200Subscriptions(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	ids := make([]string, MaxStreamingSubscriptions)
	for i := range ids {
		mb := fmt.Sprintf("user%03d@example.com", i)
		r := streamReq(mb)
		r.Principal = "svc@example.com" // impersonating service account
		ids[i] = mustSubscribe(t, b, r).ID
	}
	st := openStream(t, b, "svc@example.com", ids...)
	next(t, st)
	for i := range ids {
		b.Publish(fmt.Sprintf("user%03d@example.com", i), created(fmt.Sprint("I", i), inbox))
	}
	seen := map[string]string{}
	for st.pending() > 0 {
		for _, n := range next(t, st).Notifications {
			seen[n.SubscriptionID] = n.Events[0].ID.ID
		}
	}
	for i, id := range ids {
		if seen[id] != fmt.Sprint("I", i) {
			t.Fatalf("subscription %d saw %q", i, seen[id])
		}
	}
	_, err := b.OpenStream(context.Background(), StreamRequest{Principal: "svc@example.com", SubscriptionIDs: append(ids, "one-more"), ConnectionTimeout: time.Minute})
	wantErr(t, err, ErrInvalidArgument)
}

func TestStream_RequestValidation(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	sub := mustSubscribe(t, b, streamReq(alice))
	for _, d := range []time.Duration{0, 31 * time.Minute, 90 * time.Second} {
		_, err := b.OpenStream(context.Background(), StreamRequest{Principal: alice, SubscriptionIDs: []string{sub.ID}, ConnectionTimeout: d})
		wantErr(t, err, ErrSchemaValidation)
	}
	_, err := b.OpenStream(context.Background(), StreamRequest{Principal: alice, ConnectionTimeout: time.Minute})
	wantErr(t, err, ErrSchemaValidation)
}

func TestStream_SecondConnectionTakesOver(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	a := mustSubscribe(t, b, streamReq(alice))
	c := mustSubscribe(t, b, streamReq(alice))
	st1 := openStream(t, b, alice, a.ID, c.ID)
	next(t, st1)
	st2 := openStream(t, b, alice, a.ID)
	f := next(t, st1)
	if !errors.Is(f.Err, ErrNewEventStreamConnectionOpened) || !slices.Equal(f.ErrorIDs, []string{a.ID}) || f.Status != StatusOK {
		t.Fatalf("first connection frame = %+v", f)
	}
	next(t, st2)
	b.Publish(alice, created("I1", inbox))
	if got := next(t, st2).Notifications; len(got) != 1 || got[0].SubscriptionID != a.ID {
		t.Fatalf("second connection got %+v", got)
	}
	if got := next(t, st1).Notifications; len(got) != 1 || got[0].SubscriptionID != c.ID {
		t.Fatalf("first connection got %+v", got)
	}
	// Taking its last subscription closes the first connection.
	openStream(t, b, alice, c.ID)
	f = next(t, st1)
	if !errors.Is(f.Err, ErrNewEventStreamConnectionOpened) || f.Status != StatusClosed {
		t.Fatalf("last frame = %+v", f)
	}
	wantEnd(t, st1, io.EOF)
}

func TestStream_HangingConnectionLimit(t *testing.T) {
	for _, limit := range []int{0, 10} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			b, _ := newTestBroker(t, &Options{HangingConnectionLimit: limit})
			want := limit
			if want == 0 {
				want = DefaultHangingConnectionLimit
			}
			var streams []*Stream
			for range want {
				sub := mustSubscribe(t, b, streamReq(alice))
				streams = append(streams, openStream(t, b, alice, sub.ID))
			}
			sub := mustSubscribe(t, b, streamReq(alice))
			req := StreamRequest{Principal: alice, SubscriptionIDs: []string{sub.ID}, ConnectionTimeout: time.Minute}
			_, err := b.OpenStream(context.Background(), req)
			wantErr(t, err, ErrExceededConnectionCount)
			other := mustSubscribe(t, b, streamReq(bob))
			openStream(t, b, bob, other.ID) // per account
			streams[0].Close()
			if _, err := b.OpenStream(context.Background(), req); err != nil {
				t.Fatalf("after Close: %v", err)
			}
		})
	}
}

func TestStream_PerIDErrors(t *testing.T) {
	b, clk := newTestBroker(t, &Options{StreamingIdleExpiry: 10 * time.Minute})
	expired := mustSubscribe(t, b, streamReq(alice))
	clk.Advance(10 * time.Minute)
	good := mustSubscribe(t, b, streamReq(alice))
	pull := mustSubscribe(t, b, pullReq(alice))
	st := openStream(t, b, alice, "unknown", expired.ID, good.ID, pull.ID)
	var errs []string
	for st.pending() > 0 {
		f := next(t, st)
		if f.Err == nil {
			t.Fatalf("frame = %+v", f)
		}
		if f.Status != StatusOK {
			t.Fatalf("error frame closes a connection that still has a good id: %+v", f)
		}
		errs = append(errs, f.Err.Code+":"+strings.Join(f.ErrorIDs, ","))
	}
	want := []string{"ErrorSubscriptionNotFound:unknown", "ErrorExpiredSubscription:" + expired.ID, "ErrorInvalidSubscription:" + pull.ID}
	if !slices.Equal(errs, want) {
		t.Fatalf("errors %v, want %v", errs, want)
	}
	// Only bad ids: error frames, the last one Closed, then the end.
	st2 := openStream(t, b, alice, "unknown")
	if f := next(t, st2); f.Status != StatusClosed || !errors.Is(f.Err, ErrSubscriptionNotFound) {
		t.Fatalf("frame = %+v", f)
	}
	wantEnd(t, st2, io.EOF)
}

func TestStream_IdleExpiry(t *testing.T) {
	b, clk := newTestBroker(t, nil)
	sub := mustSubscribe(t, b, streamReq(alice))
	clk.Advance(DefaultStreamingIdleExpiry - time.Minute)
	st := openStream(t, b, alice, sub.ID) // a connection stops the idle clock
	clk.Advance(DefaultStreamingIdleExpiry + time.Minute)
	st.Close() // (the connection timed out at 30 min; Close is idempotent)
	for st.pending() > 0 {
		next(t, st)
	}
	if b.Stats().Subscriptions != 1 {
		t.Fatal("expired while connected")
	}
	// Closed 30 min after it opened (one minute ago): the idle clock
	// restarted then.
	clk.Advance(DefaultStreamingIdleExpiry - 2*time.Minute)
	if b.Stats().Subscriptions != 1 {
		t.Fatal("expired before the idle time")
	}
	clk.Advance(time.Minute)
	if b.Stats().Subscriptions != 0 {
		t.Fatal("did not expire after the idle time without a connection")
	}
	_, err := b.GetEvents(context.Background(), GetEventsRequest{Principal: alice, SubscriptionID: sub.ID})
	wantErr(t, err, ErrExpiredSubscription)
}

func TestStream_MissedEventsWhileNobodyListens(t *testing.T) {
	b, _ := newTestBroker(t, &Options{MaxQueuedEvents: 3})
	sub := mustSubscribe(t, b, streamReq(alice))
	for i := range 4 {
		b.Publish(alice, created(fmt.Sprint("I", i), inbox))
	}
	b.Publish(alice, created("I4", inbox))
	st := openStream(t, b, alice, sub.ID)
	f := next(t, st)
	if !errors.Is(f.Err, ErrMissedNotificationEvents) || !slices.Equal(f.ErrorIDs, []string{sub.ID}) || f.Status != StatusOK {
		t.Fatalf("frame = %+v", f)
	}
	if got := eventIDs(next(t, st)); !slices.Equal(got, []string{"I4"}) {
		t.Fatalf("after the error got %v", got)
	}
}

func TestStream_AffinityRefusal(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	b.AddMailbox(alice, "MDB01", "mbx01")
	b.AddMailbox(bob, "MDB02", "mbx02")
	// Without affinity each Subscribe lands on its own mailbox's backend.
	ra, rb := streamReq(alice), streamReq(bob)
	ra.Principal, rb.Principal = "svc", "svc"
	sa := mustSubscribe(t, b, ra)
	sb := mustSubscribe(t, b, rb)
	st := openStream2(t, b, StreamRequest{Principal: "svc", Backend: "mbx01", SubscriptionIDs: []string{sa.ID, sb.ID}, ConnectionTimeout: time.Minute})
	f := next(t, st)
	if !errors.Is(f.Err, ErrSubscriptionNotFound) || !slices.Equal(f.ErrorIDs, []string{sb.ID}) {
		t.Fatalf("frame = %+v", f)
	}
	// With affinity both are hosted on the anchor's backend.
	rb.Backend = b.MailboxBackend(alice)
	sb2 := mustSubscribe(t, b, rb)
	st2 := openStream2(t, b, StreamRequest{Principal: "svc", Backend: "mbx01", SubscriptionIDs: []string{sb2.ID}, ConnectionTimeout: time.Minute})
	if f := next(t, st2); !isKeepAlive(f) {
		t.Fatalf("frame = %+v", f)
	}
	b.Publish(bob, created("B1", inbox))
	if got := eventIDs(next(t, st2)); !slices.Equal(got, []string{"B1"}) {
		t.Fatalf("got %v", got)
	}
}

func openStream2(t *testing.T, b *Broker, r StreamRequest) *Stream {
	t.Helper()
	st, err := b.OpenStream(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func TestStream_UnsubscribeAndMove(t *testing.T) {
	b, _ := newTestBroker(t, nil)
	a := mustSubscribe(t, b, streamReq(alice))
	c := mustSubscribe(t, b, streamReq(alice))
	st := openStream(t, b, alice, a.ID, c.ID)
	next(t, st)
	if err := b.Unsubscribe(context.Background(), UnsubscribeRequest{Principal: alice, SubscriptionID: a.ID}); err != nil {
		t.Fatal(err)
	}
	if f := next(t, st); !errors.Is(f.Err, ErrSubscriptionUnsubscribed) || !slices.Equal(f.ErrorIDs, []string{a.ID}) || f.Status != StatusOK {
		t.Fatalf("frame = %+v", f)
	}
	b.MoveMailbox(alice, "MDB09", "")
	if f := next(t, st); !errors.Is(f.Err, ErrMailboxMoveInProgress) || f.Status != StatusClosed {
		t.Fatalf("frame = %+v", f)
	}
	wantEnd(t, st, io.EOF)
}

func TestFrame_XML(t *testing.T) {
	unread := 4
	f := Frame{Notifications: []Notification{{SubscriptionID: "S1", Events: []StampedEvent{
		{Event: Event{Kind: MovedEvent, Time: t0, ID: ID{ID: "I2", ChangeKey: "C2"}, ParentFolderID: ID{ID: "F9"}, OldID: ID{ID: "I1"}, OldParentFolderID: ID{ID: "INBOX"}}, Watermark: "WM"},
		{Event: Event{Kind: ModifiedEvent, Time: t0, Folder: true, ID: ID{ID: "IN&BOX"}, ParentFolderID: ID{ID: "ROOT"}, UnreadCount: &unread}, Watermark: "WM2"},
	}}}}
	got := string(AppendFrameEnvelope(nil, f, ""))
	want := `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><soap11:Body xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/">` +
		`<m:GetStreamingEventsResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">` +
		`<m:ResponseMessages><m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>` +
		`<m:Notifications><m:Notification><t:SubscriptionId>S1</t:SubscriptionId>` +
		`<t:MovedEvent><t:TimeStamp>2024-05-01T10:00:00Z</t:TimeStamp><t:ItemId Id="I2" ChangeKey="C2"/><t:ParentFolderId Id="F9"/><t:OldItemId Id="I1"/><t:OldParentFolderId Id="INBOX"/></t:MovedEvent>` +
		`<t:ModifiedEvent><t:TimeStamp>2024-05-01T10:00:00Z</t:TimeStamp><t:FolderId Id="IN&amp;BOX"/><t:ParentFolderId Id="ROOT"/><t:UnreadCount>4</t:UnreadCount></t:ModifiedEvent>` +
		`</m:Notification></m:Notifications></m:GetStreamingEventsResponseMessage></m:ResponseMessages></m:GetStreamingEventsResponse></soap11:Body></Envelope>`
	if got != want {
		t.Fatalf("envelope:\n%s\nwant\n%s", got, want)
	}
	ef := Frame{Err: ErrSubscriptionNotFound, ErrorIDs: []string{"S2"}, Status: StatusClosed}
	got = string(AppendFrameEnvelope(nil, ef, `<t:ServerVersionInfo xmlns:t="`+NSTypes+`" MajorVersion="15"/>`))
	for _, part := range []string{
		`<soap11:Header xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><t:ServerVersionInfo`,
		`ResponseClass="Error"><m:MessageText>The specified subscription was not found.</m:MessageText><m:ResponseCode>ErrorSubscriptionNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:ErrorSubscriptionIds><m:SubscriptionId>S2</m:SubscriptionId></m:ErrorSubscriptionIds><m:ConnectionStatus>Closed</m:ConnectionStatus>`,
	} {
		if !strings.Contains(got, part) {
			t.Fatalf("error envelope lacks %s:\n%s", part, got)
		}
	}
	// Several envelopes in one body parse one after another.
	body := AppendFrameEnvelope(AppendFrameEnvelope(nil, f, ""), ef, "")
	d := xml.NewDecoder(strings.NewReader(string(body)))
	envelopes := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "Envelope" && se.Name.Space == NSSoap {
			envelopes++
		}
	}
	if envelopes != 2 {
		t.Fatalf("%d envelopes", envelopes)
	}
}

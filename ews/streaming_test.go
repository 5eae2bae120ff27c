package ews

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// Envelope builders shaped like Exchange's streaming output (S7).
const (
	seHead = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>` +
		`<ServerVersionInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ` +
		`MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11" ` +
		`xmlns="http://schemas.microsoft.com/exchange/services/2006/types" /></soap:Header><soap:Body>` +
		`<m:GetStreamingEventsResponse xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ` +
		`xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">` +
		`<m:ResponseMessages>`
	seTail = `</m:ResponseMessages></m:GetStreamingEventsResponse></soap:Body></soap:Envelope>`
)

// seEvent renders a streaming NewMailEvent for item id.
func seEvent(item string) string {
	return `<t:NewMailEvent><t:TimeStamp>2024-05-01T10:00:00Z</t:TimeStamp><t:ItemId Id="` + item +
		`" ChangeKey="CK"/><t:ParentFolderId Id="INBOX"/></t:NewMailEvent>`
}

// seNotify renders an envelope with one notification per (sub, item) pair.
func seNotify(pairs ...string) string {
	var b strings.Builder
	b.WriteString(seHead + `<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Notifications>`)
	for i := 0; i+1 < len(pairs); i += 2 {
		b.WriteString(`<m:Notification><t:SubscriptionId>` + pairs[i] + `</t:SubscriptionId>` + seEvent(pairs[i+1]) + `</m:Notification>`)
	}
	b.WriteString(`</m:Notifications></m:GetStreamingEventsResponseMessage>` + seTail)
	return b.String()
}

func seStatus(status string) string {
	return seHead + `<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>` +
		`<m:ConnectionStatus>` + status + `</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>` + seTail
}

// seErrMsg renders an error GetStreamingEventsResponseMessage.
func seErrMsg(code, status string, ids ...string) string {
	var b strings.Builder
	b.WriteString(`<m:GetStreamingEventsResponseMessage ResponseClass="Error"><m:MessageText>failed</m:MessageText>` +
		`<m:ResponseCode>` + code + `</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>`)
	if len(ids) > 0 {
		b.WriteString(`<m:ErrorSubscriptionIds>`)
		for _, id := range ids {
			b.WriteString(`<m:SubscriptionId>` + id + `</m:SubscriptionId>`)
		}
		b.WriteString(`</m:ErrorSubscriptionIds>`)
	}
	if status != "" {
		b.WriteString(`<m:ConnectionStatus>` + status + `</m:ConnectionStatus>`)
	}
	b.WriteString(`</m:GetStreamingEventsResponseMessage>`)
	return b.String()
}

// seError renders an envelope with one error message.
func seError(code, status string, ids ...string) string {
	return seHead + seErrMsg(code, status, ids...) + seTail
}

// fakeStream is one GetStreamingEvents request the test server holds open.
type fakeStream struct {
	ids        []string
	timeout    string
	header     http.Header
	remoteAddr string
	send       chan string
	end        chan struct{}
	done       chan struct{} // closed when the handler returned
	gone       chan struct{} // closed when the client went away
}

// write sends chunks to the client, each flushed on its own.
func (s *fakeStream) write(t testing.TB, chunks ...string) {
	t.Helper()
	for _, c := range chunks {
		select {
		case s.send <- c:
		case <-s.done:
			t.Fatalf("stream ended before write")
		}
	}
}

// finish ends the response body.
func (s *fakeStream) finish() { close(s.end) }

// streamServer answers GetStreamingEvents by handing each request to the
// test, and other operations with a handler.
type streamServer struct {
	*ntfServer
	conns chan *fakeStream
}

func newStreamServer(t testing.TB, other func(op string, req *etree.Element, w http.ResponseWriter, r *http.Request)) *streamServer {
	ss := &streamServer{conns: make(chan *fakeStream, 16)}
	ss.ntfServer = newNtfServer(t, func(op string, req *etree.Element, w http.ResponseWriter, r *http.Request) {
		if op != "GetStreamingEvents" {
			if other == nil {
				http.Error(w, "unexpected "+op, http.StatusBadRequest)
				return
			}
			other(op, req, w, r)
			return
		}
		fs := &fakeStream{
			header: r.Header.Clone(), remoteAddr: r.RemoteAddr,
			send: make(chan string), end: make(chan struct{}), done: make(chan struct{}), gone: make(chan struct{}),
		}
		defer close(fs.done)
		for _, el := range ewsxml.ChildElements(ewsxml.FirstChild(req, ewsxml.NSMessages, "SubscriptionIds")) {
			if ewsxml.Is(el, ewsxml.NSTypes, "SubscriptionId") {
				fs.ids = append(fs.ids, ewsxml.Text(el))
			}
		}
		fs.timeout = ewsxml.Text(ewsxml.FirstChild(req, ewsxml.NSMessages, "ConnectionTimeout"))
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		fl.Flush()
		ss.conns <- fs
		for {
			select {
			case c := <-fs.send:
				w.Write([]byte(c))
				fl.Flush()
			case <-fs.end:
				return
			case <-r.Context().Done():
				close(fs.gone)
				return
			}
		}
	})
	return ss
}

// next waits for the next streaming request.
func (ss *streamServer) next(t testing.TB) *fakeStream {
	t.Helper()
	select {
	case fs := <-ss.conns:
		return fs
	case <-time.After(10 * time.Second):
		t.Fatal("no streaming request")
		return nil
	}
}

// expectNoConn checks that no further streaming request is pending.
func (ss *streamServer) expectNoConn(t testing.TB) {
	t.Helper()
	select {
	case fs := <-ss.conns:
		t.Fatalf("unexpected streaming request for %v", fs.ids)
	default:
	}
}

// recv reads the next StreamingEvent.
func recv(t testing.TB, sc *StreamingConnection) StreamingEvent {
	t.Helper()
	select {
	case ev, ok := <-sc.Events():
		if !ok {
			t.Fatal("events channel closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no stream event")
		return StreamingEvent{}
	}
}

// recvNotification reads the next event and checks it is a notification of
// sub for item.
func recvNotification(t testing.TB, sc *StreamingConnection, sub, item string) {
	t.Helper()
	ev := recv(t, sc)
	if ev.Notification == nil || ev.Err != nil {
		t.Fatalf("got %+v, want notification %s/%s", ev, sub, item)
	}
	n := ev.Notification
	if n.SubscriptionID != sub || len(n.Events) != 1 || n.Events[0].ItemID.ID != item || n.Events[0].Type != EventNewMail {
		t.Fatalf("got notification %+v, want %s/%s", n, sub, item)
	}
}

func startStreaming(t testing.TB, c *Client, opts *StreamingOptions, ids ...string) *StreamingConnection {
	t.Helper()
	sc, err := c.NewStreamingConnection(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Add(ids...); err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return sc
}

// The server ends each request with ConnectionStatus Closed after
// ConnectionTimeout; the connection reopens at once and the events the
// server queued meanwhile arrive on the new request: nothing is lost and
// order is kept.
func TestStreamingConnection_ReconnectAfterClosed(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	clk := newTestClock()
	sc := startStreaming(t, c, &StreamingOptions{Clock: clk, ConnectionTimeout: 5 * time.Minute}, "S1", "S2")

	fs := ss.next(t)
	if !slices.Equal(fs.ids, []string{"S1", "S2"}) || fs.timeout != "5" {
		t.Fatalf("request ids %v timeout %q", fs.ids, fs.timeout)
	}
	fs.write(t, seNotify("S1", "A"), seStatus("OK"), seNotify("S2", "B", "S1", "C"), seStatus("Closed"))
	fs.finish()
	recvNotification(t, sc, "S1", "A")
	recvNotification(t, sc, "S2", "B")
	recvNotification(t, sc, "S1", "C")

	// No clock advance: the reconnect is immediate.
	fs2 := ss.next(t)
	if !slices.Equal(fs2.ids, []string{"S1", "S2"}) {
		t.Fatalf("reconnect ids %v", fs2.ids)
	}
	fs2.write(t, seNotify("S2", "D"))
	recvNotification(t, sc, "S2", "D")
	if got := sc.Reconnects(); got != 1 {
		t.Errorf("Reconnects = %d, want 1", got)
	}
	select {
	case ev := <-sc.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// A connection that receives nothing for ReadTimeout is presumed dead:
// closed, reported with ErrStreamTimeout, and reopened. Keep-alives and
// events move the deadline.
func TestStreamingConnection_ReadTimeout(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	clk := newTestClock()
	sc, err := c.NewStreamingConnection(&StreamingOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	envelopes := make(chan *streamMessage, 16)
	sc.testHookEnvelope = func(m *streamMessage) { envelopes <- m }
	handled := make(chan struct{}, 16)
	sc.testHookHandled = func() { handled <- struct{}{} }
	if err := sc.Add("S1"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	fs := ss.next(t)
	clk.Advance(60 * time.Second)
	fs.write(t, seStatus("OK"))
	if m := <-envelopes; !m.KeepAlive() {
		t.Fatalf("want keep-alive, got %+v", m)
	}
	<-handled
	// 60 s after the keep-alive (120 s after opening) the connection is
	// still alive: the keep-alive moved the deadline.
	clk.Advance(60 * time.Second)
	fs.write(t, seNotify("S1", "A"))
	<-envelopes
	recvNotification(t, sc, "S1", "A")
	<-handled // the reader is back waiting on the network
	clk.Advance(89 * time.Second)
	select {
	case ev := <-sc.Events():
		t.Fatalf("event before the timeout: %+v", ev)
	case <-fs.gone:
		t.Fatal("connection closed before the timeout")
	default:
	}
	clk.Advance(time.Second)
	ev := recv(t, sc)
	if !errors.Is(ev.Err, ErrStreamTimeout) || ev.SubscriptionID != "" {
		t.Fatalf("got %+v, want a connection error ErrStreamTimeout", ev)
	}
	<-fs.gone
	// First failure: reopened at once.
	fs2 := ss.next(t)
	fs2.write(t, seNotify("S1", "B"))
	recvNotification(t, sc, "S1", "B")
}

// Time the reader spends blocked handing events to a slow consumer does
// not count against the read timeout.
func TestStreamingConnection_SlowConsumerIsNotTimeout(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	clk := newTestClock()
	sc, err := c.NewStreamingConnection(&StreamingOptions{Clock: clk, Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	envelopes := make(chan *streamMessage, 16)
	sc.testHookEnvelope = func(m *streamMessage) { envelopes <- m }
	sc.Add("S1")
	if err := sc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	fs := ss.next(t)
	fs.write(t, seNotify("S1", "A", "S1", "B"))
	// The hook runs once the reader is handing the envelope over; A
	// fills the buffer and the reader blocks on B until the test reads.
	// Advance far past the timeout meanwhile.
	<-envelopes
	clk.Advance(5 * time.Minute)
	recvNotification(t, sc, "S1", "A")
	recvNotification(t, sc, "S1", "B")
	fs.write(t, seNotify("S1", "C"))
	<-envelopes
	recvNotification(t, sc, "S1", "C")
	select {
	case <-fs.gone:
		t.Fatal("connection was closed while the consumer was slow")
	default:
	}
}

func TestStreamingConnection_200Subscriptions(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	sc, err := c.NewStreamingConnection(&StreamingOptions{Clock: newTestClock(), Buffer: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	ids := make([]string, MaxStreamingSubscriptions)
	for i := range ids {
		ids[i] = fmt.Sprintf("SUB%03d", i)
	}
	if err := sc.Add(ids...); err != nil {
		t.Fatal(err)
	}
	if err := sc.Add("SUB200"); !errors.Is(err, ErrTooManySubscriptions) {
		t.Fatalf("Add of the 201st: %v, want ErrTooManySubscriptions", err)
	}
	if err := sc.Add(ids[0]); err != nil {
		t.Fatalf("re-adding a present id: %v", err)
	}
	if n := len(sc.Subscriptions()); n != MaxStreamingSubscriptions {
		t.Fatalf("%d subscriptions after the refused Add", n)
	}
	if err := sc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	fs := ss.next(t)
	if !slices.Equal(fs.ids, ids) {
		t.Fatalf("request carries %d ids", len(fs.ids))
	}
	var pairs []string
	for _, id := range ids {
		pairs = append(pairs, id, "item-"+id)
	}
	fs.write(t, seNotify(pairs...))
	for _, id := range ids {
		recvNotification(t, sc, id, "item-"+id)
	}
}

// Per-subscription errors are reported per id; the failed ids leave the
// connection (which reopens without them), except after
// ErrorMissedNotificationEvents, which Exchange keeps serving.
func TestStreamingConnection_PerSubscriptionErrors(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1", "S2", "S3")
	fs := ss.next(t)
	fs.write(t, seNotify("S1", "A"),
		seHead+seErrMsg("ErrorSubscriptionNotFound", "", "S2")+seErrMsg("ErrorMissedNotificationEvents", "OK", "S3")+seTail)
	recvNotification(t, sc, "S1", "A")
	ev := recv(t, sc)
	if ev.SubscriptionID != "S2" || !errors.Is(ev.Err, ErrSubscriptionNotFound) || !ev.Removed {
		t.Fatalf("got %+v, want S2 ErrSubscriptionNotFound removed", ev)
	}
	var re *ResponseError
	if !errors.As(ev.Err, &re) || !re.SubscriptionLost() {
		t.Fatalf("error is not a lost-subscription *ResponseError: %#v", ev.Err)
	}
	ev = recv(t, sc)
	if ev.SubscriptionID != "S3" || !errors.Is(ev.Err, ErrMissedNotificationEvents) || ev.Removed {
		t.Fatalf("got %+v, want S3 ErrMissedNotificationEvents kept", ev)
	}
	// The good ids move to a new request; the old one is read to its end.
	fs2 := ss.next(t)
	if !slices.Equal(fs2.ids, []string{"S1", "S3"}) {
		t.Fatalf("reconnected with %v, want [S1 S3]", fs2.ids)
	}
	if got := sc.Subscriptions(); !slices.Equal(got, []string{"S1", "S3"}) {
		t.Fatalf("Subscriptions = %v", got)
	}
	fs2.write(t, seNotify("S3", "B"))
	fs.write(t, seNotify("S1", "late"),
		seHead+seErrMsg("ErrorNewEventStreamConnectionOpened", "", "S1", "S3")+seTail,
		seStatus("Closed"))
	fs.finish()
	recvNotification(t, sc, "S1", "late")
	recvNotification(t, sc, "S3", "B")
}

// On a one-subscription connection Exchange reports the subscription's
// failure without ErrorSubscriptionIds (Microsoft's example); it is
// attributed to that subscription, which leaves the connection.
func TestStreamingConnection_SingleSubscriptionConnectionError(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1")
	fs := ss.next(t)
	fs.write(t, string(ntfGolden(t, "getstreamingevents_invalid_subscription.response.xml")))
	fs.finish()
	ev := recv(t, sc)
	if ev.SubscriptionID != "S1" || !errors.Is(ev.Err, ErrInvalidSubscription) || !ev.Removed {
		t.Fatalf("got %+v", ev)
	}
	if n := len(sc.Subscriptions()); n != 0 {
		t.Fatalf("%d subscriptions left", n)
	}
	// Nothing left to stream: no new request until Add.
	ss.expectNoConn(t)
	if err := sc.Add("S9"); err != nil {
		t.Fatal(err)
	}
	if fs2 := ss.next(t); !slices.Equal(fs2.ids, []string{"S9"}) {
		t.Fatalf("ids %v", fs2.ids)
	}
}

// Connection failures are reported as connection errors (no subscription
// id) and retried: at once, then after 1 s, 2 s, ... on the clock, or after
// the server's hint when longer.
func TestStreamingConnection_ConnectionErrorsBackOff(t *testing.T) {
	var mu sync.Mutex
	status := []int{503, 503, 0}
	ss := newStreamServer(t, nil)
	// Wrap the handler: fail the first requests with HTTP errors.
	inner := ss.Config.Handler
	ss.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st := 0
		if len(status) > 0 {
			st, status = status[0], status[1:]
		}
		mu.Unlock()
		if st != 0 {
			http.Error(w, "unavailable", st)
			return
		}
		inner.ServeHTTP(w, r)
	})
	c := newNtfClient(t, ss.URL)
	clk := newTestClock()
	sc := startStreaming(t, c, &StreamingOptions{Clock: clk}, "S1")

	ev := recv(t, sc)
	if !errors.Is(ev.Err, ErrServiceUnavailable) || ev.SubscriptionID != "" {
		t.Fatalf("first error %+v", ev)
	}
	ev = recv(t, sc) // retried at once
	if !errors.Is(ev.Err, ErrServiceUnavailable) {
		t.Fatalf("second error %+v", ev)
	}
	waitTimers(t, clk, 1)
	clk.Advance(999 * time.Millisecond)
	ss.expectNoConn(t)
	clk.Advance(time.Millisecond)
	fs := ss.next(t)
	// A connection-wide error envelope: reported, then the back-off
	// follows the server's hint.
	fs.write(t, strings.Replace(seError("ErrorServerBusy", "Closed"), `<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>`,
		`<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:MessageXml><t:Value Name="BackOffMilliseconds">30000</t:Value></m:MessageXml>`, 1))
	fs.finish()
	ev = recv(t, sc)
	var re *ResponseError
	if !errors.As(ev.Err, &re) || re.Code != ErrServerBusy || re.BackOff != 30*time.Second || ev.SubscriptionID != "" {
		t.Fatalf("busy error %+v", ev)
	}
	// The envelope was read, so the failure count restarted: the
	// first failure would be retried at once, but the hint says 30 s.
	waitTimers(t, clk, 1)
	clk.Advance(29 * time.Second)
	ss.expectNoConn(t)
	clk.Advance(time.Second)
	fs2 := ss.next(t)
	fs2.write(t, seNotify("S1", "A"))
	recvNotification(t, sc, "S1", "A")
}

func TestStreamingConnection_Close(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	sc, err := c.NewStreamingConnection(&StreamingOptions{Clock: newTestClock(), Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	sc.Add("S1")
	if err := sc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
	fs := ss.next(t)
	// The consumer does not read: the reader blocks on the second
	// notification. Close must still return.
	fs.write(t, seNotify("S1", "A", "S1", "B"))
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	<-fs.gone
	var n int
	for range sc.Events() {
		n++
	}
	if n > 1 {
		t.Fatalf("%d events after Close, buffer is 1", n)
	}
	if err := sc.Close(); !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if err := sc.Add("S2"); !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	if err := sc.Start(context.Background()); !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

// The hanging request runs on a connection of its own: a sync call of the
// same client goes through while it is open, over another TCP connection.
func TestStreamingConnection_OwnHTTPConnection(t *testing.T) {
	var getEventsAddr string
	ss := newStreamServer(t, func(op string, _ *etree.Element, w http.ResponseWriter, r *http.Request) {
		getEventsAddr = r.RemoteAddr
		w.Write(ntfGolden(t, "getevents.response.xml"))
	})
	c, err := New(ss.URL, &Options{Retry: RetryPolicy{MaxAttempts: 1}, MaxConnections: 1})
	if err != nil {
		t.Fatal(err)
	}
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1")
	fs := ss.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.GetEvents(ctx, "f6bc657d-dde1-4f94-952d-143b95d6483d", "AAAAAMAGAAAAAAAAAQ==", nil); err != nil {
		t.Fatalf("GetEvents while streaming: %v", err)
	}
	if getEventsAddr == fs.remoteAddr {
		t.Fatalf("GetEvents shared the streaming connection %s", fs.remoteAddr)
	}
	fs.write(t, seNotify("S1", "A"))
	recvNotification(t, sc, "S1", "A")
}

func TestStreamingOptions_Validate(t *testing.T) {
	bad := []StreamingOptions{
		{ConnectionTimeout: 31 * time.Minute},
		{ConnectionTimeout: 90 * time.Second},
		{ConnectionTimeout: time.Second},
		{ReadTimeout: -1},
		{Buffer: -1},
	}
	for _, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	good := []*StreamingOptions{nil, {}, {ConnectionTimeout: time.Minute}, {ConnectionTimeout: 30 * time.Minute}}
	for _, o := range good {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	c := newNtfClient(t, "http://127.0.0.1:1/EWS/Exchange.asmx")
	if _, err := c.NewStreamingConnection(&StreamingOptions{Group: &AffinityGroup{Name: "g", Anchor: "a@example.com",
		Members: make([]string, MaxStreamingSubscriptions+1)}}); !errors.Is(err, ErrTooManySubscriptions) {
		t.Fatalf("oversized group: %v", err)
	}
}

// Over NTLM each hanging request authenticates a TCP connection of its
// own, and so does each reconnect.
func TestStreamingConnection_NTLM(t *testing.T) {
	srvClock := newTestClock()
	ns, _ := newNTLMFake(t, false, func(o *ewstest.Options) { o.Clock = srvClock })
	ctx := context.Background()
	c, err := New(ns.URL, &Options{Auth: NTLM(`CONTOSO\mara`, ntlmPassword), Retry: RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.Subscribe(ctx, &SubscribeRequest{Kind: Streaming, DistinguishedFolders: []string{"inbox"}, EventTypes: []EventType{EventNewMail}})
	if err != nil {
		t.Fatal(err)
	}
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock(), ConnectionTimeout: time.Minute}, sub.ID)
	mb := ns.srv.Mailbox(ntlmUser + "@contoso.com")
	newMail := func(subject string) {
		t.Helper()
		it, err := mb.Deliver("inbox", ewstest.Message{Subject: subject, Body: subject})
		if err != nil {
			t.Fatal(err)
		}
		for {
			ev := recv(t, sc)
			if ev.Err != nil {
				t.Fatalf("stream event %+v", ev)
			}
			if ev.Notification.Events[0].Type == EventNewMail {
				if got := ev.Notification.Events[0].ItemID.ID; got != it.ID {
					t.Fatalf("NewMailEvent for %s, want %s", got, it.ID)
				}
				return
			}
		}
	}
	newMail("A")
	// The server ends the request after its ConnectionTimeout; the
	// connection reopens on a new TCP connection.
	srvClock.Advance(time.Minute)
	newMail("B")
	streams := map[string]bool{}
	for _, l := range ns.snapshot() {
		if l.stream && l.kind == 3 && l.code == http.StatusOK {
			streams[l.conn] = true
		}
	}
	if len(streams) != 2 || sc.Reconnects() != 1 {
		t.Fatalf("streams authenticated on %v, %d reconnects, want two connections and one reconnect", streams, sc.Reconnects())
	}
}

// A body that ends without ConnectionStatus Closed, or that turns to
// garbage, is a connection error; the connection reopens at once.
func TestStreamingConnection_CutAndMalformedStreams(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1")

	fs := ss.next(t)
	fs.write(t, seNotify("S1", "A"))
	fs.finish()
	recvNotification(t, sc, "S1", "A")
	if ev := recv(t, sc); !errors.Is(ev.Err, ErrStreamEnded) || ev.SubscriptionID != "" {
		t.Fatalf("got %+v, want ErrStreamEnded", ev)
	}
	fs2 := ss.next(t)
	half := seNotify("S1", "B")
	fs2.write(t, half[:len(half)/2])
	fs2.finish()
	if ev := recv(t, sc); !errors.Is(ev.Err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %+v, want io.ErrUnexpectedEOF", ev)
	}
	// Nothing of the cut envelope was delivered.
	select {
	case ev := <-sc.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// How each error code of an ErrorSubscriptionIds message is handled.
func TestStreamingConnection_ErrorClassification(t *testing.T) {
	cases := []struct {
		code    string
		ids     []string
		onConn  int // subscriptions on the connection
		perSub  bool
		removed bool
	}{
		{"ErrorSubscriptionNotFound", []string{"S1"}, 2, true, true},
		{"ErrorExpiredSubscription", []string{"S1"}, 2, true, true},
		{"ErrorInvalidSubscription", []string{"S1"}, 2, true, true},
		{"ErrorNewEventStreamConnectionOpened", []string{"S1"}, 2, true, true},
		{"ErrorSubscriptionUnsubscribed", []string{"S1"}, 2, true, true},
		{"ErrorMissedNotificationEvents", []string{"S1"}, 2, true, false},
		{"ErrorMissedNotificationEvents", nil, 1, true, false},
		{"ErrorReadEventsFailed", nil, 1, true, true},
		{"ErrorExceededConnectionCount", nil, 2, false, false},
		{"ErrorExceededConnectionCount", nil, 1, false, false},
		{"ErrorSubscriptionNotFound", nil, 2, false, false},
		{"ErrorProxiedSubscriptionCallFailure", nil, 1, false, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%v/%d", tc.code, tc.ids, tc.onConn), func(t *testing.T) {
			sc := newStreamingConnection(nil, &StreamingOptions{Buffer: 8, Clock: newTestClock()})
			ids := []string{"S1", "S2"}[:tc.onConn]
			sc.Add(ids...)
			msg, err := newStreamReader(strings.NewReader(seError(tc.code, "OK", tc.ids...))).Next()
			if err != nil {
				t.Fatal(err)
			}
			sc.runCtx = context.Background()
			if !sc.handle(msg, &streamReq{ids: ids}) {
				t.Fatal("delivery failed")
			}
			connErr := connectionError(msg)
			if tc.perSub {
				if connErr != nil {
					t.Fatalf("connection error %v for a per-subscription code", connErr)
				}
				ev := <-sc.events
				if ev.SubscriptionID != "S1" || !errors.Is(ev.Err, Code(tc.code)) || ev.Removed != tc.removed {
					t.Fatalf("event %+v", ev)
				}
				if slices.Contains(sc.Subscriptions(), "S1") == tc.removed {
					t.Fatalf("subscriptions %v", sc.Subscriptions())
				}
				return
			}
			if !errors.Is(connErr, Code(tc.code)) || len(sc.events) != 0 || len(sc.Subscriptions()) != tc.onConn {
				t.Fatalf("want connection error %s, got %v (events %d, subscriptions %v)", tc.code, connErr, len(sc.events), sc.Subscriptions())
			}
		})
	}
}

// A SOAP fault answering a one-subscription request is that
// subscription's error.
func TestStreamingConnection_OpenFaultSingleSubscription(t *testing.T) {
	fault := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>` +
		`<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorSubscriptionNotFound</faultcode>` +
		`<faultstring xml:lang="en-US">The specified subscription was not found.</faultstring><detail>` +
		`<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorSubscriptionNotFound</e:ResponseCode>` +
		`</detail></s:Fault></s:Body></s:Envelope>`
	ss := newStreamServer(t, nil)
	inner := ss.Config.Handler
	var mu sync.Mutex
	faults := 1
	ss.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		f := faults > 0
		faults--
		mu.Unlock()
		if f {
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, fault)
			return
		}
		inner.ServeHTTP(w, r)
	})
	c := newNtfClient(t, ss.URL)
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1")
	ev := recv(t, sc)
	var fe *FaultError
	if ev.SubscriptionID != "S1" || !ev.Removed || !errors.As(ev.Err, &fe) || fe.Code != ErrSubscriptionNotFound {
		t.Fatalf("got %+v", ev)
	}
	if len(sc.Subscriptions()) != 0 {
		t.Fatalf("subscriptions %v", sc.Subscriptions())
	}
	sc.Add("S2")
	if fs := ss.next(t); !slices.Equal(fs.ids, []string{"S2"}) {
		t.Fatalf("ids %v", fs.ids)
	}
}

// A connection-wide error with ConnectionStatus OK is reported, and the
// request stays open.
func TestStreamingConnection_ConnectionErrorKeepsOpenRequest(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1", "S2")
	fs := ss.next(t)
	fs.write(t, seError("ErrorMissedNotificationEvents", "OK"), seNotify("S2", "after"))
	ev := recv(t, sc)
	if ev.SubscriptionID != "" || !errors.Is(ev.Err, ErrMissedNotificationEvents) {
		t.Fatalf("got %+v", ev)
	}
	recvNotification(t, sc, "S2", "after")
	ss.expectNoConn(t)
	select {
	case <-fs.gone:
		t.Fatal("request closed")
	default:
	}
}

// The connection stops when the context given to Start ends; Close
// before Start closes the channel.
func TestStreamingConnection_ContextEndsIt(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	sc, err := c.NewStreamingConnection(&StreamingOptions{Clock: newTestClock()})
	if err != nil {
		t.Fatal(err)
	}
	sc.Add("S1")
	ctx, cancel := context.WithCancel(context.Background())
	sc.Start(ctx)
	fs := ss.next(t)
	cancel()
	<-fs.gone
	if _, ok := <-sc.Events(); ok {
		t.Fatal("events open after the context ended")
	}
	if err := sc.Close(); err != nil {
		t.Fatalf("Close after the context ended: %v", err)
	}

	idle, err := c.NewStreamingConnection(nil)
	if err != nil {
		t.Fatal(err)
	}
	idle.Close()
	if _, ok := <-idle.Events(); ok {
		t.Fatal("events open after Close without Start")
	}
}

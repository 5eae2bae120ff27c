package ewstest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// newNotifyServer is newTestServer whose notification side is closed
// before the HTTP server, so that hanging GetStreamingEvents requests end.
func newNotifyServer(t *testing.T) (*Server, func(time.Duration)) {
	t.Helper()
	srv, clk := newTestServer(t, nil)
	t.Cleanup(func() { closeNotifications(srv) })
	return srv, clk.Advance
}

func subscribePull(t *testing.T, srv *Server, anchor, inner string) (id, wm string) {
	t.Helper()
	doc := callAs(t, srv, anchor, `<m:Subscribe><m:PullSubscriptionRequest>`+inner+`</m:PullSubscriptionRequest></m:Subscribe>`)
	if c := codes(doc); !slices.Equal(c, []string{"NoError"}) {
		s, _ := doc.WriteToString()
		t.Fatalf("Subscribe: %v\n%s", c, s)
	}
	return first(t, doc, "SubscriptionId").Text(), first(t, doc, "Watermark").Text()
}

const inboxAllTypes = `<t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds>
 <t:EventTypes><t:EventType>CreatedEvent</t:EventType><t:EventType>NewMailEvent</t:EventType>
 <t:EventType>ModifiedEvent</t:EventType><t:EventType>MovedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType></t:EventTypes>`

func getEventsDoc(t *testing.T, srv *Server, anchor, id, wm string) *etree.Document {
	t.Helper()
	return callAs(t, srv, anchor, `<m:GetEvents><m:SubscriptionId>`+id+`</m:SubscriptionId><m:Watermark>`+wm+`</m:Watermark></m:GetEvents>`)
}

// events returns "Kind:ItemOrFolderId" for every event in a notification.
func events(n *etree.Element) []string {
	var out []string
	for _, e := range n.ChildElements() {
		if !strings.HasSuffix(e.Tag, "Event") {
			continue
		}
		id := ""
		for _, c := range e.ChildElements() {
			if c.Tag == "ItemId" || c.Tag == "FolderId" {
				id = attr(c, "Id")
			}
		}
		out = append(out, e.Tag+":"+id)
	}
	return out
}

func TestNotify_PullOverSOAP(t *testing.T) {
	srv, _ := newNotifyServer(t)
	alice := srv.Mailbox("alice@example.com")
	inbox, _ := alice.FolderID("inbox")
	// exchangelib writes m:Watermark; the schema says t:. Both work.
	id, wm := subscribePull(t, srv, "alice@example.com", inboxAllTypes+`<t:Timeout>10</t:Timeout>`)
	it := mustDeliver(t, alice, "inbox", testMessage("hello"))

	doc := getEventsDoc(t, srv, "alice@example.com", id, wm)
	n := first(t, doc, "Notification")
	if n.Space != "m" || textOf(childT(n, "SubscriptionId")) != id || textOf(childT(n, "PreviousWatermark")) != wm || textOf(childT(n, "MoreEvents")) != "false" {
		s, _ := doc.WriteToString()
		t.Fatalf("notification header:\n%s", s)
	}
	want := []string{"CreatedEvent:" + it.ID, "NewMailEvent:" + it.ID, "ModifiedEvent:" + inbox}
	if got := events(n); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	mod := childT(n, "ModifiedEvent")
	var order []string
	for _, c := range mod.ChildElements() {
		order = append(order, c.Space+":"+c.Tag)
	}
	if !slices.Equal(order, []string{"t:Watermark", "t:TimeStamp", "t:FolderId", "t:ParentFolderId", "t:UnreadCount"}) || textOf(childT(mod, "UnreadCount")) != "1" {
		t.Fatalf("ModifiedEvent children %v", order)
	}
	last := textOf(childT(mod, "Watermark"))

	// Resume from the first watermark in a new subscription (m:Watermark).
	id2, wm2 := subscribePull(t, srv, "alice@example.com", inboxAllTypes+`<m:Watermark>`+wm+`</m:Watermark><t:Timeout>10</t:Timeout>`)
	if wm2 != wm {
		t.Fatalf("resumed watermark %q, want %q", wm2, wm)
	}
	if got := events(first(t, getEventsDoc(t, srv, "alice@example.com", id2, wm2), "Notification")); !slices.Equal(got, want) {
		t.Fatalf("replayed %v", got)
	}
	if st := srv.NotificationStats(); st.ReplayWalked == 0 || st.Subscriptions != 2 {
		t.Fatalf("stats %+v", st)
	}

	// Idle: a StatusEvent with the last watermark.
	n = first(t, getEventsDoc(t, srv, "alice@example.com", id, last), "Notification")
	if se := childT(n, "StatusEvent"); se == nil || textOf(childT(se, "Watermark")) != last {
		t.Fatalf("idle notification %v", events(n))
	}

	doc = callAs(t, srv, "alice@example.com", `<m:Unsubscribe><m:SubscriptionId>`+id+`</m:SubscriptionId></m:Unsubscribe>`)
	if c := codes(doc); !slices.Equal(c, []string{"NoError"}) {
		t.Fatalf("Unsubscribe: %v", c)
	}
	if c := codes(getEventsDoc(t, srv, "alice@example.com", id, last)); !slices.Equal(c, []string{"ErrorSubscriptionNotFound"}) {
		t.Fatalf("after Unsubscribe: %v", c)
	}
	// Another mailbox's watermark.
	bobWM := srv.broker().Watermark("bob@example.com")
	if c := codes(getEventsDoc(t, srv, "alice@example.com", id2, bobWM)); !slices.Equal(c, []string{"ErrorInvalidWatermark"}) {
		t.Fatalf("foreign watermark: %v", c)
	}
}

func TestNotify_SubscribeErrors(t *testing.T) {
	srv, _ := newNotifyServer(t)
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"timeout out of range", `<m:PullSubscriptionRequest>` + inboxAllTypes + `<t:Timeout>1441</t:Timeout></m:PullSubscriptionRequest>`, 500, "ErrorSchemaValidation"},
		{"timeout not a number", `<m:PullSubscriptionRequest>` + inboxAllTypes + `<t:Timeout>x</t:Timeout></m:PullSubscriptionRequest>`, 500, "ErrorSchemaValidation"},
		{"no event types", `<m:PullSubscriptionRequest SubscribeToAllFolders="true"><t:Timeout>5</t:Timeout></m:PullSubscriptionRequest>`, 500, "ErrorSchemaValidation"},
		{"streaming watermark", `<m:StreamingSubscriptionRequest>` + inboxAllTypes + `<t:Watermark>AQ==</t:Watermark></m:StreamingSubscriptionRequest>`, 500, "ErrorSchemaValidation"},
		{"no request", ``, 500, "ErrorSchemaValidation"},
		{"bad watermark", `<m:PullSubscriptionRequest>` + inboxAllTypes + `<t:Watermark>AQ==</t:Watermark><t:Timeout>5</t:Timeout></m:PullSubscriptionRequest>`, 200, "ErrorInvalidWatermark"},
		{"push url", `<m:PushSubscriptionRequest>` + inboxAllTypes + `<t:StatusFrequency>1</t:StatusFrequency><t:URL>not a url</t:URL></m:PushSubscriptionRequest>`, 200, "ErrorInvalidPushSubscriptionUrl"},
		{"malformed folder id", `<m:PullSubscriptionRequest><t:FolderIds><t:FolderId Id="AAMkAGU="/></t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes><t:Timeout>5</t:Timeout></m:PullSubscriptionRequest>`, 200, "ErrorInvalidIdMalformed"},
		{"two mailboxes", `<m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>bob@example.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes><t:Timeout>5</t:Timeout></m:PullSubscriptionRequest>`, 200, "ErrorInvalidSubscriptionRequest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, doc := post(t, srv, envStart+`<m:Subscribe>`+c.body+`</m:Subscribe>`+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
			if status != c.status || faultCode(t, doc) != c.code {
				s, _ := doc.WriteToString()
				t.Fatalf("HTTP %d, %s; want %d %s\n%s", status, faultCode(t, doc), c.status, c.code, s)
			}
		})
	}
	if st := srv.NotificationStats(); st.Subscriptions != 0 {
		t.Fatalf("failed Subscribes left %+v", st)
	}
}

// streamReader reads the envelopes of one GetStreamingEvents response.
type streamReader struct {
	resp *http.Response
	r    *bufio.Reader
}

func openStreaming(t *testing.T, srv *Server, hdr map[string]string, ids ...string) *streamReader {
	t.Helper()
	var b strings.Builder
	b.WriteString(envStart + `<m:GetStreamingEvents><m:SubscriptionIds>`)
	for _, id := range ids {
		b.WriteString(`<t:SubscriptionId>` + id + `</t:SubscriptionId>`)
	}
	b.WriteString(`</m:SubscriptionIds><m:ConnectionTimeout>30</m:ConnectionTimeout></m:GetStreamingEvents>` + envEnd)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(b.String()))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	resp, err := srv.Client().Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	return &streamReader{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next reads one envelope (the server ends each with </Envelope>, as
// Exchange does).
func (s *streamReader) next(t *testing.T) (*etree.Element, error) {
	t.Helper()
	var buf bytes.Buffer
	const end = "</Envelope>"
	for !bytes.HasSuffix(buf.Bytes(), []byte(end)) {
		c, err := s.r.ReadByte()
		if err != nil {
			return nil, err
		}
		buf.WriteByte(c)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(buf.Bytes()); err != nil {
		t.Fatalf("envelope does not parse: %v\n%s", err, buf.Bytes())
	}
	msg := doc.FindElement("//GetStreamingEventsResponseMessage")
	if msg == nil {
		t.Fatalf("no GetStreamingEventsResponseMessage:\n%s", buf.Bytes())
	}
	return msg, nil
}

func (s *streamReader) mustNext(t *testing.T) *etree.Element {
	t.Helper()
	m, err := s.next(t)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func status(msg *etree.Element) string { return textOf(childM(msg, "ConnectionStatus")) }

func subscribeStreaming(t *testing.T, srv *Server, hdr map[string]string, header string) (string, *http.Response) {
	t.Helper()
	body := envStart[:strings.Index(envStart, "<soap:Header>")] + `<soap:Header><t:RequestServerVersion Version="Exchange2013"/>` + header + `</soap:Header><soap:Body>` +
		`<m:Subscribe><m:StreamingSubscriptionRequest SubscribeToAllFolders="true"><t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>` + envEnd
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc := etree.NewDocument()
	if _, err := doc.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if c := codes(doc); !slices.Equal(c, []string{"NoError"}) {
		s, _ := doc.WriteToString()
		t.Fatalf("Subscribe: %s", s)
	}
	if w := find(doc, "Watermark"); len(w) != 0 {
		t.Fatal("a streaming Subscribe answered a watermark")
	}
	return first(t, doc, "SubscriptionId").Text(), resp
}

func TestNotify_StreamingOverHTTP(t *testing.T) {
	srv, advance := newNotifyServer(t)
	alice := srv.Mailbox("alice@example.com")
	anchor := map[string]string{"X-AnchorMailbox": "alice@example.com"}
	id, _ := subscribeStreaming(t, srv, anchor, "")
	st := openStreaming(t, srv, anchor, id)
	if te := st.resp.TransferEncoding; !slices.Contains(te, "chunked") {
		t.Fatalf("Transfer-Encoding %v, want chunked", te)
	}
	if m := st.mustNext(t); status(m) != "OK" || attr(m, "ResponseClass") != "Success" {
		t.Fatalf("first envelope status %q", status(m))
	}
	it := mustDeliver(t, alice, "inbox", testMessage("streamed"))
	m := st.mustNext(t)
	n := m.FindElement("Notifications/Notification")
	if n == nil || textOf(childT(n, "SubscriptionId")) != id || !slices.Equal(events(n), []string{"NewMailEvent:" + it.ID}) {
		t.Fatalf("notification envelope: %v", m)
	}
	if childT(childT(n, "NewMailEvent"), "Watermark") != nil {
		t.Fatal("streaming events carry no watermark")
	}
	// Keep-alive, then Closed at the ConnectionTimeout and the body ends.
	advance(DefaultKeepAliveInterval)
	if m := st.mustNext(t); status(m) != "OK" || m.FindElement("Notifications") != nil {
		t.Fatalf("keep-alive: %v", m)
	}
	advance(30 * time.Minute)
	for {
		m := st.mustNext(t)
		if status(m) == "Closed" {
			break
		}
	}
	if _, err := st.next(t); err != io.EOF {
		t.Fatalf("after Closed: %v, want EOF", err)
	}
	// Raised while no connection is open: delivered on the next one.
	it2 := mustDeliver(t, alice, "inbox", testMessage("between"))
	st2 := openStreaming(t, srv, anchor, id)
	if got := events(st2.mustNext(t).FindElement("Notifications/Notification")); !slices.Equal(got, []string{"NewMailEvent:" + it2.ID}) {
		t.Fatalf("second connection got %v", got)
	}
	// A dropped connection ends the body without Closed.
	if n := srv.DropStreamingConnections("alice@example.com"); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	if _, err := st2.next(t); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read after drop: %v, want an unexpected EOF", err)
	}
}

func TestNotify_StreamingLimitsAndErrors(t *testing.T) {
	srv, _ := newNotifyServer(t)
	if err := srv.SetNotificationOptions(NotificationOptions{HangingConnectionLimit: 1}); err != nil {
		t.Fatal(err)
	}
	anchor := map[string]string{"X-AnchorMailbox": "alice@example.com"}
	id, _ := subscribeStreaming(t, srv, anchor, "")
	st := openStreaming(t, srv, anchor, id, "unknown-id")
	m := st.mustNext(t)
	if attr(m, "ResponseClass") != "Error" || textOf(childM(m, "ResponseCode")) != "ErrorSubscriptionNotFound" ||
		textOf(m.FindElement("ErrorSubscriptionIds/SubscriptionId")) != "unknown-id" || status(m) != "OK" {
		t.Fatalf("per-id error envelope: %v", m)
	}
	status, doc := post(t, srv, envStart+`<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>`+id+`</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>`+envEnd, anchor)
	if status != 200 || faultCode(t, doc) != "ErrorExceededConnectionCount" || textOf(first(t, doc, "ConnectionStatus")) != "Closed" {
		s, _ := doc.WriteToString()
		t.Fatalf("over the limit: %d %s", status, s)
	}
	status, doc = post(t, srv, envStart+`<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>`+id+`</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>31</m:ConnectionTimeout></m:GetStreamingEvents>`+envEnd, anchor)
	if status != 500 || faultCode(t, doc) != "ErrorSchemaValidation" {
		t.Fatalf("timeout 31: %d %s", status, faultCode(t, doc))
	}
	if err := srv.SetNotificationOptions(NotificationOptions{KeepAliveInterval: time.Minute}); err == nil {
		t.Fatal("a keep-alive interval of a minute was accepted")
	}
}

func TestNotify_Affinity(t *testing.T) {
	srv, _ := newNotifyServer(t)
	// alice is in DB01, bob in DB02: two backends.
	ba, _ := srv.MailboxBackend("alice@example.com")
	bb, _ := srv.MailboxBackend("bob@example.com")
	if ba == bb {
		t.Fatalf("one backend %s", ba)
	}
	impBob := `<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>bob@example.com</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`

	// Without affinity each subscription lives on its mailbox's backend; a
	// connection routed to alice's backend does not find bob's.
	ida, _ := subscribeStreaming(t, srv, map[string]string{"X-AnchorMailbox": "alice@example.com"}, "")
	idb, _ := subscribeStreaming(t, srv, map[string]string{"X-AnchorMailbox": "bob@example.com"}, "")
	st := openStreaming(t, srv, map[string]string{"X-AnchorMailbox": "alice@example.com"}, ida, idb)
	m := st.mustNext(t)
	if textOf(childM(m, "ResponseCode")) != "ErrorSubscriptionNotFound" || textOf(m.FindElement("ErrorSubscriptionIds/SubscriptionId")) != idb {
		t.Fatalf("mixed backends without affinity: %v", m)
	}

	// With affinity: the anchor's Subscribe sets the cookie, the others
	// send it and are hosted on the anchor's backend.
	aff := map[string]string{"X-AnchorMailbox": "alice@example.com", "X-PreferServerAffinity": "true"}
	ida2, resp := subscribeStreaming(t, srv, aff, "")
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "X-BackEndOverrideCookie" {
			cookie = c
		}
	}
	if cookie == nil || !strings.HasPrefix(cookie.Value, ba+"~") || cookie.Path != "/" || !cookie.HttpOnly {
		t.Fatalf("affinity cookie %+v", cookie)
	}
	withCookie := map[string]string{"X-AnchorMailbox": "alice@example.com", "X-PreferServerAffinity": "true", "Cookie": cookie.Name + "=" + cookie.Value}
	idb2, _ := subscribeStreaming(t, srv, withCookie, impBob)
	st2 := openStreaming(t, srv, withCookie, ida2, idb2)
	if m := st2.mustNext(t); attr(m, "ResponseClass") != "Success" || status(m) != "OK" {
		t.Fatalf("grouped connection: %v", m)
	}
	it := mustDeliver(t, srv.Mailbox("bob@example.com"), "inbox", testMessage("for bob"))
	n := st2.mustNext(t).FindElement("Notifications/Notification")
	if textOf(childT(n, "SubscriptionId")) != idb2 || !slices.Equal(events(n), []string{"NewMailEvent:" + it.ID}) {
		t.Fatalf("bob's event: %v", events(n))
	}
}

func TestNotify_PushOverHTTP(t *testing.T) {
	srv, _ := newNotifyServer(t)
	got := make(chan *etree.Document, 10)
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc := etree.NewDocument()
		if _, err := doc.ReadFrom(r.Body); err != nil {
			t.Errorf("push body: %v", err)
		}
		got <- doc
		io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:SendNotificationResult xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><m:SubscriptionStatus>OK</m:SubscriptionStatus></m:SendNotificationResult></soap:Body></soap:Envelope>`)
	}))
	defer listener.Close()
	doc := call(t, srv, `<m:Subscribe><m:PushSubscriptionRequest>`+inboxAllTypes+`<t:StatusFrequency>1</t:StatusFrequency><t:URL>`+listener.URL+`/ews</t:URL></m:PushSubscriptionRequest></m:Subscribe>`)
	id := first(t, doc, "SubscriptionId").Text()
	wait := func() *etree.Element {
		t.Helper()
		select {
		case d := <-got:
			return first(t, d, "Notification")
		case <-time.After(10 * time.Second):
			t.Fatal("no push notification")
			return nil
		}
	}
	if n := wait(); textOf(childT(n, "SubscriptionId")) != id || childT(n, "StatusEvent") == nil {
		t.Fatalf("first push: %v", events(n))
	}
	it := mustDeliver(t, srv.Mailbox("alice@example.com"), "inbox", testMessage("pushed"))
	n := wait()
	if evs := events(n); len(evs) != 3 || evs[0] != "CreatedEvent:"+it.ID {
		t.Fatalf("pushed %v", evs)
	}
	if c := codes(callAs(t, srv, "alice@example.com", `<m:GetEvents><m:SubscriptionId>`+id+`</m:SubscriptionId><m:Watermark>x</m:Watermark></m:GetEvents>`)); !slices.Equal(c, []string{"ErrorInvalidPullSubscriptionId"}) {
		t.Fatalf("GetEvents on push: %v", c)
	}
}

func TestNotify_RestartMoveExpire(t *testing.T) {
	srv, _ := newNotifyServer(t)
	alice := srv.Mailbox("alice@example.com")
	id, wm := subscribePull(t, srv, "alice@example.com", inboxAllTypes+`<t:Timeout>10</t:Timeout>`)
	mustDeliver(t, alice, "inbox", testMessage("one"))
	srv.Restart()
	if c := codes(getEventsDoc(t, srv, "alice@example.com", id, wm)); !slices.Equal(c, []string{"ErrorSubscriptionNotFound"}) {
		t.Fatalf("after restart: %v", c)
	}
	// Watermarks survive a restart...
	id, _ = subscribePull(t, srv, "alice@example.com", inboxAllTypes+`<t:Watermark>`+wm+`</t:Watermark><t:Timeout>10</t:Timeout>`)
	// ...but not a move to another database.
	if err := srv.MoveMailbox("alice@example.com", "DB09"); err != nil {
		t.Fatal(err)
	}
	if c := codes(getEventsDoc(t, srv, "alice@example.com", id, wm)); !slices.Equal(c, []string{"ErrorMailboxMoveInProgress"}) {
		t.Fatalf("after move: %v", c)
	}
	status, doc := post(t, srv, envStart+`<m:Subscribe><m:PullSubscriptionRequest>`+inboxAllTypes+`<t:Watermark>`+wm+`</t:Watermark><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 200 || faultCode(t, doc) != "ErrorInvalidWatermark" {
		t.Fatalf("old watermark after move: %s", faultCode(t, doc))
	}
	if be, _ := srv.MailboxBackend("alice@example.com"); be != BackendOf("DB09") {
		t.Fatalf("backend after move %s", be)
	}
	if db := alice.Database(); db != "DB09" {
		t.Fatalf("Mailbox.Database after move = %q", db)
	}
	// Expired watermarks.
	_, wm = subscribePull(t, srv, "alice@example.com", inboxAllTypes+`<t:Timeout>10</t:Timeout>`)
	mustDeliver(t, alice, "inbox", testMessage("two"))
	if err := srv.ExpireWatermarks("alice@example.com"); err != nil {
		t.Fatal(err)
	}
	status, doc = post(t, srv, envStart+`<m:Subscribe><m:PullSubscriptionRequest>`+inboxAllTypes+`<t:Watermark>`+wm+`</t:Watermark><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if faultCode(t, doc) != "ErrorInvalidWatermark" {
		t.Fatalf("expired watermark: %d %s", status, faultCode(t, doc))
	}
	if err := srv.MoveMailbox("nobody@example.com", "DB01"); !errors.Is(err, ErrUnknownMailbox) {
		t.Fatalf("MoveMailbox unknown: %v", err)
	}
}

func TestNotify_CloseEndsOpenStreams(t *testing.T) {
	srv := NewServer(Options{Users: []User{{Name: "alice", Password: "secret", Address: "alice@example.com"}}})
	anchor := map[string]string{"X-AnchorMailbox": "alice@example.com"}
	id, _ := subscribeStreaming(t, srv, anchor, "")
	st := openStreaming(t, srv, anchor, id)
	st.mustNext(t)
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Server.Close blocked on an open GetStreamingEvents request")
	}
	if _, err := st.next(t); err == nil {
		t.Fatal("the stream went on after Close")
	}
}

func TestNotify_OnlyTheOwnerMayRead(t *testing.T) {
	srv := NewServer(Options{
		Users: []User{{Name: "alice", Password: "secret", Address: "alice@example.com"},
			{Name: "bob", Password: "hunter2", Address: "bob@example.com"}},
		Auth: AuthOptions{Mode: AuthBasic},
	})
	defer srv.Close()
	as := func(user, pass, op string) *etree.Document {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(envStart+op+envEnd))
		req.SetBasicAuth(user, pass)
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		doc := etree.NewDocument()
		if _, err := doc.ReadFrom(resp.Body); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	doc := as("alice", "secret", `<m:Subscribe><m:PullSubscriptionRequest SubscribeToAllFolders="true"><t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes><t:Timeout>5</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`)
	id, wm := first(t, doc, "SubscriptionId").Text(), first(t, doc, "Watermark").Text()
	get := `<m:GetEvents><m:SubscriptionId>` + id + `</m:SubscriptionId><m:Watermark>` + wm + `</m:Watermark></m:GetEvents>`
	if c := codes(as("bob", "hunter2", get)); !slices.Equal(c, []string{"ErrorSubscriptionAccessDenied"}) {
		t.Fatalf("bob reading alice's subscription: %v", c)
	}
	if c := codes(as("alice", "secret", get)); !slices.Equal(c, []string{"NoError"}) {
		t.Fatalf("alice: %v", c)
	}
}

// The control endpoint's notification faults reach the broker.
func TestNotify_ControlEndpoint(t *testing.T) {
	srv, _ := newNotifyServer(t)
	ctl, err := NewControl(srv, "tok")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(ctl)
	defer hs.Close()
	callCtl := func(path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, hs.URL+ControlPath+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	anchor := map[string]string{"X-AnchorMailbox": "alice@example.com"}
	id, _ := subscribeStreaming(t, srv, anchor, "")
	st := openStreaming(t, srv, anchor, id)
	st.mustNext(t)
	if c := callCtl("drop-streaming", `{"mailbox":"alice@example.com"}`); c != 200 {
		t.Fatalf("drop-streaming: HTTP %d", c)
	}
	if _, err := st.next(t); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after drop-streaming: %v", err)
	}
	pid, wm := subscribePull(t, srv, "alice@example.com", inboxAllTypes+`<t:Timeout>10</t:Timeout>`)
	mustDeliver(t, srv.Mailbox("alice@example.com"), "inbox", testMessage("x"))
	if c := callCtl("watermarks/expire", `{"mailbox":"alice@example.com"}`); c != 200 {
		t.Fatalf("watermarks/expire: HTTP %d", c)
	}
	if c := codes(callAs(t, srv, "alice@example.com", `<m:Subscribe><m:PullSubscriptionRequest>`+inboxAllTypes+`<t:Watermark>`+wm+`</t:Watermark><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`)); !slices.Equal(c, []string{"ErrorInvalidWatermark"}) {
		t.Fatalf("expired watermark: %v", c)
	}
	if c := callCtl("restart", `{}`); c != 200 {
		t.Fatalf("restart: HTTP %d", c)
	}
	if c := codes(getEventsDoc(t, srv, "alice@example.com", pid, wm)); !slices.Equal(c, []string{"ErrorSubscriptionNotFound"}) {
		t.Fatalf("after restart: %v", c)
	}
	pid, wm = subscribePull(t, srv, "alice@example.com", inboxAllTypes+`<t:Timeout>10</t:Timeout>`)
	if c := callCtl("move-mailbox", `{"mailbox":"alice@example.com","database":"DB05"}`); c != 200 {
		t.Fatalf("move-mailbox: HTTP %d", c)
	}
	if c := codes(getEventsDoc(t, srv, "alice@example.com", pid, wm)); !slices.Equal(c, []string{"ErrorMailboxMoveInProgress"}) {
		t.Fatalf("after move: %v", c)
	}
}

package ews

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
)

const pushSubID = "hKJETtoAdi9PPW0tZDQ4MThmMDoVYB"

func newTestListener(t testing.TB, opts *PushListenerOptions) (*PushListener, *debouncetest.Clock) {
	t.Helper()
	clk := newTestClock()
	var o PushListenerOptions
	if opts != nil {
		o = *opts
	}
	o.Clock = clk
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := NewPushListener(&o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, clk
}

// register registers id on a fresh callback of l and returns the path to
// post its notifications to.
func register(t testing.TB, l *PushListener, id string, statusFrequency time.Duration, watermark string) string {
	t.Helper()
	cb := l.Expect()
	defer cb.Release()
	if err := cb.Register(id, statusFrequency, watermark); err != nil {
		t.Fatal(err)
	}
	return "/ews/push/" + cb.Path()
}

// post sends body to the listener and returns the response.
func post(t testing.TB, l http.Handler, path, contentType string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	l.ServeHTTP(w, r)
	return w
}

const xmlCT = "text/xml; charset=utf-8"

// pushNotification renders a SendNotification POST (S8 shape) for sub
// continuing from prev with one CreatedEvent per watermark.
func pushNotification(sub, prev string, watermarks ...string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">` +
		`<soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header><soap:Body><m:SendNotification><m:ResponseMessages>` +
		`<m:SendNotificationResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Notification>` +
		`<t:SubscriptionId>` + sub + `</t:SubscriptionId><t:PreviousWatermark>` + prev + `</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>`)
	for _, wm := range watermarks {
		b.WriteString(`<t:CreatedEvent><t:Watermark>` + wm + `</t:Watermark><t:TimeStamp>2024-05-01T10:00:00Z</t:TimeStamp>` +
			`<t:ItemId Id="I-` + wm + `"/><t:ParentFolderId Id="INBOX"/></t:CreatedEvent>`)
	}
	if len(watermarks) == 0 {
		b.WriteString(`<t:StatusEvent><t:Watermark>` + prev + `</t:Watermark></t:StatusEvent>`)
	}
	b.WriteString(`</m:Notification></m:SendNotificationResponseMessage></m:ResponseMessages></m:SendNotification></soap:Body></soap:Envelope>`)
	return []byte(b.String())
}

func expectReply(t testing.TB, w *httptest.ResponseRecorder, golden string) {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", w.Code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != xmlCT {
		t.Errorf("Content-Type %q", ct)
	}
	if want := ntfGolden(t, golden); !bytes.Equal(w.Body.Bytes(), want) {
		t.Fatalf("reply\n%s\nwant\n%s", w.Body.Bytes(), want)
	}
}

func noPushEvent(t testing.TB, l *PushListener) {
	t.Helper()
	select {
	case ev := <-l.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

func recvPush(t testing.TB, l *PushListener) PushEvent {
	t.Helper()
	select {
	case ev := <-l.Events():
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no push event")
		return PushEvent{}
	}
}

func TestPushListener_Golden(t *testing.T) {
	l, _ := newTestListener(t, nil)
	path := register(t, l, pushSubID, 5*time.Minute, "ygwAAAAAAAA=")
	expectReply(t, post(t, l, path, xmlCT, ntfGolden(t, "sendnotification_modified.request.xml")), "sendnotification_ok.response.xml")
	ev := recvPush(t, l)
	if ev.Err != nil || ev.Gap || ev.Notification == nil || ev.SubscriptionID != pushSubID {
		t.Fatalf("event %+v", ev)
	}
	e := ev.Notification.Events[0]
	if e.Type != EventModified || !e.IsFolder() || e.FolderID.ID != "AAB2L089bS1kNDgxOGYwOGE5OTQ0=" || e.Watermark != "ywwAAAAAAAA=" {
		t.Fatalf("event %+v", e)
	}
	if wm, _ := l.Watermark(pushSubID); wm != "ywwAAAAAAAA=" {
		t.Fatalf("watermark %q", wm)
	}
	// The idle StatusEvent repeats the watermark: continuous, delivered.
	expectReply(t, post(t, l, path, "text/xml", ntfGolden(t, "sendnotification_status.request.xml")), "sendnotification_ok.response.xml")
	ev = recvPush(t, l)
	if ev.Err != nil || !ev.Notification.StatusOnly() {
		t.Fatalf("status event %+v", ev)
	}
}

// A path the listener issued whose subscription is gone is answered
// Unsubscribe, with nothing delivered and no state change.
func TestPushListener_RetiredPath(t *testing.T) {
	l, _ := newTestListener(t, nil)
	other := register(t, l, "OTHER", time.Minute, "W0")
	// A callback released without Register (Subscribe failed).
	cb := l.Expect()
	cb.Release()
	expectReply(t, post(t, l, "/ews/push/"+cb.Path(), xmlCT, ntfGolden(t, "sendnotification_modified.request.xml")), "sendnotification_unsubscribe.response.xml")
	noPushEvent(t, l)
	if _, ok := l.Watermark(pushSubID); ok {
		t.Fatal("unknown id was registered")
	}
	if wm, _ := l.Watermark("OTHER"); wm != "W0" {
		t.Fatalf("other subscription touched: %q", wm)
	}
	// Unregistered subscriptions' paths are retired too.
	l.Unregister("OTHER")
	expectReply(t, post(t, l, other, xmlCT, pushNotification("OTHER", "W0", "W1")), "sendnotification_unsubscribe.response.xml")
	noPushEvent(t, l)
	if err := cb.Register("LATE", time.Minute, ""); !errors.Is(err, ErrInvalidSubscribeRequest) {
		t.Fatalf("Register after Release: %v", err)
	}
}

// pushFixedAnswers are the only bodies of the listener's refusals.
var pushFixedAnswers = map[string]bool{"404 page not found": true, "method not allowed": true,
	"content type must be text/xml": true, "body too large": true, "cannot read body": true,
	"not a SendNotification message": true}

// Malformed posts on the right path are refused with no effect on state:
// no event, no watermark change, and no liveness credit; the answers are
// fixed texts.
func TestPushListener_RejectsBadPosts(t *testing.T) {
	l, clk := newTestListener(t, &PushListenerOptions{MaxBodyBytes: 4096, LivenessSlack: 30 * time.Second})
	path := register(t, l, "S1", time.Minute, "W0")
	good := pushNotification("S1", "W0", "W1")
	cases := []struct {
		name   string
		method string
		path   string
		ct     string
		body   []byte
		want   int
	}{
		{"wrong path", http.MethodPost, "/ews/push/guess", xmlCT, good, http.StatusNotFound},
		{"no path", http.MethodPost, "/ews/push", xmlCT, good, http.StatusNotFound},
		{"GET", http.MethodGet, path, xmlCT, nil, http.StatusMethodNotAllowed},
		{"json", http.MethodPost, path, "application/json", good, http.StatusUnsupportedMediaType},
		{"no content type", http.MethodPost, path, "", good, http.StatusUnsupportedMediaType},
		{"oversized", http.MethodPost, path, xmlCT, append(good, bytes.Repeat([]byte(" "), 4096)...), http.StatusRequestEntityTooLarge},
		{"not xml", http.MethodPost, path, xmlCT, []byte("hello"), http.StatusBadRequest},
		{"truncated", http.MethodPost, path, xmlCT, good[:len(good)/2], http.StatusBadRequest},
		{"other operation", http.MethodPost, path, xmlCT, ntfGolden(t, "getevents.response.xml"), http.StatusBadRequest},
		{"bad event", http.MethodPost, path, xmlCT, bytes.Replace(good, []byte("2024-05-01T10:00:00Z"), []byte("never"), 1), http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, bytes.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			w := httptest.NewRecorder()
			l.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if strings.Contains(w.Body.String(), "S1") || strings.Contains(w.Body.String(), "W0") {
				t.Fatalf("answer reveals state: %q", w.Body.String())
			}
			// Only fixed texts: no decoder detail, path or state.
			if !pushFixedAnswers[strings.TrimSpace(w.Body.String())] {
				t.Fatalf("answer %q is not one of the fixed texts", w.Body.String())
			}
			noPushEvent(t, l)
			if wm, ok := l.Watermark("S1"); !ok || wm != "W0" {
				t.Fatalf("state changed: %q %v", wm, ok)
			}
		})
	}
	// Oversized without Content-Length (chunked) is refused too.
	r := httptest.NewRequest(http.MethodPost, path, io.MultiReader(bytes.NewReader(good), strings.NewReader(strings.Repeat(" ", 5000))))
	r.ContentLength = -1
	r.Header.Set("Content-Type", xmlCT)
	w := httptest.NewRecorder()
	l.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversized: %d", w.Code)
	}
	// None of the rejected posts counted as a sign of life: the
	// subscription is lost at exactly 2 × 1 min + 30 s after Register.
	clk.Advance(2*time.Minute + 29*time.Second)
	noPushEvent(t, l)
	clk.Advance(time.Second)
	if ev := recvPush(t, l); ev.SubscriptionID != "S1" || !errors.Is(ev.Err, ErrSubscriptionLost) {
		t.Fatalf("event %+v", ev)
	}
	// The right path works (and, the subscription being lost, gets
	// Unsubscribe).
	expectReply(t, post(t, l, path, xmlCT, good), "sendnotification_unsubscribe.response.xml")
}

func TestPushListener_WatermarkContinuity(t *testing.T) {
	l, _ := newTestListener(t, nil)
	path := register(t, l, "S1", time.Minute, "W0")
	expectReply(t, post(t, l, path, xmlCT, pushNotification("S1", "W0", "W1", "W2")), "sendnotification_ok.response.xml")
	if ev := recvPush(t, l); ev.Gap || ev.Err != nil {
		t.Fatalf("continuous notification flagged %+v", ev)
	}
	// The server resends the same notification (our answer was lost):
	// acknowledged, not delivered twice, not a gap.
	expectReply(t, post(t, l, path, xmlCT, pushNotification("S1", "W0", "W1", "W2")), "sendnotification_ok.response.xml")
	noPushEvent(t, l)
	if wm, _ := l.Watermark("S1"); wm != "W2" {
		t.Fatalf("watermark %q", wm)
	}
	// Events between W2 and W5 never arrived.
	expectReply(t, post(t, l, path, xmlCT, pushNotification("S1", "W5", "W6")), "sendnotification_ok.response.xml")
	ev := recvPush(t, l)
	if !ev.Gap || !errors.Is(ev.Err, ErrWatermarkGap) || ev.Notification == nil || ev.Notification.Events[0].Watermark != "W6" {
		t.Fatalf("gap event %+v", ev)
	}
	// The server's chain continues from W6 without another gap, but the
	// unbroken chain ended at W2: resuming from there replays what was
	// missed instead of skipping it.
	expectReply(t, post(t, l, path, xmlCT, pushNotification("S1", "W6")), "sendnotification_ok.response.xml")
	if ev := recvPush(t, l); ev.Gap || !ev.Notification.StatusOnly() {
		t.Fatalf("status after gap %+v", ev)
	}
	if wm, _ := l.Watermark("S1"); wm != "W2" {
		t.Fatalf("watermark %q after a gap, want W2", wm)
	}
}

// When the consumer falls behind, a POST is refused with 503 (so Exchange
// retries it) without blocking and without recording anything.
func TestPushListener_NonBlockingHandoff(t *testing.T) {
	l, clk := newTestListener(t, &PushListenerOptions{Buffer: 1, LivenessSlack: time.Minute})
	path := register(t, l, "S1", time.Minute, "W0")
	expectReply(t, post(t, l, path, xmlCT, pushNotification("S1", "W0", "W1")), "sendnotification_ok.response.xml")
	clk.Advance(2 * time.Minute)
	w := post(t, l, path, xmlCT, pushNotification("S1", "W1", "W2"))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("full buffer: status %d", w.Code)
	}
	if l.Dropped() != 1 {
		t.Fatalf("Dropped = %d", l.Dropped())
	}
	if wm, _ := l.Watermark("S1"); wm != "W1" {
		t.Fatalf("refused post changed the watermark to %q", wm)
	}
	// The refused POST still proved the subscription alive: 2 min
	// after it (4 min after the last accepted one) it is not lost.
	clk.Advance(2 * time.Minute)
	if _, ok := l.Watermark("S1"); !ok {
		t.Fatal("subscription reported lost although its POST was only refused")
	}
	if ev := recvPush(t, l); ev.Notification == nil || ev.Notification.Events[0].Watermark != "W1" {
		t.Fatalf("first event %+v", ev)
	}
	noPushEvent(t, l)
	// The retry goes through and chains without a gap.
	expectReply(t, post(t, l, path, xmlCT, pushNotification("S1", "W1", "W2")), "sendnotification_ok.response.xml")
	if ev := recvPush(t, l); ev.Gap || ev.Notification.Events[0].Watermark != "W2" {
		t.Fatalf("retried event %+v", ev)
	}
}

// A subscription that sends nothing within 2 × StatusFrequency plus slack
// is reported lost; each notification or StatusEvent moves the deadline.
func TestPushListener_Liveness(t *testing.T) {
	l, clk := newTestListener(t, &PushListenerOptions{LivenessSlack: 30 * time.Second})
	path := register(t, l, "S1", time.Minute, "W0")
	register(t, l, "S2", 10*time.Minute, "V0")
	clk.Advance(2 * time.Minute)
	expectReply(t, post(t, l, path, xmlCT, pushNotification("S1", "W0")), "sendnotification_ok.response.xml")
	recvPush(t, l)
	clk.Advance(2*time.Minute + 29*time.Second)
	noPushEvent(t, l)
	clk.Advance(time.Second)
	ev := recvPush(t, l)
	if ev.SubscriptionID != "S1" || !errors.Is(ev.Err, ErrSubscriptionLost) || ev.Notification != nil {
		t.Fatalf("event %+v", ev)
	}
	// S2 has a longer StatusFrequency and is still alive.
	if _, ok := l.Watermark("S2"); !ok {
		t.Fatal("S2 dropped")
	}
	noPushEvent(t, l)
	// A late POST for the lost subscription ends it on the server.
	expectReply(t, post(t, l, path, xmlCT, pushNotification("S1", "W0")), "sendnotification_unsubscribe.response.xml")
	clk.Advance(20 * time.Minute)
	if ev := recvPush(t, l); ev.SubscriptionID != "S2" || !errors.Is(ev.Err, ErrSubscriptionLost) {
		t.Fatalf("S2 event %+v", ev)
	}
}

// Lost reports are never dropped, even when the channel is full.
func TestPushListener_LostReportsQueue(t *testing.T) {
	l, clk := newTestListener(t, &PushListenerOptions{Buffer: 1})
	register(t, l, "S1", time.Minute, "W0")
	register(t, l, "S2", time.Minute, "W0")
	register(t, l, "S3", time.Minute, "W0")
	clk.Advance(time.Hour)
	seen := map[string]bool{}
	for range 3 {
		ev := recvPush(t, l)
		if !errors.Is(ev.Err, ErrSubscriptionLost) {
			t.Fatalf("event %+v", ev)
		}
		seen[ev.SubscriptionID] = true
	}
	if len(seen) != 3 {
		t.Fatalf("lost reports %v", seen)
	}
}

// Exchange may POST the first notification before the Subscribe response
// arrives: on the path of an outstanding callback, the POST waits for
// Register.
func TestPushListener_Expect(t *testing.T) {
	l, clk := newTestListener(t, nil)
	cb := l.Expect()
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- post(t, l, "/ews/push/"+cb.Path(), xmlCT, pushNotification("NEW", "W0", "W1")) }()
	waitTimers(t, clk, 1) // the POST is waiting (its PendingWait timer is set)
	if err := cb.Register("NEW", time.Minute, "W0"); err != nil {
		t.Fatal(err)
	}
	cb.Release()
	expectReply(t, <-done, "sendnotification_ok.response.xml")
	if ev := recvPush(t, l); ev.SubscriptionID != "NEW" || ev.Notification == nil {
		t.Fatalf("event %+v", ev)
	}
	cb.Release() // idempotent
	if err := cb.Register("NEW", time.Minute, "W0"); !errors.Is(err, ErrInvalidSubscribeRequest) {
		t.Fatalf("second Register: %v", err)
	}

	// Released without Register (Subscribe failed): Unsubscribe.
	cb = l.Expect()
	go func() { done <- post(t, l, "/ews/push/"+cb.Path(), xmlCT, pushNotification("GHOST", "W0", "W1")) }()
	waitTimers(t, clk, 2)
	cb.Release()
	expectReply(t, <-done, "sendnotification_unsubscribe.response.xml")

	// Never released: PendingWait bounds the wait.
	cb = l.Expect()
	defer cb.Release()
	go func() { done <- post(t, l, "/ews/push/"+cb.Path(), xmlCT, pushNotification("GHOST", "W0", "W1")) }()
	waitTimers(t, clk, 2)
	clk.Advance(DefaultPushPendingWait)
	expectReply(t, <-done, "sendnotification_unsubscribe.response.xml")
	noPushEvent(t, l)
}

func TestPushListener_ServerErrorMessage(t *testing.T) {
	l, _ := newTestListener(t, nil)
	path := register(t, l, "S1", time.Minute, "W0")
	body := strings.Replace(string(pushNotification("S1", "W0", "W1")),
		`<m:SendNotificationResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>`,
		`<m:SendNotificationResponseMessage ResponseClass="Error"><m:MessageText>missed</m:MessageText><m:ResponseCode>ErrorMissedNotificationEvents</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>`, 1)
	expectReply(t, post(t, l, path, xmlCT, []byte(body)), "sendnotification_ok.response.xml")
	ev := recvPush(t, l)
	if ev.SubscriptionID != "S1" || !errors.Is(ev.Err, ErrMissedNotificationEvents) || ev.Notification != nil {
		t.Fatalf("event %+v", ev)
	}
}

func TestPushListener_CloseAndOptions(t *testing.T) {
	l, _ := newTestListener(t, nil)
	path := register(t, l, "S1", time.Minute, "W0")
	cb := l.Expect()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-l.Events(); ok {
		t.Fatal("events channel open after Close")
	}
	if err := l.Close(); !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("second Close: %v", err)
	}
	w := post(t, l, path, xmlCT, pushNotification("S1", "W0", "W1"))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("post after Close: %d", w.Code)
	}
	if err := cb.Register("S2", time.Minute, ""); !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("Register after Close: %v", err)
	}
	if err := l.Expect().Register("S3", time.Minute, ""); !errors.Is(err, ErrConnectionClosed) {
		t.Fatalf("Expect and Register after Close: %v", err)
	}
	for _, o := range []PushListenerOptions{{PendingWait: time.Minute}, {MaxBodyBytes: -1}, {Buffer: -1}} {
		if _, err := NewPushListener(&o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	l2, _ := newTestListener(t, nil)
	for _, f := range []time.Duration{0, 30 * time.Second, 1441 * time.Minute} {
		if err := l2.Expect().Register("S", f, ""); !errors.Is(err, ErrInvalidSubscribeRequest) {
			t.Errorf("StatusFrequency %v: %v", f, err)
		}
	}
	if err := l2.Expect().Register("", time.Minute, ""); !errors.Is(err, ErrInvalidSubscribeRequest) {
		t.Errorf("empty id: %v", err)
	}
}

func TestDecodeSendNotification_Golden(t *testing.T) {
	msgs, err := decodeSendNotification(ntfGolden(t, "sendnotification_status.request.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].SubscriptionID != pushSubID || msgs[0].Notification.PreviousWatermark != "ywwAAAAAAAA=" ||
		!msgs[0].Notification.StatusOnly() || msgs[0].Notification.LastWatermark() != "ywwAAAAAAAA=" {
		t.Fatalf("%+v", msgs)
	}
	// Notification in the types namespace is accepted as well.
	alt := strings.ReplaceAll(string(ntfGolden(t, "sendnotification_status.request.xml")), "m:Notification", "t:Notification")
	if msgs, err := decodeSendNotification([]byte(alt)); err != nil || msgs[0].SubscriptionID != pushSubID {
		t.Fatalf("t:Notification: %v %+v", err, msgs)
	}
}

// A POST mixing a notification with an error message that names no
// subscription is applied without trouble; the error is delivered too,
// for the path's subscription.
func TestPushListener_MixedMessages(t *testing.T) {
	l, _ := newTestListener(t, nil)
	path := register(t, l, "S1", time.Minute, "W0")
	errMsg := `<m:SendNotificationResponseMessage ResponseClass="Error"><m:MessageText>oops</m:MessageText>` +
		`<m:ResponseCode>ErrorInternalServerError</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:SendNotificationResponseMessage>`
	body := strings.Replace(string(pushNotification("S1", "W0", "W1")), "</m:ResponseMessages>", errMsg+"</m:ResponseMessages>", 1)
	expectReply(t, post(t, l, path, xmlCT, []byte(body)), "sendnotification_ok.response.xml")
	if ev := recvPush(t, l); ev.Notification == nil || ev.SubscriptionID != "S1" {
		t.Fatalf("first event %+v", ev)
	}
	if ev := recvPush(t, l); !errors.Is(ev.Err, ErrInternalServerError) || ev.SubscriptionID != "S1" {
		t.Fatalf("second event %+v", ev)
	}
	// An error alone, naming nobody, is the path's subscription's too.
	expectReply(t, post(t, l, path, xmlCT, []byte(`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">`+
		`<soap:Body><m:SendNotification><m:ResponseMessages>`+errMsg+`</m:ResponseMessages></m:SendNotification></soap:Body></soap:Envelope>`)), "sendnotification_ok.response.xml")
	if ev := recvPush(t, l); !errors.Is(ev.Err, ErrInternalServerError) || ev.SubscriptionID != "S1" {
		t.Fatalf("anonymous error %+v", ev)
	}
	noPushEvent(t, l)
}

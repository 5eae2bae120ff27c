package ewstest

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// The notification part of the Microsoft-documented conformance suite
// (see msdocs_test.go): Subscribe, GetEvents, GetStreamingEvents and
// Unsubscribe examples of the EWS reference and of "Stream notifications
// about mailbox events by using EWS in Exchange".

// subscribe posts a Subscribe body (the operation element) and returns
// the subscription id and watermark.
func (f *msFixture) subscribe(body string) (id, watermark string) {
	f.t.Helper()
	root := f.mustSucceed(soapEnvelope(body))
	return firstText(root, nsM, "SubscriptionId"), firstText(root, nsM, "Watermark")
}

func (f *msFixture) pullSubscription() (id, watermark string) {
	f.t.Helper()
	return f.subscribe(`<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds>` +
		`<t:EventTypes><t:EventType>NewMailEvent</t:EventType><t:EventType>DeletedEvent</t:EventType></t:EventTypes>` +
		`<t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`)
}

func (f *msFixture) streamingSubscription() string {
	f.t.Helper()
	id, _ := f.subscribe(`<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds>` +
		`<t:EventTypes><t:EventType>NewMailEvent</t:EventType><t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent</t:EventType></t:EventTypes>` +
		`</m:StreamingSubscriptionRequest></m:Subscribe>`)
	return id
}

// deliverNew delivers one new message to the Inbox.
func (f *msFixture) deliverNew(subject string) ItemInfo {
	f.t.Helper()
	f.clk.Advance(time.Second)
	it, err := f.mb.Deliver(f.folderID("inbox"), Message{Subject: subject, From: Address{Name: "Dan Park", Email: "dpark@example.com"}})
	if err != nil {
		f.t.Fatal(err)
	}
	return it
}

// postStream sends a GetStreamingEvents request and returns the first
// envelope of the chunked response that carries notifications or a
// response message other than an OK keep-alive; it then drops the
// connection.
func (f *msFixture) postStream(body string) (int, string, *etree.Element) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	envs := newEnvelopeReader(resp.Body)
	for range 20 {
		raw, err := envs.next()
		if err != nil {
			f.t.Fatalf("reading the stream: %v", err)
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(raw); err != nil {
			f.t.Fatalf("envelope is not XML (%v): %s", err, raw)
		}
		root := doc.Root()
		keepAlive := len(findAll(root, nsM, "Notification")) == 0 && firstText(root, nsM, "ResponseCode") == "NoError"
		if !keepAlive {
			return resp.StatusCode, resp.Header.Get("Content-Type"), root
		}
	}
	f.t.Fatal("no notification in the first 20 envelopes of the stream")
	return 0, "", nil
}

// envelopeReader splits a stream of concatenated SOAP envelopes.
type envelopeReader struct {
	buf bytes.Buffer
	dec *xml.Decoder
}

func newEnvelopeReader(r io.Reader) *envelopeReader {
	e := &envelopeReader{}
	e.dec = xml.NewDecoder(io.TeeReader(r, &e.buf))
	return e
}

// next returns the bytes of the next complete top-level element. The
// buffer keeps the whole stream, which is short in these tests, so the
// decoder's offsets index it directly.
func (e *envelopeReader) next() ([]byte, error) {
	depth := 0
	var start int64
	for {
		before := e.dec.InputOffset()
		tok, err := e.dec.RawToken()
		if err != nil {
			return nil, err
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				start = before
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 {
				return append([]byte(nil), e.buf.Bytes()[start:e.dec.InputOffset()]...), nil
			}
		}
	}
}

// pushListener answers every SendNotification with OK, as a subscriber's
// web service does.
func pushListener(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="`+nsSOAP11+`"><soap:Body>`+
			`<SendNotificationResult xmlns="`+nsM+`"><SubscriptionStatus>OK</SubscriptionStatus></SendNotificationResult></soap:Body></soap:Envelope>`)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/Service.asmx"
}

var msNotifyCases = []msCase{
	{request: "subscribe/pull-inbox", setup: noVars, class: "Success", code: "NoError",
		check: func(t *testing.T, f *msFixture, _ map[string]string, root *etree.Element) {
			if firstText(root, nsM, "SubscriptionId") == "" || firstText(root, nsM, "Watermark") == "" {
				t.Errorf("no SubscriptionId or Watermark: %s", dump(root))
			}
		}},
	{request: "subscribe/push-inbox",
		setup: func(f *msFixture) map[string]string { return map[string]string{"PUSH_URL": pushListener(f.t)} },
		class: "Success", code: "NoError"},
	{request: "subscribe/streaming-inbox", setup: noVars, class: "Success", code: "NoError",
		check: func(t *testing.T, f *msFixture, _ map[string]string, root *etree.Element) {
			if firstText(root, nsM, "SubscriptionId") == "" || len(findAll(root, nsM, "Watermark")) != 0 {
				t.Errorf("want a SubscriptionId and no Watermark for a streaming subscription: %s", dump(root))
			}
		}},
	{request: "getevents/after-newmail",
		setup: func(f *msFixture) map[string]string {
			id, wm := f.pullSubscription()
			f.deliverNew("first")
			f.deliverNew("second")
			return map[string]string{"SUBSCRIPTION_ID": id, "WATERMARK": wm}
		},
		class: "Success", code: "NoError",
		check: func(t *testing.T, f *msFixture, vars map[string]string, root *etree.Element) {
			if got := firstText(root, nsT, "PreviousWatermark"); got != vars["WATERMARK"] {
				t.Errorf("PreviousWatermark %q, want the watermark sent, %q", got, vars["WATERMARK"])
			}
			if n := len(findAll(root, nsT, "NewMailEvent")); n != 2 {
				t.Errorf("%d NewMailEvents, want 2", n)
			}
		}},
	// The pull how-to's bare operation elements; Microsoft's responses there
	// are fragments, so the structure is that of the reference pages'.
	{request: "subscribe/howto-pull-bare", response: "subscribe/pull-inbox", setup: noVars, class: "Success", code: "NoError"},
	{request: "getevents/howto-bare", response: "getevents/after-newmail",
		setup: func(f *msFixture) map[string]string {
			id, wm := f.pullSubscription()
			f.deliverNew("pulled")
			return map[string]string{"SUBSCRIPTION_ID": id, "WATERMARK": wm}
		},
		class: "Success", code: "NoError",
		check: func(t *testing.T, f *msFixture, vars map[string]string, root *etree.Element) {
			if n := len(findAll(root, nsT, "NewMailEvent")); n != 1 {
				t.Errorf("%d NewMailEvents, want 1: %s", n, dump(root))
			}
		}},
	// Microsoft shows the error for another user's subscription
	// (ErrorSubscriptionAccessDenied); for an id the server never issued
	// the code is ErrorSubscriptionNotFound, in the same structure.
	{request: "getevents/unknown-subscription", setup: noVars, class: "Error", code: "ErrorSubscriptionNotFound"},
	{request: "getstreamingevents/one-subscription",
		setup: func(f *msFixture) map[string]string {
			id := f.streamingSubscription()
			f.deliverNew("streamed")
			return map[string]string{"SUBSCRIPTION_ID": id}
		},
		post: (*msFixture).postStream, class: "Success", code: "NoError",
		check: checkStreamedNewMail},
	{request: "getstreamingevents/howto-subscriptionids", response: "getstreamingevents/one-subscription",
		setup: func(f *msFixture) map[string]string {
			id := f.streamingSubscription()
			f.deliverNew("streamed")
			return map[string]string{"SUBSCRIPTION_ID": id}
		},
		post: (*msFixture).postStream, class: "Success", code: "NoError",
		check: checkStreamedNewMail},
	// Microsoft's error example is for a subscription that became invalid
	// (ErrorInvalidSubscription); for an id never issued the code is
	// ErrorSubscriptionNotFound, and the failed id is named in
	// ErrorSubscriptionIds (GetStreamingEventsResponseMessageType).
	{request: "getstreamingevents/unknown-subscription", setup: noVars, post: (*msFixture).postStream,
		class: "Error", code: "ErrorSubscriptionNotFound", mayDiffer: []string{"m:ErrorSubscriptionIds"},
		check: func(t *testing.T, f *msFixture, _ map[string]string, root *etree.Element) {
			if got := firstText(root, nsM, "ConnectionStatus"); got != "Closed" {
				t.Errorf("ConnectionStatus %q, want Closed", got)
			}
		}},
	{request: "unsubscribe/subscribed",
		setup: func(f *msFixture) map[string]string {
			id, _ := f.pullSubscription()
			return map[string]string{"SUBSCRIPTION_ID": id}
		},
		class: "Success", code: "NoError"},
	{request: "unsubscribe/unknown", setup: noVars, class: "Error", code: "ErrorSubscriptionNotFound"},
}

func checkStreamedNewMail(t *testing.T, f *msFixture, vars map[string]string, root *etree.Element) {
	t.Helper()
	if got := firstText(root, nsT, "SubscriptionId"); got != vars["SUBSCRIPTION_ID"] {
		t.Errorf("SubscriptionId %q, want %q", got, vars["SUBSCRIPTION_ID"])
	}
	for _, ev := range []string{"CreatedEvent", "NewMailEvent", "ModifiedEvent"} {
		if len(findAll(root, nsT, ev)) != 1 {
			t.Errorf("want one %s: %s", ev, dump(root))
		}
	}
	// Streaming events carry no watermark (Microsoft's example).
	if n := len(findAll(root, nsT, "Watermark")); n != 0 {
		t.Errorf("%d Watermarks in streaming events, want none", n)
	}
}

// TestMSDocsNotificationExamples runs the notification examples as
// TestMSDocsExamples runs the mailbox ones.
func TestMSDocsNotificationExamples(t *testing.T) {
	for _, c := range msNotifyCases {
		t.Run(c.request, func(t *testing.T) {
			runMSCase(t, c)
		})
	}
}

// TestEnvelopeReader checks the stream splitter used above on envelopes
// split across reads and several in one read.
func TestEnvelopeReader(t *testing.T) {
	stream := `<?xml version="1.0"?><a:Envelope xmlns:a="x"><a:Body>1</a:Body></a:Envelope>` +
		`<Envelope xmlns="x"><Body><b/>2</Body></Envelope><s:Envelope xmlns:s="x"/>`
	r := newEnvelopeReader(iotestOneByte(strings.NewReader(stream)))
	var got []string
	for {
		b, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	want := []string{`<a:Envelope xmlns:a="x"><a:Body>1</a:Body></a:Envelope>`, `<Envelope xmlns="x"><Body><b/>2</Body></Envelope>`, `<s:Envelope xmlns:s="x"/>`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// iotestOneByte reads one byte at a time, as a slow chunked stream does.
func iotestOneByte(r io.Reader) io.Reader { return oneByteReader{r} }

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// TestMSDocsSubscribeDelegate sends the pull Subscribe example, aimed at
// another user's Inbox, as an authenticated delegate: Microsoft's error
// example (ErrorSubscriptionDelegateAccessNotSupported) in every request
// variant; with ExchangeImpersonation of the owner (a caller holding the
// right) it succeeds.
func TestMSDocsSubscribeDelegate(t *testing.T) {
	srv := NewServer(Options{
		Users:              []User{{Name: "alice", Password: "a", Address: "alice@example.com"}, {Name: "bob", Password: "b", Address: "bob@example.com"}},
		Auth:               AuthOptions{Mode: AuthBasic},
		ImpersonationUsers: []string{"bob"},
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	t.Cleanup(srv.Close)
	post := func(t *testing.T, body string) (int, *etree.Element) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("bob", "b")
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
		return resp.StatusCode, doc.Root()
	}
	raw := readMSDoc(t, "subscribe/delegate.request.xml")
	want := parseXML(t, readMSDoc(t, "subscribe/delegate.response.xml")).Root()
	for _, v := range requestVariants {
		if v.name == "all-optional-headers" {
			continue // impersonates alice: not delegate access, checked below
		}
		t.Run(v.name, func(t *testing.T) {
			doc := parseXML(t, raw)
			v.apply(doc)
			body, _ := doc.WriteToString()
			if v.wire != nil {
				body = v.wire(body)
			}
			status, root := post(t, body)
			rc := responseClasses(root)
			if status != http.StatusOK || len(rc) != 1 || rc[0] != [2]string{"Error", "ErrorSubscriptionDelegateAccessNotSupported"} {
				t.Fatalf("HTTP %d %v, want one ErrorSubscriptionDelegateAccessNotSupported: %s", status, rc, dump(root))
			}
			if diffs := compareShape(want, root, shapeRules{}); len(diffs) > 0 {
				t.Errorf("structure differs from Microsoft's example: %v", diffs)
			}
		})
	}
	t.Run("impersonating the owner", func(t *testing.T) {
		doc := parseXML(t, raw)
		addOptionalHeaders(doc)
		body, _ := doc.WriteToString()
		status, root := post(t, body)
		if rc := responseClasses(root); status != http.StatusOK || len(rc) != 1 || rc[0][0] != "Success" {
			t.Errorf("HTTP %d %v, want Success: %s", status, rc, dump(root))
		}
	})
}

// TestMSDocsGetEventsAccessDenied is the scenario of Microsoft's GetEvents
// error example: a user other than the subscription's owner calls
// GetEvents (the reference's request, with the owner's id and watermark).
func TestMSDocsGetEventsAccessDenied(t *testing.T) {
	srv := NewServer(Options{
		Users:  []User{{Name: "alice", Password: "a", Address: "alice@example.com"}, {Name: "bob", Password: "b", Address: "bob@example.com"}},
		Auth:   AuthOptions{Mode: AuthBasic},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	t.Cleanup(srv.Close)
	post := func(user, pass, body string) *etree.Element {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
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
		return doc.Root()
	}
	sub := post("alice", "a", readMSDoc(t, "subscribe/pull-inbox.request.xml"))
	vars := map[string]string{"SUBSCRIPTION_ID": firstText(sub, nsM, "SubscriptionId"), "WATERMARK": firstText(sub, nsM, "Watermark")}
	root := post("bob", "b", fill(t, readMSDoc(t, "getevents/after-newmail.request.xml"), vars))
	if rc := responseClasses(root); len(rc) != 1 || rc[0] != [2]string{"Error", "ErrorSubscriptionAccessDenied"} {
		t.Fatalf("%v, want ErrorSubscriptionAccessDenied: %s", rc, dump(root))
	}
	want := parseXML(t, readMSDoc(t, "getevents/unknown-subscription.response.xml")).Root()
	if diffs := compareShape(want, root, shapeRules{}); len(diffs) > 0 {
		t.Errorf("structure differs from Microsoft's example: %v", diffs)
	}
	if got := firstText(root, nsM, "MessageText"); got != "Access is denied. Only the subscription owner may access the subscription." {
		t.Errorf("MessageText %q, want Microsoft's", got)
	}
	// The owner still gets events.
	if rc := responseClasses(post("alice", "a", fill(t, readMSDoc(t, "getevents/after-newmail.request.xml"), vars))); len(rc) != 1 || rc[0][0] != "Success" {
		t.Errorf("owner's GetEvents: %v", rc)
	}
}

// TestMSDocsNotificationRemarks checks the GetEvents and Unsubscribe
// references' remarks: with no event queued GetEvents returns one
// StatusEvent (step 4 of the GetEvents remarks), and Unsubscribe "is only
// valid for pull notifications", so a push subscription's id is refused.
func TestMSDocsNotificationRemarks(t *testing.T) {
	f := newMSFixture(t)
	id, wm := f.pullSubscription()
	root := f.mustSucceed(fill(t, readMSDoc(t, "getevents/after-newmail.request.xml"), map[string]string{"SUBSCRIPTION_ID": id, "WATERMARK": wm}))
	n := findAll(root, nsM, "Notification")
	if len(n) != 1 {
		t.Fatalf("no Notification: %s", dump(root))
	}
	var kinds []string
	for _, c := range n[0].ChildElements() {
		kinds = append(kinds, c.Tag)
	}
	if strings.Join(kinds, ",") != "SubscriptionId,PreviousWatermark,MoreEvents,StatusEvent" {
		t.Errorf("empty queue gave %v, want SubscriptionId, PreviousWatermark, MoreEvents, StatusEvent", kinds)
	}
	if firstText(n[0], nsT, "PreviousWatermark") != wm || firstText(findAll(n[0], nsT, "StatusEvent")[0], nsT, "Watermark") == "" {
		t.Errorf("StatusEvent watermarks: %s", dump(root))
	}

	push, _ := f.subscribe(`<m:Subscribe><m:PushSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="inbox"/></t:FolderIds>` +
		`<t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes><t:StatusFrequency>1</t:StatusFrequency><t:URL>` + pushListener(t) +
		`</t:URL></m:PushSubscriptionRequest></m:Subscribe>`)
	_, _, root = f.post(fill(t, readMSDoc(t, "unsubscribe/subscribed.request.xml"), map[string]string{"SUBSCRIPTION_ID": push}))
	if rc := responseClasses(root); len(rc) != 1 || rc[0] != [2]string{"Error", "ErrorInvalidPullSubscriptionId"} {
		t.Errorf("Unsubscribe of a push subscription: %v, want ErrorInvalidPullSubscriptionId", rc)
	}
}

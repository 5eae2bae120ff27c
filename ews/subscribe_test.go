package ews

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// texts returns the texts of el's children named {ns}local.
func texts(el *etree.Element, ns, local string) []string {
	var out []string
	for _, c := range ewsxml.ChildElements(el) {
		if ewsxml.Is(c, ns, local) {
			out = append(out, ewsxml.Text(c))
		}
	}
	return out
}

func TestSubscribe_RequestShapes(t *testing.T) {
	reply := map[SubscriptionKind]string{
		Pull:      "subscribe_pull.response.xml",
		Push:      "subscribe_push.response.xml",
		Streaming: "subscribe_streaming.response.xml",
	}
	var kind SubscriptionKind
	srv := newNtfServer(t, func(op string, _ *etree.Element, w http.ResponseWriter, _ *http.Request) {
		w.Write(ntfGolden(t, reply[kind]))
	})
	c := newNtfClient(t, srv.URL)
	ctx := context.Background()

	t.Run("pull", func(t *testing.T) {
		kind = Pull
		sub, err := c.Subscribe(ctx, &SubscribeRequest{Kind: Pull, AllFolders: true, Timeout: 30 * time.Minute,
			EventTypes: []EventType{EventCreated, EventDeleted}, Watermark: "WM-OLD"})
		if err != nil {
			t.Fatal(err)
		}
		if sub.ID != "f6bc657d-dde1-4f94-952d-143b95d6483d" || sub.Watermark != "AAAAAMAGAAAAAAAAAQ==" || sub.Kind != Pull {
			t.Fatalf("subscription %+v", sub)
		}
		req := srv.requests()[len(srv.requests())-1]
		pr := ewsxml.FirstChild(req.Body, ewsxml.NSMessages, "PullSubscriptionRequest")
		if pr == nil || ewsxml.Attr(pr, "SubscribeToAllFolders") != "true" {
			t.Fatalf("no m:PullSubscriptionRequest SubscribeToAllFolders=true")
		}
		if ewsxml.FirstChild(pr, ewsxml.NSTypes, "FolderIds") != nil {
			t.Error("FolderIds sent with SubscribeToAllFolders")
		}
		ets := texts(ewsxml.FirstChild(pr, ewsxml.NSTypes, "EventTypes"), ewsxml.NSTypes, "EventType")
		if !slices.Equal(ets, []string{"CreatedEvent", "DeletedEvent"}) {
			t.Errorf("EventTypes %v", ets)
		}
		if got := texts(pr, ewsxml.NSTypes, "Watermark"); !slices.Equal(got, []string{"WM-OLD"}) {
			t.Errorf("t:Watermark %v", got)
		}
		if got := texts(pr, ewsxml.NSTypes, "Timeout"); !slices.Equal(got, []string{"30"}) {
			t.Errorf("t:Timeout %v", got)
		}
		// Schema order: EventTypes, Watermark, Timeout.
		var order []string
		for _, el := range ewsxml.ChildElements(pr) {
			order = append(order, el.Tag)
		}
		if !slices.Equal(order, []string{"EventTypes", "Watermark", "Timeout"}) {
			t.Errorf("child order %v", order)
		}
	})
	t.Run("push", func(t *testing.T) {
		kind = Push
		sub, err := c.Subscribe(ctx, &SubscribeRequest{Kind: Push, DistinguishedFolders: []string{"inbox"}, Mailbox: "ann@example.com",
			FolderIDs: []string{"F1"}, URL: "https://listener.example.com/ews/push/tok", CallerData: "cd-1"})
		if err != nil {
			t.Fatal(err)
		}
		if sub.ID != "hKJETtoAdi9PPW0tZDQ4MThmMDoVYB" || sub.Watermark != "ygwAAAAAAAA=" {
			t.Fatalf("subscription %+v", sub)
		}
		req := srv.requests()[len(srv.requests())-1]
		pr := ewsxml.FirstChild(req.Body, ewsxml.NSMessages, "PushSubscriptionRequest")
		if pr == nil || ewsxml.Attr(pr, "SubscribeToAllFolders") != "" {
			t.Fatal("no m:PushSubscriptionRequest without SubscribeToAllFolders")
		}
		fids := ewsxml.FirstChild(pr, ewsxml.NSTypes, "FolderIds")
		if ewsxml.Attr(ewsxml.FirstChild(fids, ewsxml.NSTypes, "FolderId"), "Id") != "F1" {
			t.Error("t:FolderId F1 missing")
		}
		d := ewsxml.FirstChild(fids, ewsxml.NSTypes, "DistinguishedFolderId")
		if ewsxml.Attr(d, "Id") != "inbox" ||
			ewsxml.Text(ewsxml.FirstChild(ewsxml.FirstChild(d, ewsxml.NSTypes, "Mailbox"), ewsxml.NSTypes, "EmailAddress")) != "ann@example.com" {
			t.Error("t:DistinguishedFolderId inbox with mailbox missing")
		}
		ets := texts(ewsxml.FirstChild(pr, ewsxml.NSTypes, "EventTypes"), ewsxml.NSTypes, "EventType")
		if len(ets) != len(AllEventTypes()) || slices.Contains(ets, "StatusEvent") {
			t.Errorf("default EventTypes %v", ets)
		}
		for name, want := range map[string]string{"StatusFrequency": "30", "URL": "https://listener.example.com/ews/push/tok", "CallerData": "cd-1"} {
			if got := texts(pr, ewsxml.NSTypes, name); !slices.Equal(got, []string{want}) {
				t.Errorf("t:%s = %v, want %s", name, got, want)
			}
		}
	})
	t.Run("streaming", func(t *testing.T) {
		kind = Streaming
		sub, err := c.Subscribe(ctx, &SubscribeRequest{Kind: Streaming, DistinguishedFolders: []string{"inbox"}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sub.ID, "JgBibjFwcjAzbWIyMDIu") || sub.Watermark != "" || sub.Kind != Streaming {
			t.Fatalf("subscription %+v", sub)
		}
		req := srv.requests()[len(srv.requests())-1]
		sr := ewsxml.FirstChild(req.Body, ewsxml.NSMessages, "StreamingSubscriptionRequest")
		if sr == nil || ewsxml.FirstChild(sr, ewsxml.NSTypes, "Watermark") != nil {
			t.Fatal("streaming request missing or carries a watermark")
		}
	})
}

func TestSubscribe_Errors(t *testing.T) {
	var body []byte
	status := http.StatusOK
	srv := newNtfServer(t, func(op string, _ *etree.Element, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		w.Write(body)
	})
	c := newNtfClient(t, srv.URL)
	ctx := context.Background()
	pull := &SubscribeRequest{Kind: Pull, AllFolders: true, Timeout: time.Minute, Watermark: "OLD"}

	body = ntfGolden(t, "subscribe_invalid_watermark.response.xml")
	_, err := c.Subscribe(ctx, pull)
	var re *ResponseError
	if !errors.Is(err, ErrInvalidWatermark) || !errors.As(err, &re) || re.Op != "Subscribe" || !re.SubscriptionLost() {
		t.Fatalf("invalid watermark: %v", err)
	}

	body = []byte(strings.Replace(string(ntfGolden(t, "subscribe_invalid_watermark.response.xml")), "ErrorInvalidWatermark", "ErrorExceededSubscriptionCount", 1))
	if _, err := c.Subscribe(ctx, pull); !errors.Is(err, ErrExceededSubscriptionCount) {
		t.Fatalf("exceeded subscription count: %v", err)
	}

	// A pull response without a watermark is malformed.
	body = ntfGolden(t, "subscribe_streaming.response.xml")
	if _, err := c.Subscribe(ctx, pull); !errors.Is(err, ErrMalformedResponse) {
		t.Fatalf("pull response without watermark: %v", err)
	}

	body = []byte("<html>down</html>")
	status = http.StatusServiceUnavailable
	if _, err := c.Subscribe(ctx, pull); !errors.Is(err, ErrServiceUnavailable) {
		t.Fatalf("503: %v", err)
	}
	n := len(srv.requests())

	// Invalid requests are refused before anything is sent.
	invalid := []*SubscribeRequest{
		nil,
		{},
		{Kind: Pull, Timeout: time.Minute},
		{Kind: Pull, AllFolders: true, FolderIDs: []string{"F"}, Timeout: time.Minute},
		{Kind: Pull, AllFolders: true},
		{Kind: Pull, AllFolders: true, Timeout: 1441 * time.Minute},
		{Kind: Pull, AllFolders: true, Timeout: 90 * time.Second},
		{Kind: Pull, AllFolders: true, Timeout: time.Minute, EventTypes: []EventType{EventStatus}},
		{Kind: Pull, AllFolders: true, Timeout: time.Minute, URL: "http://x"},
		{Kind: Streaming, AllFolders: true, Watermark: "W"},
		{Kind: Streaming, AllFolders: true, Timeout: time.Minute},
		{Kind: Push, AllFolders: true},
		{Kind: Push, AllFolders: true, URL: "ftp://x/y"},
		{Kind: Push, AllFolders: true, URL: "/relative"},
		{Kind: Push, AllFolders: true, URL: "https://x/" + strings.Repeat("a", 2100)},
		{Kind: Push, AllFolders: true, URL: "https://x/", StatusFrequency: 1441 * time.Minute},
		{Kind: Push, AllFolders: true, URL: "https://x/", Timeout: time.Minute},
		{Kind: Streaming, FolderIDs: []string{""}},
		{Kind: Streaming, AllFolders: true, Group: &AffinityGroup{Name: "g"}},
	}
	for i, r := range invalid {
		if _, err := c.Subscribe(ctx, r); !errors.Is(err, ErrInvalidRequest) ||
			(!errors.Is(err, ErrInvalidSubscribeRequest) && r != nil && r.Group == nil) {
			t.Errorf("case %d %+v: %v", i, r, err)
		}
	}
	big := &SubscribeRequest{Kind: Streaming, AllFolders: true,
		Group: &AffinityGroup{Name: "g", Anchor: "a@x", Members: make([]string, 201)}}
	if _, err := c.Subscribe(ctx, big); !errors.Is(err, ErrTooManySubscriptions) {
		t.Errorf("group of 201: %v", err)
	}
	if len(srv.requests()) != n {
		t.Fatalf("invalid requests reached the server")
	}
}

// MoreEvents paging: AllEvents calls again at once with the last watermark
// of each page (StatusEvent included) and stops after MoreEvents=false.
func TestAllEvents_Paging(t *testing.T) {
	pages := map[string]string{"WM0": "getevents_page1.response.xml", "WM3": "getevents_page2.response.xml"}
	srv := newNtfServer(t, func(op string, req *etree.Element, w http.ResponseWriter, _ *http.Request) {
		wm := ewsxml.Text(ewsxml.FirstChild(req, ewsxml.NSMessages, "Watermark"))
		p, ok := pages[wm]
		if !ok {
			w.Write(ntfGolden(t, "getevents_expired.response.xml"))
			return
		}
		w.Write(ntfGolden(t, p))
	})
	c := newNtfClient(t, srv.URL)
	var got []string
	last := ""
	for n, err := range c.AllEvents(context.Background(), "PULLSUB1", "WM0", nil) {
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range n.Events {
			got = append(got, string(e.Type)+"@"+e.Watermark)
		}
		last = n.LastWatermark()
	}
	want := []string{"CreatedEvent@WM1", "MovedEvent@WM2", "ModifiedEvent@WM3",
		"CopiedEvent@WM4", "DeletedEvent@WM5", "FreeBusyChangedEvent@WM6", "StatusEvent@WM7"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v\nwant %v", got, want)
	}
	if last != "WM7" {
		t.Errorf("last watermark %q", last)
	}
	var sent []string
	for _, r := range srv.requests() {
		sent = append(sent, ewsxml.Text(ewsxml.FirstChild(r.Body, ewsxml.NSMessages, "Watermark")))
	}
	if !slices.Equal(sent, []string{"WM0", "WM3"}) {
		t.Errorf("watermarks sent %v", sent)
	}

	// Watermark chaining: a page that does not continue from the
	// watermark asked for is a gap.
	pages["WMX"] = "getevents_page2.response.xml"
	var gapErr error
	for n, err := range c.AllEvents(context.Background(), "PULLSUB1", "WMX", nil) {
		if err != nil {
			gapErr = err
			if n == nil || n.PreviousWatermark != "WM3" {
				t.Errorf("gap error without its notification: %+v", n)
			}
		}
	}
	if !errors.Is(gapErr, ErrWatermarkGap) {
		t.Fatalf("gap: %v", gapErr)
	}

	// Errors end the iteration.
	var errs []error
	for _, err := range c.AllEvents(context.Background(), "PULLSUB1", "UNKNOWN", nil) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], ErrExpiredSubscription) {
		t.Fatalf("errors %v", errs)
	}

	// Breaking out early stops fetching.
	before := len(srv.requests())
	for range c.AllEvents(context.Background(), "PULLSUB1", "WM0", nil) {
		break
	}
	if len(srv.requests()) != before+1 {
		t.Errorf("%d requests after break, want 1", len(srv.requests())-before)
	}
}

func TestGetEventsAndUnsubscribe_Errors(t *testing.T) {
	replies := map[string]string{}
	srv := newNtfServer(t, func(op string, _ *etree.Element, w http.ResponseWriter, _ *http.Request) {
		w.Write(ntfGolden(t, replies[op]))
	})
	c := newNtfClient(t, srv.URL)
	ctx := context.Background()

	replies["GetEvents"] = "getevents_access_denied.response.xml"
	_, err := c.GetEvents(ctx, "S", "W", nil)
	var re *ResponseError
	if !errors.Is(err, ErrSubscriptionAccessDenied) || !errors.As(err, &re) ||
		re.Message != "Access is denied. Only the subscription owner may access the subscription." {
		t.Fatalf("access denied: %v", err)
	}
	replies["GetEvents"] = "getevents_expired.response.xml"
	if _, err := c.GetEvents(ctx, "S", "W", nil); !errors.Is(err, ErrExpiredSubscription) {
		t.Fatalf("expired: %v", err)
	}
	// A malformed notification matches both sentinels.
	replies["GetEvents"] = "getevents.response.xml"
	srvBad := newNtfServer(t, func(op string, _ *etree.Element, w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(strings.Replace(string(ntfGolden(t, "getevents.response.xml")), "2006-08-22T00:36:29Z", "not a time", 1)))
	})
	_, err = newNtfClient(t, srvBad.URL).GetEvents(ctx, "S", "W", nil)
	if !errors.Is(err, ErrMalformedResponse) || !errors.Is(err, ErrMalformedNotification) {
		t.Fatalf("malformed: %v", err)
	}
	if _, err := c.GetEvents(ctx, "", "W", nil); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("empty id: %v", err)
	}

	replies["Unsubscribe"] = "unsubscribe.response.xml"
	if err := c.Unsubscribe(ctx, "S", nil); err != nil {
		t.Fatal(err)
	}
	replies["Unsubscribe"] = "unsubscribe_not_found.response.xml"
	if err := c.Unsubscribe(ctx, "S", nil); !errors.Is(err, ErrSubscriptionNotFound) {
		t.Fatalf("not found: %v", err)
	}
	if err := c.Unsubscribe(ctx, "", nil); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("empty id: %v", err)
	}
	last := srv.requests()[len(srv.requests())-1]
	if last.Op != "Unsubscribe" || ewsxml.Text(ewsxml.FirstChild(last.Body, ewsxml.NSMessages, "SubscriptionId")) != "S" {
		t.Fatalf("Unsubscribe request %+v", last)
	}
}

// Affinity: every request of a group carries X-AnchorMailbox (the anchor)
// and X-PreferServerAffinity; the X-BackEndOverrideCookie set on the
// anchor's Subscribe is sent on the members' Subscribe, GetEvents,
// GetStreamingEvents and Unsubscribe; another group's cookie is kept apart.
func TestAffinityGroup_HeadersAndCookie(t *testing.T) {
	var n int
	ss := newStreamServer(t, func(op string, _ *etree.Element, w http.ResponseWriter, r *http.Request) {
		switch op {
		case "Subscribe":
			n++
			if _, err := r.Cookie(backEndCookieName); err != nil {
				// First Subscribe of a group: the server picks a backend.
				http.SetCookie(w, &http.Cookie{Name: backEndCookieName, Value: fmt.Sprintf("mbx%d~1942062252", n), Path: "/", Secure: true, HttpOnly: true})
			}
			w.Write(ntfGolden(t, "subscribe_streaming.response.xml"))
		case "GetEvents":
			w.Write(ntfGolden(t, "getevents.response.xml"))
		case "Unsubscribe":
			w.Write(ntfGolden(t, "unsubscribe.response.xml"))
		}
	})
	c := newNtfClient(t, ss.URL)
	ctx := context.Background()
	groups := GroupMailboxes("db1", []string{"zed@example.com", "ann@example.com", "bob@example.com", "ann@example.com"})
	if len(groups) != 1 || groups[0].Anchor != "ann@example.com" || len(groups[0].Members) != 3 {
		t.Fatalf("groups %+v", groups)
	}
	g := &groups[0]
	other := &AffinityGroup{Name: "db2-0", Anchor: "carl@example.com"}

	for _, m := range g.Members {
		if _, err := c.Subscribe(ctx, &SubscribeRequest{Kind: Streaming, AllFolders: true, Group: g,
			Impersonation: &Impersonation{SMTPAddress: m}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Subscribe(ctx, &SubscribeRequest{Kind: Streaming, AllFolders: true, Group: other}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetEvents(ctx, "S", "W", &GetEventsOptions{Group: g}); err != nil {
		t.Fatal(err)
	}
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock(), Group: g}, "S1")
	fs := ss.next(t)
	if err := c.Unsubscribe(ctx, "S", &UnsubscribeOptions{Group: g}); err != nil {
		t.Fatal(err)
	}
	sc.Close()

	reqs := ss.requests()
	if len(reqs) != 7 {
		t.Fatalf("%d requests", len(reqs))
	}
	cookieOf := func(h http.Header) string {
		r := http.Request{Header: h}
		ck, err := r.Cookie(backEndCookieName)
		if err != nil {
			return ""
		}
		return ck.Value
	}
	for i, r := range reqs {
		anchor, cookie := "ann@example.com", "mbx1~1942062252"
		if i == 0 {
			cookie = "" // the anchor's own Subscribe
		}
		if i == 3 {
			anchor, cookie = "carl@example.com", ""
		}
		if got := r.Header.Get("X-AnchorMailbox"); got != anchor {
			t.Errorf("request %d (%s): X-AnchorMailbox %q, want %q", i, r.Op, got, anchor)
		}
		if got := r.Header.Get("X-PreferServerAffinity"); got != "true" {
			t.Errorf("request %d (%s): X-PreferServerAffinity %q", i, r.Op, got)
		}
		if got := cookieOf(r.Header); got != cookie {
			t.Errorf("request %d (%s): cookie %q, want %q", i, r.Op, got, cookie)
		}
	}
	if got := cookieOf(fs.header); got != "mbx1~1942062252" {
		t.Errorf("GetStreamingEvents cookie %q", got)
	}
	// Members are impersonated on their own Subscribe.
	env := reqs[1].Body.Parent().Parent()
	sid := ewsxml.FirstChild(ewsxml.FirstChild(ewsxml.FirstChild(env, ewsxml.NSSoap, "Header"),
		ewsxml.NSTypes, "ExchangeImpersonation"), ewsxml.NSTypes, "ConnectingSID")
	if got := ewsxml.Text(ewsxml.FirstChild(sid, ewsxml.NSTypes, "SmtpAddress")); got != "bob@example.com" {
		t.Errorf("second member's Subscribe impersonates %q", got)
	}
	if c.backEndCookie(other.Name) != "mbx4~1942062252" {
		t.Errorf("second group's cookie %q", c.backEndCookie(other.Name))
	}
}

func TestGroupMailboxes_Split(t *testing.T) {
	var addrs []string
	for i := 450; i > 0; i-- {
		addrs = append(addrs, fmt.Sprintf("user%04d@example.com", i))
	}
	groups := GroupMailboxes("srv", addrs)
	if len(groups) != 3 {
		t.Fatalf("%d groups", len(groups))
	}
	sizes := []int{len(groups[0].Members), len(groups[1].Members), len(groups[2].Members)}
	if !slices.Equal(sizes, []int{200, 200, 50}) {
		t.Fatalf("sizes %v", sizes)
	}
	if groups[0].Anchor != "user0001@example.com" || groups[1].Anchor != "user0201@example.com" || groups[2].Name != "srv-2" {
		t.Fatalf("anchors %s %s, name %s", groups[0].Anchor, groups[1].Anchor, groups[2].Name)
	}
	for _, g := range groups {
		if err := g.validate(); err != nil {
			t.Fatal(err)
		}
	}
}

// Throttled Subscribe calls are retried after the server's hint.
func TestSubscribe_RetriedWhenBusy(t *testing.T) {
	busy := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>` +
		`<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode>` +
		`<faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring><detail>` +
		`<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode>` +
		`<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The server cannot service this request right now. Try again later.</e:Message>` +
		`<t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><t:Value Name="BackOffMilliseconds">4000</t:Value></t:MessageXml>` +
		`</detail></s:Fault></s:Body></s:Envelope>`
	calls := 0
	srv := newNtfServer(t, func(op string, _ *etree.Element, w http.ResponseWriter, _ *http.Request) {
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(busy))
			return
		}
		w.Write(ntfGolden(t, "subscribe_streaming.response.xml"))
	})
	fs := &fakeSleeper{}
	c, err := New(srv.URL, &Options{Clock: fs.clock(t), Retry: RetryPolicy{MaxAttempts: 3}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.Subscribe(context.Background(), &SubscribeRequest{Kind: Streaming, AllFolders: true})
	if err != nil {
		t.Fatal(err)
	}
	if sub.ID == "" || calls != 2 || len(fs.delays) != 1 || fs.delays[0] != 4*time.Second {
		t.Fatalf("sub %+v, calls %d, fs.delays %v", sub, calls, fs.delays)
	}
}

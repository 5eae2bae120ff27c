package syncengine

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
)

func TestEngine_PushConvergesByItself(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 4)
	events := make(chan Event, 1024)
	cfg := testConfig(events)
	cfg.Push = PushConfig{Listen: "127.0.0.1:0"}
	eng := startEngine(t, f, Mailbox{Mode: Push}, cfg)
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	f.step(150, 21)
	f.converge(ctx, 20*time.Second)
	if m := eng.Metrics(); m.Batches == 0 || m.Events == 0 || m.Recoveries != 0 {
		t.Fatalf("metrics %+v", m)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestEngine_PushNeedsAListener(t *testing.T) {
	f := newFixture(t, 0, 0)
	eng, err := New(f.store, testConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.AddMailbox(context.Background(), Mailbox{Address: testAddr, Client: f.client(), Mode: Push}); err != ErrPushNotConfigured {
		t.Fatalf("AddMailbox: %v", err)
	}
}

// schemeRecorder records the URLs the fake posts push notifications to.
type schemeRecorder struct {
	rt   http.RoundTripper
	mu   sync.Mutex
	urls []string
}

func (r *schemeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.String())
	r.mu.Unlock()
	return r.rt.RoundTrip(req)
}

func (r *schemeRecorder) first() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.urls) == 0 {
		return ""
	}
	return r.urls[0]
}

// With Push.TLSConfig the engine serves its listener over TLS and
// subscribes with an https callback URL whose last segment is a secret of
// the subscription's own; a post on any other path is 404.
func TestEngine_PushOverTLS(t *testing.T) {
	ctx := context.Background()
	ts := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate and a client trusting it
	certs, client := ts.TLS.Certificates, ts.Client()
	ts.Close()
	rec := &schemeRecorder{rt: client.Transport}
	f := newFixture(t, 200, 3)
	if err := f.srv.SetNotificationOptions(ewstest.NotificationOptions{PushHTTPClient: &http.Client{Transport: rec, Timeout: 30 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	events := make(chan Event, 1024)
	cfg := testConfig(events)
	cfg.Push = PushConfig{Listen: "127.0.0.1:0", TLSConfig: &tls.Config{Certificates: certs}}
	eng := startEngine(t, f, Mailbox{Mode: Push}, cfg)
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	f.step(100, 5)
	f.converge(ctx, 20*time.Second)
	if m := eng.Metrics(); m.Events == 0 || m.Recoveries != 0 {
		t.Fatalf("metrics %+v", m)
	}
	u, err := url.Parse(rec.first())
	if err != nil || u.Scheme != "https" || !strings.HasPrefix(u.Path, PushPath) || len(u.Path) < len(PushPath)+40 {
		t.Fatalf("callback URL %q", rec.first())
	}
	// Posts on other paths are 404, over TLS too.
	// One character of the secret changed (to a different one: the secret
	// may well end in "x").
	last := "x"
	if strings.HasSuffix(u.Path, last) {
		last = "y"
	}
	for _, p := range []string{PushPath, PushPath + "guess", u.Path[:len(u.Path)-1] + last, u.Path + "/x"} {
		resp, err := client.Post("https://"+u.Host+p, "text/xml", strings.NewReader("<x/>"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	// Plain HTTP reaches nothing.
	if resp, err := http.Post("http://"+u.Host+u.Path, "text/xml", strings.NewReader("<x/>")); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered 200")
		}
	}
	if m := eng.Metrics(); m.Recoveries != 0 {
		t.Fatalf("forged posts made the engine recover: %+v", m)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// pushAnswers records, per callback URL, the answers the push listener
// gave the fake's posts.
type pushAnswers struct {
	rt http.RoundTripper
	mu sync.Mutex
	by map[string][]string // URL -> "200 Unsubscribe", "200 OK", "404", ...
}

func (r *pushAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	answer := strconv.Itoa(resp.StatusCode)
	for _, s := range []string{"OK", "Unsubscribe"} {
		if bytes.Contains(body, []byte(">"+s+"</m:SubscriptionStatus>")) {
			answer += " " + s
		}
	}
	r.mu.Lock()
	r.by[req.URL.String()] = append(r.by[req.URL.String()], answer)
	r.mu.Unlock()
	return resp, err
}

func (r *pushAnswers) of(u string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.by[u])
}

func (r *pushAnswers) urls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Keys(r.by))
}

// A restarted engine ends the push subscription the earlier run stored:
// the server's next post on the old callback URL is answered Unsubscribe
// (no operation ends a push subscription), after which the server has
// only the new run's subscription. Forged posts still change nothing: the
// old path naming another subscription, or another path, is 404.
func TestEngine_PushRestartRetiresStoredSubscription(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 100, 2)
	rec := &pushAnswers{rt: http.DefaultTransport, by: map[string][]string{}}
	if err := f.srv.SetNotificationOptions(ewstest.NotificationOptions{PushHTTPClient: &http.Client{Transport: rec, Timeout: 30 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a port both runs listen on
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := func(events chan Event) Config {
		c := testConfig(events)
		c.Push = PushConfig{Listen: addr}
		return c
	}

	events := make(chan Event, 1024)
	eng := startEngine(t, f, Mailbox{Mode: Push}, cfg(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	f.step(20, 3)
	f.converge(ctx, 20*time.Second)
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := f.store.MailboxState(ctx, localstore.Mailbox(testAddr))
	if err != nil {
		t.Fatal(err)
	}
	old := st.Subscription
	if old.Kind != localstore.Push || old.ID == "" || old.CallbackDigest == "" {
		t.Fatalf("stored subscription %+v", old)
	}
	if n := f.srv.NotificationStats().Subscriptions; n != 1 {
		t.Fatalf("%d subscriptions on the server after the first run, want its 1", n)
	}
	oldURLs := rec.urls()
	if len(oldURLs) != 1 || strings.Contains(oldURLs[0], old.CallbackDigest) {
		t.Fatalf("first run's callback URLs %q", oldURLs)
	}
	oldURL := oldURLs[0]

	f.reopen()
	events2 := make(chan Event, 1024)
	startEngine(t, f, Mailbox{Mode: Push}, cfg(events2))
	waitEvent(t, events2, EventRecovery, 20*time.Second)
	// Forged posts while the old subscription is retiring.
	u, _ := url.Parse(oldURL)
	for name, c := range map[string]struct{ path, sub string }{
		"old path, another subscription": {u.Path, "AnotherSubscription"},
		"another path, the stored id":    {u.Path[:len(u.Path)-3] + "abc", old.ID},
	} {
		resp, err := http.Post("http://"+u.Host+c.path, "text/xml; charset=utf-8", bytes.NewReader(statusPost(c.sub)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404", name, resp.StatusCode)
		}
	}
	// Activity: the server posts to both subscriptions.
	f.step(10, 4)
	f.converge(ctx, 20*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for f.srv.NotificationStats().Subscriptions != 1 || len(rec.of(oldURL)) == 1 {
		if time.Now().After(deadline) {
			t.Fatalf("old URL answers %q, %d subscriptions on the server", rec.of(oldURL), f.srv.NotificationStats().Subscriptions)
		}
		time.Sleep(10 * time.Millisecond) // polling the fake's state, not synchronising
	}
	answers := rec.of(oldURL)
	if got := answers[len(answers)-1]; got != "200 Unsubscribe" {
		t.Fatalf("old URL answered %q", answers)
	}
	st, _ = f.store.MailboxState(ctx, localstore.Mailbox(testAddr))
	if st.Subscription.ID == old.ID || st.Subscription.CallbackDigest == old.CallbackDigest {
		t.Fatalf("the store still names the old subscription: %+v", st.Subscription)
	}
}

// statusPost is a SendNotification post with a StatusEvent for sub.
func statusPost(sub string) []byte {
	return []byte(`<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ` +
		`xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">` +
		`<soap:Body><m:SendNotification><m:ResponseMessages><m:SendNotificationResponseMessage ResponseClass="Success">` +
		`<m:ResponseCode>NoError</m:ResponseCode><m:Notification><t:SubscriptionId>` + sub + `</t:SubscriptionId>` +
		`<t:PreviousWatermark>AQAAAA==</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>` +
		`<t:StatusEvent><t:Watermark>AQAAAA==</t:Watermark></t:StatusEvent></m:Notification>` +
		`</m:SendNotificationResponseMessage></m:ResponseMessages></m:SendNotification></soap:Body></soap:Envelope>`)
}

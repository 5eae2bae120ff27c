package syncengine

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest"
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
	for _, p := range []string{PushPath, PushPath + "guess", u.Path[:len(u.Path)-1] + "x", u.Path + "/x"} {
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

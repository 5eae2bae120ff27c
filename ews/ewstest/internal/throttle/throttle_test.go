package throttle

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest/internal/authn"
)

const streamingBody = `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Body>
<m:GetStreamingEvents><m:SubscriptionIds/></m:GetStreamingEvents></soap:Body></soap:Envelope>`

const getItemBody = `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Body>
<m:GetItem><m:ItemIds/></m:GetItem></soap:Body></soap:Envelope>`

// blocking is a handler that reports entry and waits for release; it
// echoes the body it read so tests see that peeking consumed nothing.
type blocking struct {
	entered chan string
	release chan struct{}
}

func (b *blocking) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u, _ := authn.UserFromContext(r.Context())
	b.entered <- u
	<-b.release
	w.Write(body)
}

// asUser sets the user from the X-Test-User header, standing in for authn.
func asUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-Test-User"); u != "" {
			r = r.WithContext(authn.WithUser(r.Context(), u))
		}
		next.ServeHTTP(w, r)
	})
}

type result struct {
	code int
	body string
}

func send(srv *httptest.Server, user, body string) result {
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(body))
	req.Header.Set("X-Test-User", user)
	resp, err := srv.Client().Do(req)
	if err != nil {
		return result{code: -1, body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, string(b)}
}

type fault struct {
	Body struct {
		Fault struct {
			Code   string `xml:"faultcode"`
			String string `xml:"faultstring"`
			Detail struct {
				ResponseCode string `xml:"ResponseCode"`
				Message      string `xml:"Message"`
				Values       []struct {
					Name  string `xml:"Name,attr"`
					Value string `xml:",chardata"`
				} `xml:"MessageXml>Value"`
			} `xml:"detail"`
		} `xml:"Fault"`
	} `xml:"Body"`
}

func checkBusy(t *testing.T, r result, backoffMS string) {
	t.Helper()
	if r.code != http.StatusInternalServerError {
		t.Fatalf("status %d (%s), want 500", r.code, r.body)
	}
	var f fault
	if err := xml.Unmarshal([]byte(r.body), &f); err != nil {
		t.Fatalf("fault does not parse: %v\n%s", err, r.body)
	}
	d := f.Body.Fault.Detail
	if f.Body.Fault.Code != "a:ErrorServerBusy" || d.ResponseCode != "ErrorServerBusy" || d.Message == "" {
		t.Fatalf("fault %+v", f)
	}
	if len(d.Values) != 1 || d.Values[0].Name != "BackOffMilliseconds" || d.Values[0].Value != backoffMS {
		t.Fatalf("MessageXml values %+v, want BackOffMilliseconds=%s", d.Values, backoffMS)
	}
}

func TestLimiter_ConcurrentLimit(t *testing.T) {
	h := &blocking{entered: make(chan string, 10), release: make(chan struct{})}
	l, err := New(Config{MaxConcurrent: 2, BackOff: 1500 * time.Millisecond}, h)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(asUser(l))
	defer srv.Close()

	results := make(chan result, 10)
	var wg sync.WaitGroup
	start := func(user, body string) {
		wg.Add(1)
		go func() { defer wg.Done(); results <- send(srv, user, body) }()
	}
	start("alice", getItemBody)
	start("alice", getItemBody)
	<-h.entered
	<-h.entered
	if n := l.InFlight("alice"); n != 2 {
		t.Fatalf("in flight %d", n)
	}
	// Alice is at her limit: refused at once, without reaching the handler.
	checkBusy(t, send(srv, "alice", getItemBody), "1500")
	// Streaming requests are not counted.
	start("alice", streamingBody)
	if u := <-h.entered; u != "alice" {
		t.Fatalf("streaming request entered as %q", u)
	}
	// Another user has her own budget.
	start("bob", getItemBody)
	if u := <-h.entered; u != "bob" {
		t.Fatalf("entered as %q", u)
	}
	close(h.release)
	wg.Wait()
	close(results)
	for r := range results {
		if r.code != 200 || (r.body != getItemBody && r.body != streamingBody) {
			t.Fatalf("admitted request: %d %q", r.code, r.body)
		}
	}
	if l.Refused() != 1 || l.InFlight("alice") != 0 {
		t.Fatalf("refused %d, in flight %d", l.Refused(), l.InFlight("alice"))
	}
}

func TestLimiter_BusyBurst(t *testing.T) {
	h := &blocking{entered: make(chan string, 10), release: make(chan struct{})}
	close(h.release)
	l, _ := New(Config{}, nil)
	srv := httptest.NewServer(asUser(l.Wrap(h)))
	defer srv.Close()
	l.Busy(2)
	checkBusy(t, send(srv, "alice", getItemBody), "5000")
	if r := send(srv, "alice", streamingBody); r.code != 200 {
		t.Fatalf("streaming during burst: %d", r.code)
	}
	<-h.entered
	checkBusy(t, send(srv, "bob", getItemBody), "5000")
	if r := send(srv, "alice", getItemBody); r.code != 200 || r.body != getItemBody {
		t.Fatalf("after burst: %d %q", r.code, r.body)
	}
}

func TestLimiter_Latency(t *testing.T) {
	var mu sync.Mutex
	var slept []time.Duration
	fail := false
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		slept = append(slept, d)
		if fail {
			return context.Canceled
		}
		return nil
	}
	calls := 0
	l, _ := New(Config{Latency: 250 * time.Millisecond, Sleep: sleep}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ }))
	srv := httptest.NewServer(asUser(l))
	defer srv.Close()
	send(srv, "alice", getItemBody)
	send(srv, "alice", streamingBody)
	if len(slept) != 2 || slept[0] != 250*time.Millisecond || calls != 2 {
		t.Fatalf("slept %v, calls %d", slept, calls)
	}
	l.SetLatency(0)
	send(srv, "alice", getItemBody)
	if len(slept) != 2 || calls != 3 {
		t.Fatalf("latency 0 still slept: %v", slept)
	}
	// A request whose wait is cut short is not handled.
	l.SetLatency(time.Second)
	fail = true
	send(srv, "alice", getItemBody)
	if calls != 3 {
		t.Fatal("handler ran after an interrupted wait")
	}
}

func TestRealSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := RealSleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("RealSleep on a cancelled ctx = %v", err)
	}
	if err := RealSleep(context.Background(), time.Nanosecond); err != nil {
		t.Fatal(err)
	}
}

func TestIsGetStreamingEvents(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{streamingBody, true},
		{getItemBody, false},
		{`<GetStreamingEvents xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"/>`, true},
		{`<m:GetStreamingEventsResponse/>`, false},
		{"", false},
		{strings.Repeat(" ", peekSize+10) + "<m:GetStreamingEvents>", false},
	}
	for i, tt := range tests {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
		if got := IsGetStreamingEvents(r); got != tt.want {
			t.Errorf("%d: got %v", i, got)
		}
		b, _ := io.ReadAll(r.Body)
		if string(b) != tt.body {
			t.Errorf("%d: body changed by peeking", i)
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	for _, c := range []Config{{MaxConcurrent: -1}, {BackOff: -1}, {Latency: -1}} {
		if _, err := New(c, http.NotFoundHandler()); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v", c, err)
		}
	}
}

package notify

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
)

// listener is a push subscriber: it records each SendNotification and
// answers with what answer returns.
type listener struct {
	srv    *httptest.Server
	mu     sync.Mutex
	answer func(n int) (code int, status string)
	posts  chan pushedNotification
	hold   chan struct{} // when not nil, each POST waits for a token
}

type pushedNotification struct {
	SubscriptionID    string
	PreviousWatermark string
	MoreEvents        bool
	Created           []string // ItemIds of CreatedEvents
	Watermarks        []string // their watermarks
	Status            []string // watermarks of StatusEvents
	contentType       string
	action            string
}

type sendNotification struct {
	N struct {
		SubscriptionID    string `xml:"SubscriptionId"`
		PreviousWatermark string `xml:"PreviousWatermark"`
		MoreEvents        bool   `xml:"MoreEvents"`
		Created           []struct {
			Watermark string `xml:"Watermark"`
			ItemID    struct {
				ID string `xml:"Id,attr"`
			} `xml:"ItemId"`
		} `xml:"CreatedEvent"`
		Status []struct {
			Watermark string `xml:"Watermark"`
		} `xml:"StatusEvent"`
	} `xml:"Body>SendNotification>ResponseMessages>SendNotificationResponseMessage>Notification"`
}

func parsePush(body []byte) (pushedNotification, error) {
	var env sendNotification
	if err := xml.Unmarshal(body, &env); err != nil {
		return pushedNotification{}, err
	}
	p := pushedNotification{SubscriptionID: env.N.SubscriptionID, PreviousWatermark: env.N.PreviousWatermark, MoreEvents: env.N.MoreEvents}
	for _, c := range env.N.Created {
		p.Created = append(p.Created, c.ItemID.ID)
		p.Watermarks = append(p.Watermarks, c.Watermark)
	}
	for _, st := range env.N.Status {
		p.Status = append(p.Status, st.Watermark)
	}
	return p, nil
}

func newListener(t *testing.T, answer func(n int) (int, string)) *listener {
	l := &listener{answer: answer, posts: make(chan pushedNotification, 100)}
	n := 0
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p, err := parsePush(body)
		if err != nil {
			t.Errorf("push body does not parse: %v", err)
		}
		p.contentType, p.action = r.Header.Get("Content-Type"), r.Header.Get("SOAPAction")
		l.mu.Lock()
		n++
		code, status := l.answer(n)
		hold := l.hold
		l.mu.Unlock()
		l.posts <- p
		if hold != nil {
			<-hold
		}
		w.WriteHeader(code)
		io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>`+
			`<SendNotificationResult xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"><SubscriptionStatus>`+status+
			`</SubscriptionStatus></SendNotificationResult></s:Body></s:Envelope>`)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

func ok(int) (int, string) { return 200, "OK" }

func pushBroker(t *testing.T, o Options) (*Broker, *debouncetest.Clock, chan PushResult) {
	results := make(chan PushResult, 100)
	o.OnPush = func(r PushResult) { results <- r }
	b, clk := newTestBroker(t, &o)
	return b, clk, results
}

func pushReq(url string, freq time.Duration) SubscribeRequest {
	return SubscribeRequest{Kind: Push, Principal: alice, Mailbox: alice, AllFolders: true, EventTypes: allKinds, StatusFrequency: freq, URL: url}
}

func wait[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived")
		panic("unreachable")
	}
}

func TestPush_DeliveryAndStatus(t *testing.T) {
	l := newListener(t, ok)
	b, clk, results := pushBroker(t, Options{})
	sub := mustSubscribe(t, b, pushReq(l.srv.URL+"/ews", 5*time.Minute))
	// The first POST is immediate: a StatusEvent.
	p := wait(t, l.posts)
	if p.SubscriptionID != sub.ID || p.PreviousWatermark != sub.Watermark || len(p.Status) != 1 || p.Status[0] != sub.Watermark {
		t.Fatalf("first post = %+v", p)
	}
	if p.contentType != "text/xml; charset=utf-8" || p.action != NSMessages+"/SendNotification" {
		t.Fatalf("headers %q %q", p.contentType, p.action)
	}
	if r := wait(t, results); r.Err != nil || r.Status != "OK" {
		t.Fatalf("result = %+v", r)
	}
	b.Publish(alice, created("I1", inbox))
	p = wait(t, l.posts)
	if len(p.Created) != 1 || p.Created[0] != "I1" || p.PreviousWatermark != sub.Watermark || p.MoreEvents {
		t.Fatalf("event post = %+v", p)
	}
	wait(t, results)
	last := p.Watermarks[0]
	// Idle for StatusFrequency: a StatusEvent carrying the last watermark.
	clk.Advance(5*time.Minute - time.Second)
	select {
	case p := <-l.posts:
		t.Fatalf("early status: %+v", p)
	default:
	}
	clk.Advance(time.Second)
	p = wait(t, l.posts)
	if len(p.Status) != 1 || p.Status[0] != last || p.PreviousWatermark != last {
		t.Fatalf("status post = %+v", p)
	}
	wait(t, results)
	// GetEvents and Unsubscribe refuse push ids.
	_, err := b.GetEvents(context.Background(), GetEventsRequest{Principal: alice, SubscriptionID: sub.ID, Watermark: last})
	wantErr(t, err, ErrInvalidPullSubscriptionID)
	wantErr(t, b.Unsubscribe(context.Background(), UnsubscribeRequest{Principal: alice, SubscriptionID: sub.ID}), ErrInvalidPullSubscriptionID)
}

func TestPush_OneAtATimeAndPaging(t *testing.T) {
	l := newListener(t, ok)
	l.hold = make(chan struct{})
	t.Cleanup(func() { close(l.hold) }) // before the server's Close
	b, _, results := pushBroker(t, Options{})
	sub := mustSubscribe(t, b, pushReq(l.srv.URL, 30*time.Minute))
	wait(t, l.posts) // status, held
	for i := range 60 {
		b.Publish(alice, created("I"+string(rune('A'+i%26))+string(rune('0'+i/26)), inbox))
	}
	select {
	case p := <-l.posts:
		t.Fatalf("posted while the previous POST was unanswered: %+v", p)
	default:
	}
	l.hold <- struct{}{}
	wait(t, results)
	p := wait(t, l.posts)
	if len(p.Created) != 50 || !p.MoreEvents || p.PreviousWatermark != sub.Watermark {
		t.Fatalf("first page: %d events more=%v", len(p.Created), p.MoreEvents)
	}
	l.hold <- struct{}{}
	wait(t, results)
	p2 := wait(t, l.posts)
	if len(p2.Created) != 10 || p2.MoreEvents || p2.PreviousWatermark != p.Watermarks[49] {
		t.Fatalf("second page: %d events more=%v chain=%v", len(p2.Created), p2.MoreEvents, p2.PreviousWatermark == p.Watermarks[49])
	}
	l.hold <- struct{}{}
	wait(t, results)
}

func TestPush_UnsubscribeAnswer(t *testing.T) {
	l := newListener(t, func(int) (int, string) { return 200, "Unsubscribe" })
	b, _, results := pushBroker(t, Options{})
	mustSubscribe(t, b, pushReq(l.srv.URL, 30*time.Minute))
	if r := wait(t, results); !r.Deleted || r.Status != "Unsubscribe" {
		t.Fatalf("result = %+v", r)
	}
	if s := b.Stats(); s.Subscriptions != 0 {
		t.Fatalf("still subscribed: %+v", s)
	}
}

func TestPush_RetrySchedules(t *testing.T) {
	cases := []struct {
		name     string
		schedule RetrySchedule
		freq     time.Duration
		want     []time.Duration
	}{
		{"doubling 30min", RetryDoubling, 30 * time.Minute, []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute}},
		{"doubling 1min", RetryDoubling, time.Minute, []time.Duration{30 * time.Second, time.Minute}},
		{"linear 5min", RetryLinear, 5 * time.Minute, []time.Duration{5 * time.Minute, 10 * time.Minute, 15 * time.Minute}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newListener(t, func(int) (int, string) { return 500, "" })
			b, clk, results := pushBroker(t, Options{PushRetry: c.schedule})
			mustSubscribe(t, b, pushReq(l.srv.URL, c.freq))
			for i, d := range c.want {
				wait(t, l.posts)
				r := wait(t, results)
				if r.Err == nil || r.Deleted || r.Retry != d {
					t.Fatalf("attempt %d: %+v, want retry after %v", i, r, d)
				}
				clk.Advance(d - time.Millisecond)
				select {
				case <-l.posts:
					t.Fatalf("retry %d came early", i)
				default:
				}
				clk.Advance(time.Millisecond)
			}
			wait(t, l.posts)
			if r := wait(t, results); !r.Deleted || r.Retry != 0 {
				t.Fatalf("last attempt: %+v", r)
			}
			if s := b.Stats(); s.Subscriptions != 0 {
				t.Fatalf("not deleted: %+v", s)
			}
			if n, _ := clk.NextDue(); !n.IsZero() && clk.Pending() > 0 {
				t.Fatalf("timers left: %d", clk.Pending())
			}
		})
	}
}

func TestPush_ListenerDownPastTheSchedule(t *testing.T) {
	l := newListener(t, ok)
	url := l.srv.URL
	b, clk, results := pushBroker(t, Options{})
	sub := mustSubscribe(t, b, pushReq(url, 2*time.Minute))
	wait(t, l.posts)
	wait(t, results)
	l.srv.Close() // the listener goes down
	b.Publish(alice, created("I1", inbox))
	var retries []time.Duration
	for {
		r := wait(t, results)
		if r.Err == nil {
			t.Fatalf("a POST to a closed listener succeeded: %+v", r)
		}
		if r.Deleted {
			break
		}
		retries = append(retries, r.Retry)
		clk.Advance(r.Retry)
	}
	if len(retries) != 3 || retries[0] != 30*time.Second || retries[2] != 2*time.Minute {
		t.Fatalf("retries = %v", retries)
	}
	_, err := b.GetEvents(context.Background(), GetEventsRequest{Principal: alice, SubscriptionID: sub.ID})
	wantErr(t, err, ErrSubscriptionNotFound)
}

func TestPush_RecoversAfterFailures(t *testing.T) {
	l := newListener(t, func(n int) (int, string) {
		if n == 2 || n == 3 {
			return 503, ""
		}
		return 200, "OK"
	})
	b, clk, results := pushBroker(t, Options{})
	mustSubscribe(t, b, pushReq(l.srv.URL, 30*time.Minute))
	wait(t, l.posts)
	wait(t, results)
	b.Publish(alice, created("I1", inbox))
	wait(t, l.posts)
	r := wait(t, results) // 503
	b.Publish(alice, created("I2", inbox))
	select {
	case <-l.posts:
		t.Fatal("sent while a retry was pending")
	default:
	}
	clk.Advance(r.Retry)
	wait(t, l.posts)
	r = wait(t, results) // 503 again
	if r.Retry != time.Minute {
		t.Fatalf("second retry after %v", r.Retry)
	}
	clk.Advance(r.Retry)
	p := wait(t, l.posts)
	if strings.Join(p.Created, ",") != "I1,I2" {
		t.Fatalf("retry carried %v", p.Created)
	}
	if r := wait(t, results); r.Err != nil || r.Deleted {
		t.Fatalf("result = %+v", r)
	}
	// The failure count restarts: the next failure waits 30 s again... and
	// StatusFrequency later an idle StatusEvent follows.
	clk.Advance(30 * time.Minute)
	if p := wait(t, l.posts); len(p.Status) != 1 {
		t.Fatalf("status = %+v", p)
	}
	wait(t, results)
}

func TestParseSubscriptionStatus(t *testing.T) {
	for body, want := range map[string]string{
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:SendNotificationResult xmlns:m="` + NSMessages + `"><m:SubscriptionStatus>OK</m:SubscriptionStatus></m:SendNotificationResult></s:Body></s:Envelope>`: "OK",
		`<Envelope><Body><SendNotificationResult xmlns="` + NSMessages + `"><SubscriptionStatus>Unsubscribe</SubscriptionStatus></SendNotificationResult></Body></Envelope>`:                                                              "Unsubscribe",
		`<Envelope><Body><SendNotificationResult><SubscriptionStatus>OK</SubscriptionStatus></SendNotificationResult></Body></Envelope>`:                                                                                                  "",
		`<m:SubscriptionStatus xmlns:m="` + NSMessages + `">Maybe</m:SubscriptionStatus>`:                                                                                                                                                 "",
		`not xml`: "",
	} {
		got, err := parseSubscriptionStatus(strings.NewReader(body))
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%s: got %q, %v; want %q", body, got, err, want)
		}
	}
}

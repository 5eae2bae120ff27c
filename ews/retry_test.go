package ews

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
)

// scripted serves one (status, headers, body) per request, repeating the
// last one.
type scripted struct {
	mu    sync.Mutex
	steps []step
	n     int
}

type step struct {
	status int
	header http.Header
	body   []byte
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	s.mu.Unlock()
	for k, v := range st.header {
		w.Header()[k] = v
	}
	w.WriteHeader(st.status)
	w.Write(st.body)
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// fakeSleeper records the client's back-off waits. The client runs on a
// fake clock that moves to each wait's end as soon as it starts, unless
// hook (called with the wait's number, from 1) returns an error: then the
// wait is left pending (the hook cancels the call's context).
type fakeSleeper struct {
	mu     sync.Mutex
	delays []time.Duration
	hook   func(n int) error
}

// clock returns the fake clock, advanced until the test ends.
func (f *fakeSleeper) clock(t testing.TB) *debouncetest.Clock {
	clk := debouncetest.NewClock(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	t.Cleanup(clk.AutoAdvance(func(d time.Duration) bool {
		f.mu.Lock()
		f.delays = append(f.delays, d)
		n := len(f.delays)
		f.mu.Unlock()
		return f.hook == nil || f.hook(n) == nil
	}))
	return clk
}

func newRetryClient(t *testing.T, h http.Handler, fs *fakeSleeper, attempts int) *Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, &Options{Logger: slog.New(slog.DiscardHandler), Clock: fs.clock(t), Retry: RetryPolicy{
		MaxAttempts: attempts,
		Jitter:      func(d time.Duration) time.Duration { return d }, // deterministic
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func getOne(ctx context.Context, c *Client) ([]ItemResult, error) {
	return c.GetItem(ctx, GetItemRequest{Items: []ItemID{{ID: "AAMkAGYzZjZmRiZTQ1AEYAAAAAAB4ksAAA="}}})
}

func TestRetry_BackOff(t *testing.T) {
	okBody := []byte(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Message><t:ItemId Id="AAMkAGYzZjZmRiZTQ1AEYAAAAAAB4ksAAA=" ChangeKey="CQ"/><t:Subject>ok</t:Subject></t:Message></m:Items></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>`)
	ok := step{status: 200, body: okBody}
	fault := step{status: 500, body: readTestdata(t, "fault", "serverbusy.response.xml")}
	inMsg := step{status: 200, body: readTestdata(t, "getitem", "busy.response.xml")}
	inner := step{status: 200, body: readTestdata(t, "getitem", "innerbusy.response.xml")}
	unavailable := func(ra string) step {
		h := http.Header{}
		if ra != "" {
			h.Set("Retry-After", ra)
		}
		return step{status: 503, header: h, body: []byte("<html>Service Unavailable</html>")}
	}
	for _, tc := range []struct {
		name   string
		steps  []step
		delays []time.Duration
	}{
		{"fault hint", []step{fault, ok}, []time.Duration{30 * time.Second}},
		{"message hint", []step{inMsg, ok}, []time.Duration{30 * time.Second}},
		{"inner ErrorServerBusy", []step{inner, ok}, []time.Duration{2500 * time.Millisecond}},
		{"503 Retry-After", []step{unavailable("7"), ok}, []time.Duration{7 * time.Second}},
		{"503 exponential", []step{unavailable(""), unavailable(""), unavailable(""), ok},
			[]time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeSleeper{}
			sc := &scripted{steps: tc.steps}
			c := newRetryClient(t, sc, fs, 4)
			rs, err := getOne(context.Background(), c)
			if err != nil || rs[0].Err != nil || rs[0].Item.Subject != "ok" {
				t.Fatalf("results %+v, err %v", rs, err)
			}
			if len(fs.delays) != len(tc.delays) {
				t.Fatalf("delays %v, want %v", fs.delays, tc.delays)
			}
			for i := range tc.delays {
				if fs.delays[i] != tc.delays[i] {
					t.Errorf("delay %d = %v, want %v", i, fs.delays[i], tc.delays[i])
				}
			}
			if sc.count() != len(tc.steps) {
				t.Errorf("%d requests, want %d", sc.count(), len(tc.steps))
			}
		})
	}
}

func TestRetry_Bounded(t *testing.T) {
	fs := &fakeSleeper{}
	sc := &scripted{steps: []step{{status: 200, body: readTestdata(t, "getitem", "busy.response.xml")}}}
	c := newRetryClient(t, sc, fs, 3)
	rs, err := getOne(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	// After the last attempt the busy message is the item's own result.
	if !errors.Is(rs[0].Err, ErrServerBusy) || sc.count() != 3 || len(fs.delays) != 2 {
		t.Fatalf("err %v, %d requests, delays %v", rs[0].Err, sc.count(), fs.delays)
	}
	var re *ResponseError
	if !errors.As(rs[0].Err, &re) || re.BackOff != 30*time.Second || !re.IsTransient() {
		t.Fatalf("err = %#v", rs[0].Err)
	}

	fs2 := &fakeSleeper{}
	sc2 := &scripted{steps: []step{{status: 503}}}
	c2 := newRetryClient(t, sc2, fs2, 2)
	_, err = getOne(context.Background(), c2)
	if !errors.Is(err, ErrServiceUnavailable) || sc2.count() != 2 {
		t.Fatalf("err %v after %d requests", err, sc2.count())
	}
}

func TestRetry_ContextCancelStopsBackOff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fs := &fakeSleeper{hook: func(int) error { cancel(); return ctx.Err() }}
	sc := &scripted{steps: []step{{status: 500, body: readTestdata(t, "fault", "serverbusy.response.xml")}}}
	c := newRetryClient(t, sc, fs, 5)
	_, err := getOne(ctx, c)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrServerBusy) {
		t.Fatalf("err = %v, want canceled after ErrServerBusy", err)
	}
	if sc.count() != 1 {
		t.Fatalf("%d requests after cancel, want 1", sc.count())
	}
}

func TestRetryPolicy_DelayCapsAndJitter(t *testing.T) {
	p := RetryPolicy{}.withDefaults()
	for next := 2; next < 12; next++ {
		d := p.delay(next, 0)
		if d < 5*time.Second || d > 60*time.Second {
			t.Fatalf("delay(%d) = %v outside [5s, 60s]", next, d)
		}
	}
	if d := p.delay(2, 10*time.Hour); d != 5*time.Minute {
		t.Fatalf("hint not capped: %v", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"120": 2 * time.Minute, "0": 0, "-3": 0, "soon": 0,
		"Wed, 01 May 2024 10:00:30 GMT": 30 * time.Second,
		"Wed, 01 May 2024 09:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRetry_TooManyRequests(t *testing.T) {
	fs := &fakeSleeper{}
	h := http.Header{"Retry-After": {"3"}}
	okBody := readTestdata(t, "getitem", "batch.response.xml")
	sc := &scripted{steps: []step{{status: 429, header: h}, {status: 200, body: okBody}}}
	c := newRetryClient(t, sc, fs, 4)
	rs, err := c.GetItem(context.Background(), GetItemRequest{Items: []ItemID{{ID: "a"}, {ID: "b"}, {ID: "c"}}})
	if err != nil || len(rs) != 3 || len(fs.delays) != 1 || fs.delays[0] != 3*time.Second {
		t.Fatalf("err %v, delays %v", err, fs.delays)
	}
}

package ews

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// dropFirst closes the connection without an answer for the first n
// requests, then serves next.
func dropFirst(n int32, next http.Handler) (http.Handler, *atomic.Int32) {
	var seen atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) <= n {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		next.ServeHTTP(w, r)
	}), &seen
}

func TestClient_NetworkErrorRetriedForIdempotentCalls(t *testing.T) {
	h, seen := dropFirst(2, soapOK(t))
	fs := &fakeSleeper{}
	c := newRetryClient(t, h, fs, 4)
	res, err := c.GetFolder(context.Background(), GetFolderRequest{Folders: []FolderRef{DistinguishedFolder("inbox"), {ID: "x"}}})
	if err != nil {
		t.Fatalf("GetFolder after two dropped connections: %v", err)
	}
	if len(res) == 0 || res[0].Err != nil {
		t.Fatalf("results %+v", res)
	}
	if got := seen.Load(); got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
	// NetworkBaseDelay (1 s) doubling, jitter disabled by newRetryClient.
	if want := []time.Duration{time.Second, 2 * time.Second}; len(fs.delays) != 2 || fs.delays[0] != want[0] || fs.delays[1] != want[1] {
		t.Errorf("delays %v, want %v", fs.delays, want)
	}
}

func TestClient_NetworkErrorTypedAndBounded(t *testing.T) {
	h, seen := dropFirst(100, soapOK(t))
	fs := &fakeSleeper{}
	c := newRetryClient(t, h, fs, 3)
	_, err := c.GetFolder(context.Background(), GetFolderRequest{Folders: []FolderRef{DistinguishedFolder("inbox"), {ID: "x"}}})
	var ne *NetworkError
	if !errors.As(err, &ne) || ne.Op != "GetFolder" || !ne.IsTransient() {
		t.Fatalf("err = %#v (%v), want a transient *NetworkError for GetFolder", err, err)
	}
	if got := seen.Load(); got != 3 {
		t.Errorf("requests = %d, want MaxAttempts 3", got)
	}
}

func TestClient_NetworkErrorNotRetriedForSubscribe(t *testing.T) {
	h, seen := dropFirst(100, soapOK(t))
	fs := &fakeSleeper{}
	c := newRetryClient(t, h, fs, 4)
	_, err := c.Subscribe(context.Background(), &SubscribeRequest{Kind: Streaming, AllFolders: true})
	var ne *NetworkError
	if !errors.As(err, &ne) || !ne.IsTransient() {
		t.Fatalf("err = %v, want a transient *NetworkError", err)
	}
	if got := seen.Load(); got != 1 || len(fs.delays) != 0 {
		t.Errorf("requests = %d, sleeps %v: Subscribe must not be resent (the server may have created it)", got, fs.delays)
	}
}

func TestClient_NetworkErrorAfterCancelIsNotTransient(t *testing.T) {
	h, seen := dropFirst(100, soapOK(t))
	ctx, cancel := context.WithCancel(context.Background())
	fs := &fakeSleeper{hook: func(int) error { cancel(); return context.Canceled }}
	c := newRetryClient(t, h, fs, 4)
	_, err := c.GetFolder(ctx, GetFolderRequest{Folders: []FolderRef{DistinguishedFolder("inbox"), {ID: "x"}}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := seen.Load(); got != 1 {
		t.Errorf("requests = %d after cancel during back-off, want 1", got)
	}
	cancel()
	_, err = c.GetFolder(ctx, GetFolderRequest{Folders: []FolderRef{DistinguishedFolder("inbox"), {ID: "x"}}})
	var ne *NetworkError
	if errors.As(err, &ne) && ne.IsTransient() {
		t.Fatalf("a call on a cancelled context is reported transient: %v", err)
	}
}

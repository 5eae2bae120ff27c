package ews

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Golden cases of the notification operations, run through the core's
// harness: each replays testdata/ews/notifications/<name>.response.xml,
// compares the request sent with <name>.request.xml byte for byte and the
// decoded result with <name>.golden.json (go test -update rewrites them).
func notificationGoldenCases() []goldenCase {
	none := func(t *testing.T, res any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	isErr := func(code Code) func(t *testing.T, res any, err error) {
		return func(t *testing.T, res any, err error) {
			t.Helper()
			var re *ResponseError
			if !errors.Is(err, code) || !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *ResponseError %s", err, code)
			}
		}
	}
	return []goldenCase{
		{dir: "notifications", name: "subscribe_pull",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Subscribe(ctx, &SubscribeRequest{Kind: Pull, AllFolders: true, Timeout: 30 * time.Minute,
					EventTypes: []EventType{EventCreated, EventDeleted, EventModified, EventMoved, EventCopied}})
			}, check: none},
		{dir: "notifications", name: "subscribe_push",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Subscribe(ctx, &SubscribeRequest{Kind: Push, DistinguishedFolders: []string{"inbox"},
					EventTypes: []EventType{EventNewMail, EventModified}, StatusFrequency: 5 * time.Minute,
					URL: "https://listener.example.com/ews", Watermark: "AAAAAMAGAAAAAAAAAQ=="})
			}, check: none},
		{dir: "notifications", name: "subscribe_streaming",
			opts: &Options{Impersonation: &Impersonation{SMTPAddress: "bob@example.com"}},
			call: func(ctx context.Context, c *Client) (any, error) {
				g := &AffinityGroup{Name: "db1-0", Anchor: "anchor@example.com"}
				return c.Subscribe(ctx, &SubscribeRequest{Kind: Streaming, AllFolders: true, Group: g})
			}, check: none},
		{dir: "notifications", name: "subscribe_invalid_watermark",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Subscribe(ctx, &SubscribeRequest{Kind: Pull, FolderIDs: []string{"AQApAH"}, Timeout: time.Minute, Watermark: "AAAAAAAAAAA="})
			}, check: isErr(ErrInvalidWatermark)},
		{dir: "notifications", name: "getevents",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetEvents(ctx, "f6bc657d-dde1-4f94-952d-143b95d6483d", "AAAAAMAGAAAAAAAAAQ==", nil)
			}, check: none},
		{dir: "notifications", name: "getevents_page1",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetEvents(ctx, "PULLSUB1", "WM0", nil)
			}, check: none},
		{dir: "notifications", name: "getevents_page2",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetEvents(ctx, "PULLSUB1", "WM3", nil)
			}, check: none},
		{dir: "notifications", name: "getevents_access_denied",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetEvents(ctx, "f6bc657d-dde1-4f94-952d-143b95d6483d", "AAAAAMAGAAAAAAAAAQ==", nil)
			}, check: isErr(ErrSubscriptionAccessDenied)},
		{dir: "notifications", name: "getevents_expired",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetEvents(ctx, "PULLSUB1", "WM9", nil)
			}, check: isErr(ErrExpiredSubscription)},
		{dir: "notifications", name: "unsubscribe",
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.Unsubscribe(ctx, "f6bc657d-dde1-4f94-952d-143b95d6483d", nil)
			}, check: none},
		{dir: "notifications", name: "unsubscribe_not_found",
			call: func(ctx context.Context, c *Client) (any, error) {
				return nil, c.Unsubscribe(ctx, "PULLSUB1", nil)
			}, check: isErr(ErrSubscriptionNotFound)},
	}
}

func TestNotificationGolden(t *testing.T) {
	for _, gc := range notificationGoldenCases() {
		runGolden(t, gc)
	}
}

// The streaming request and the decoded stream bodies.
func TestNotificationGolden_Streaming(t *testing.T) {
	body := readTestdata(t, "notifications", "getstreamingevents.response.xml")
	var mu sync.Mutex
	var first []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		if first == nil {
			first = b
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Write(body)
	}))
	defer srv.Close()
	c, err := New(srv.URL+"/EWS/Exchange.asmx", &Options{Retry: noRetry()})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.NewStreamingConnection(&StreamingOptions{Clock: newTestClock(), Group: &AffinityGroup{Name: "g", Anchor: "anchor@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	sc.Add("f6bc657d-dde1-4f94-952d-143b95d6483d", "SSUB2")
	sc.Start(context.Background())
	for range 3 {
		recv(t, sc) // the body's three notifications
	}
	sc.Close()
	mu.Lock()
	req := first
	mu.Unlock()
	compareGolden(t, filepath.Join(testdataDir, "notifications", "getstreamingevents.request.xml"), req)

	for _, name := range []string{"getstreamingevents", "getstreamingevents_error_ids", "getstreamingevents_invalid_subscription"} {
		sr := newStreamReader(bytes.NewReader(readTestdata(t, "notifications", name+".response.xml")))
		var msgs []*streamMessage
		for {
			m, err := sr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			msgs = append(msgs, m)
		}
		js, err := json.MarshalIndent(msgs, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		compareGolden(t, filepath.Join(testdataDir, "notifications", name+".golden.json"), append(js, '\n'))
	}
}

// The decoded push notifications.
func TestNotificationGolden_SendNotification(t *testing.T) {
	for _, name := range []string{"sendnotification_modified", "sendnotification_status"} {
		msgs, err := decodeSendNotification(readTestdata(t, "notifications", name+".request.xml"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		js, err := json.MarshalIndent(msgs, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		compareGolden(t, filepath.Join(testdataDir, "notifications", name+".golden.json"), append(js, '\n'))
	}
}

package ews

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// bodyTransport answers every request 200 with one body, so that a whole
// operation — transport, envelope, response message, payload — runs on
// arbitrary bytes without a network.
type bodyTransport struct{ body []byte }

func (t *bodyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"text/xml; charset=utf-8"}},
		Body:    io.NopCloser(bytes.NewReader(t.body)),
		Request: r}, nil
}

// fuzzClient returns a client whose every call gets body, with no
// retries.
func fuzzClient(t *testing.T, body []byte) *Client {
	c, err := New("https://ews.example.com/EWS/Exchange.asmx", &Options{
		HTTPClient: &http.Client{Transport: &bodyTransport{body}},
		Logger:     slog.New(slog.DiscardHandler),
		Retry:      RetryPolicy{MaxAttempts: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkOpErr fails unless err is a typed error an operation may return
// for a bad answer.
func checkOpErr(t *testing.T, err error) {
	t.Helper()
	var fe *FaultError
	var re *ResponseError
	if err != nil && !errors.Is(err, ErrMalformedResponse) && !errors.As(err, &fe) && !errors.As(err, &re) {
		t.Fatalf("untyped error: %v", err)
	}
}

// addNtfSeeds adds the notification golden responses whose names start
// with the prefixes, and the fault responses.
func addNtfSeeds(f *testing.F, prefixes ...string) {
	for _, p := range prefixes {
		for _, b := range ntfGoldenFiles(f, p) {
			f.Add(b)
		}
	}
	addSeeds(f, "fault")
}

const fuzzUnsubscribeResponse = `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">` +
	`<s:Body><m:UnsubscribeResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" ` +
	`xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>` +
	`<m:UnsubscribeResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>` +
	`</m:UnsubscribeResponseMessage></m:ResponseMessages></m:UnsubscribeResponse></s:Body></s:Envelope>`

// FuzzSubscribeResponse: Subscribe of each kind over any response body
// fails with a typed error or returns a subscription with an id (and a
// watermark for pull and push).
func FuzzSubscribeResponse(f *testing.F) {
	addNtfSeeds(f, "subscribe")
	reqs := []*SubscribeRequest{
		{Kind: Streaming, AllFolders: true},
		{Kind: Pull, AllFolders: true, Timeout: 30 * time.Minute},
		{Kind: Push, AllFolders: true, URL: "https://listener.example.com/push/x", StatusFrequency: time.Minute},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c := fuzzClient(t, body)
		for _, req := range reqs {
			sub, err := c.Subscribe(context.Background(), req)
			checkOpErr(t, err)
			if err != nil {
				continue
			}
			if sub.ID == "" || sub.Kind != req.Kind || req.Kind != Streaming && sub.Watermark == "" {
				t.Fatalf("%s: subscription %+v", req.Kind, sub)
			}
		}
	})
}

// FuzzGetEventsResponse: GetEvents over any response body fails with a
// typed error (a malformed notification matching both
// ErrMalformedResponse and ErrMalformedNotification) or returns a
// notification that names its subscription and whose events have their
// required parts.
func FuzzGetEventsResponse(f *testing.F) {
	addNtfSeeds(f, "getevents")
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := fuzzClient(t, body).GetEvents(context.Background(), "S1", "W0", nil)
		checkOpErr(t, err)
		if errors.Is(err, ErrMalformedNotification) && !errors.Is(err, ErrMalformedResponse) {
			t.Fatalf("malformed notification not a malformed response: %v", err)
		}
		if err != nil {
			return
		}
		if n.SubscriptionID == "" || len(n.Events) == 0 {
			t.Fatalf("notification %+v", n)
		}
		for _, e := range n.Events {
			if e.Type != EventStatus && (e.ItemID.ID == "" && e.FolderID.ID == "" || e.TimeStamp.IsZero()) {
				t.Fatalf("event without id or time: %+v", e)
			}
		}
	})
}

// FuzzUnsubscribeResponse: Unsubscribe over any response body succeeds
// or fails with a typed error.
func FuzzUnsubscribeResponse(f *testing.F) {
	f.Add([]byte(fuzzUnsubscribeResponse))
	addNtfSeeds(f, "subscribe_invalid")
	f.Fuzz(func(t *testing.T, body []byte) {
		checkOpErr(t, fuzzClient(t, body).Unsubscribe(context.Background(), "S1", nil))
	})
}

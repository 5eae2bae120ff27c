package ews

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// ntfGolden reads a file of testdata/ews/notifications.
func ntfGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "ews", "notifications", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ntfGoldenFiles lists the golden files whose name starts with prefix.
func ntfGoldenFiles(t testing.TB, prefix string) [][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("..", "testdata", "ews", "notifications", prefix+"*.xml"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no golden files %s*: %v", prefix, err)
	}
	sort.Strings(names)
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// parseNtfDocument parses a whole notification message with the codec
// under the notification limits, as the push listener does, and returns
// its root element.
func parseNtfDocument(r io.Reader) (*etree.Element, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	doc, err := ewsxml.ParseBytes(b, ntfParseOptions)
	if err != nil {
		return nil, err
	}
	return doc.Root(), nil
}

// newTestClock returns the fake clock of the notification tests: timers
// run on the goroutine calling Advance, in due order.
func newTestClock() *debouncetest.Clock {
	return debouncetest.NewClock(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
}

// waitTimers blocks until at least n timers are pending on clk.
func waitTimers(t testing.TB, clk *debouncetest.Clock, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clk.WaitPending(ctx, n); err != nil {
		t.Fatalf("timed out waiting for %d pending timers (have %d)", n, clk.Pending())
	}
}

// ntfRequest is one request an ntfServer received.
type ntfRequest struct {
	Op     string
	Header http.Header
	Body   *etree.Element // the operation element, namespaces resolved
}

// ntfServer is an httptest server that answers EWS operations with a
// handler and records the requests.
type ntfServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []ntfRequest
}

func newNtfServer(t testing.TB, handle func(op string, req *etree.Element, w http.ResponseWriter, r *http.Request)) *ntfServer {
	t.Helper()
	s := &ntfServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, err := ewsxml.Parse(r.Body, ewsxml.ParseOptions{})
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		body := ewsxml.FirstChild(doc.Root(), ewsxml.NSSoap, "Body")
		kids := ewsxml.ChildElements(body)
		if len(kids) != 1 || kids[0].Space != ewsxml.NSMessages {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		op := kids[0]
		s.mu.Lock()
		s.reqs = append(s.reqs, ntfRequest{Op: op.Tag, Header: r.Header.Clone(), Body: op})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		handle(op.Tag, op, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ntfServer) requests() []ntfRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ntfRequest(nil), s.reqs...)
}

func newNtfClient(t testing.TB, url string) *Client {
	t.Helper()
	c, err := New(url, &Options{Retry: RetryPolicy{MaxAttempts: 1}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDecodeNotification_GetEventsGolden(t *testing.T) {
	srv := newNtfServer(t, func(op string, _ *etree.Element, w http.ResponseWriter, _ *http.Request) {
		w.Write(ntfGolden(t, "getevents.response.xml"))
	})
	c := newNtfClient(t, srv.URL)
	n, err := c.GetEvents(context.Background(), "f6bc657d-dde1-4f94-952d-143b95d6483d", "AAAAAMAGAAAAAAAAAQ==", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Notification{
		SubscriptionID:    "f6bc657d-dde1-4f94-952d-143b95d6483d",
		PreviousWatermark: "AAAAAMAGAAAAAAAAAQ==",
		Events: []Event{
			{Type: EventNewMail, Watermark: "AAAAAM4GAAAAAAAAAQ==", TimeStamp: time.Date(2006, 8, 22, 0, 36, 29, 0, time.UTC),
				ItemID: ItemID{"AQApAHR", "CQAAAA=="}, ParentFolderID: FolderID{"AQApAH", "AQAAAA=="}},
			{Type: EventNewMail, Watermark: "AAAAAOQGAAAAAAAAAQ==", TimeStamp: time.Date(2006, 8, 22, 1, 0, 50, 0, time.UTC),
				ItemID: ItemID{"AQApAHRw", "CQAAAA=="}, ParentFolderID: FolderID{"AQApAH", "AQAAAA=="}},
		},
	}
	if !reflect.DeepEqual(n, want) {
		t.Fatalf("got %+v\nwant %+v", n, want)
	}
	if got := n.LastWatermark(); got != "AAAAAOQGAAAAAAAAAQ==" {
		t.Errorf("LastWatermark = %q", got)
	}
	if n.StatusOnly() {
		t.Error("StatusOnly on a notification with NewMail events")
	}
	reqs := srv.requests()
	if len(reqs) != 1 || reqs[0].Op != "GetEvents" {
		t.Fatalf("requests = %+v", reqs)
	}
	if got := ewsxml.Text(ewsxml.FirstChild(reqs[0].Body, ewsxml.NSMessages, "SubscriptionId")); got != "f6bc657d-dde1-4f94-952d-143b95d6483d" {
		t.Errorf("m:SubscriptionId = %q", got)
	}
	if got := ewsxml.Text(ewsxml.FirstChild(reqs[0].Body, ewsxml.NSMessages, "Watermark")); got != "AAAAAMAGAAAAAAAAAQ==" {
		t.Errorf("m:Watermark = %q", got)
	}
}

func TestDecodeNotification_AllEventKinds(t *testing.T) {
	root, err := parseNtfDocument(strings.NewReader(string(ntfGolden(t, "getevents_page2.response.xml"))))
	if err != nil {
		t.Fatal(err)
	}
	nn := ewsxml.FirstChild(ewsxml.FirstChild(ewsxml.FirstChild(ewsxml.FirstChild(ewsxml.FirstChild(root,
		ewsxml.NSSoap, "Body"), ewsxml.NSMessages, "GetEventsResponse"),
		ewsxml.NSMessages, "ResponseMessages"), ewsxml.NSMessages, "GetEventsResponseMessage"),
		ewsxml.NSMessages, "Notification")
	n, err := decodeNotification(nn)
	if err != nil {
		t.Fatal(err)
	}
	ts := func(s int) time.Time { return time.Date(2024, 5, 1, 10, 0, s, 0, time.UTC) }
	want := []Event{
		{Type: EventCopied, Watermark: "WM4", TimeStamp: ts(7), FolderID: FolderID{"F10", "K10"},
			ParentFolderID: FolderID{ID: "ROOT"}, OldFolderID: FolderID{ID: "F9"}, OldParentFolderID: FolderID{ID: "ROOT"}},
		{Type: EventDeleted, Watermark: "WM5", TimeStamp: ts(8), ItemID: ItemID{"I1", "C1"}, ParentFolderID: FolderID{ID: "INBOX"}},
		{Type: EventFreeBusyChanged, Watermark: "WM6", TimeStamp: ts(9), ItemID: ItemID{"CAL1", "CK"}, ParentFolderID: FolderID{ID: "CALENDAR"}},
		{Type: EventStatus, Watermark: "WM7"},
	}
	if !reflect.DeepEqual(n.Events, want) {
		t.Fatalf("events:\n got %+v\nwant %+v", n.Events, want)
	}
	if n.LastWatermark() != "WM7" || n.MoreEvents || n.PreviousWatermark != "WM3" {
		t.Errorf("notification header: %+v", n)
	}
}

func TestDecodeNotification_Malformed(t *testing.T) {
	const pre = `<n xmlns:t="` + ewsxml.NSTypes + `">`
	cases := map[string]string{
		"no subscription id": pre + `<t:StatusEvent><t:Watermark>W</t:Watermark></t:StatusEvent></n>`,
		"no events":          pre + `<t:SubscriptionId>S</t:SubscriptionId></n>`,
		"bad MoreEvents":     pre + `<t:SubscriptionId>S</t:SubscriptionId><t:MoreEvents>maybe</t:MoreEvents><t:StatusEvent/></n>`,
		"bad timestamp":      pre + `<t:SubscriptionId>S</t:SubscriptionId><t:CreatedEvent><t:TimeStamp>yesterday</t:TimeStamp><t:ItemId Id="I"/></t:CreatedEvent></n>`,
		"no item id":         pre + `<t:SubscriptionId>S</t:SubscriptionId><t:CreatedEvent><t:TimeStamp>2024-05-01T10:00:00Z</t:TimeStamp></t:CreatedEvent></n>`,
		"empty Id attribute": pre + `<t:SubscriptionId>S</t:SubscriptionId><t:CreatedEvent><t:TimeStamp>2024-05-01T10:00:00Z</t:TimeStamp><t:ItemId Id=""/></t:CreatedEvent></n>`,
		"negative unread":    pre + `<t:SubscriptionId>S</t:SubscriptionId><t:ModifiedEvent><t:TimeStamp>2024-05-01T10:00:00Z</t:TimeStamp><t:FolderId Id="F"/><t:UnreadCount>-1</t:UnreadCount></t:ModifiedEvent></n>`,
		"wrong namespace":    `<n xmlns:x="urn:other"><x:SubscriptionId>S</x:SubscriptionId><x:StatusEvent/></n>`,
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			root, err := parseNtfDocument(strings.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			_, err = decodeNotification(root)
			if !errors.Is(err, ErrMalformedNotification) {
				t.Fatalf("err = %v, want ErrMalformedNotification", err)
			}
		})
	}
}

func TestParseNtfDocument_Limits(t *testing.T) {
	deep := strings.Repeat("<a>", ntfMaxDepth+1) + strings.Repeat("</a>", ntfMaxDepth+1)
	cases := map[string]string{
		"too deep":   deep,
		"empty":      "",
		"not xml":    "hello world",
		"truncated":  "<a><b>",
		"two roots":  "<a/><b/>",
		"text after": "<a/>junk",
		"latin1":     `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`,
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parseNtfDocument(strings.NewReader(doc)); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := parseNtfDocument(io.LimitReader(strings.NewReader("<a>"+strings.Repeat("<b/>", 10)+"</a>"), 1<<20)); err != nil {
		t.Fatalf("valid document: %v", err)
	}
}

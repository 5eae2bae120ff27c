package ewstest

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/mailsync/mailsync/debounce/debouncetest"
)

var testStart = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// newTestServer starts a server with alice and bob on a fake clock.
func newTestServer(t *testing.T, mod func(*Options)) (*Server, *debouncetest.Clock) {
	t.Helper()
	clk := debouncetest.NewClock(testStart)
	opts := Options{
		Users: []User{
			{Name: "alice", Password: "secret", Address: "alice@example.com"},
			{Name: "bob", Password: "secret", Address: "bob@example.com", Database: "DB02"},
		},
		Clock: clk,
	}
	if mod != nil {
		mod(&opts)
	}
	srv := NewServer(opts)
	t.Cleanup(srv.Close)
	return srv, clk
}

const envStart = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<soap:Header><t:RequestServerVersion Version="Exchange2013"/></soap:Header><soap:Body>`

const envEnd = `</soap:Body></soap:Envelope>`

// post sends a raw request body and returns the status and parsed reply.
func post(t *testing.T, srv *Server, raw string, hdr map[string]string) (int, *etree.Document) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		t.Fatalf("response is not XML: %v\n%s", err, data)
	}
	return resp.StatusCode, doc
}

// call sends an operation for alice's mailbox (via X-AnchorMailbox) and
// returns the parsed response; it fails the test on a fault.
func call(t *testing.T, srv *Server, op string) *etree.Document {
	t.Helper()
	return callAs(t, srv, "alice@example.com", op)
}

func callAs(t *testing.T, srv *Server, anchor, op string) *etree.Document {
	t.Helper()
	status, doc := post(t, srv, envStart+op+envEnd, map[string]string{"X-AnchorMailbox": anchor})
	if status != http.StatusOK {
		s, _ := doc.WriteToString()
		t.Fatalf("HTTP %d: %s", status, s)
	}
	return doc
}

// find returns the elements with the given local name anywhere in doc.
func find(doc *etree.Document, local string) []*etree.Element {
	return doc.FindElements("//" + local)
}

func first(t *testing.T, doc *etree.Document, local string) *etree.Element {
	t.Helper()
	els := find(doc, local)
	if len(els) == 0 {
		s, _ := doc.WriteToString()
		t.Fatalf("no %s in response:\n%s", local, s)
	}
	return els[0]
}

// codes returns the ResponseCode of every response message in order.
func codes(doc *etree.Document) []string {
	var out []string
	for _, e := range find(doc, "ResponseCode") {
		out = append(out, e.Text())
	}
	return out
}

func faultCode(t *testing.T, doc *etree.Document) string {
	t.Helper()
	return first(t, doc, "ResponseCode").Text()
}

func mustDeliver(t *testing.T, m *Mailbox, folder string, msg Message) ItemInfo {
	t.Helper()
	it, err := m.Deliver(folder, msg)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func testMessage(subject string) Message {
	return Message{
		Subject: subject,
		From:    Address{Name: "Ann Sender", Email: "ann@example.org"},
		To:      []Address{{Name: "Alice", Email: "alice@example.com"}},
		Body:    "Hello,\nthis is " + subject + ".\n",
	}
}

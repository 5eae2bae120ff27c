package ews

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// chunkReader returns its data in reads of at most n bytes.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(r.n, len(p), len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

// readAllMessages drains a StreamReader.
func readAllMessages(t *testing.T, r io.Reader) []*streamMessage {
	t.Helper()
	sr := newStreamReader(r)
	var out []*streamMessage
	for {
		m, err := sr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next after %d messages: %v", len(out), err)
		}
		out = append(out, m)
	}
}

func checkGoldenStream(t *testing.T, msgs []*streamMessage) {
	t.Helper()
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want 4", len(msgs))
	}
	const sub1 = "f6bc657d-dde1-4f94-952d-143b95d6483d"
	m0 := msgs[0]
	if len(m0.Notifications) != 1 || m0.Status != "" || m0.KeepAlive() {
		t.Fatalf("message 0: %+v", m0)
	}
	n := m0.Notifications[0]
	if n.SubscriptionID != sub1 || len(n.Events) != 3 {
		t.Fatalf("notification 0: %+v", n)
	}
	kinds := []EventType{n.Events[0].Type, n.Events[1].Type, n.Events[2].Type}
	if kinds[0] != EventCreated || kinds[1] != EventNewMail || kinds[2] != EventModified {
		t.Errorf("event order %v", kinds)
	}
	mod := n.Events[2]
	if !mod.IsFolder() || !mod.HasUnreadCount || mod.UnreadCount != 1 || mod.Watermark != "" {
		t.Errorf("ModifiedEvent %+v", mod)
	}
	if n.Events[0].IsFolder() || n.Events[0].ItemID.ChangeKey != "CQAAAA==" {
		t.Errorf("CreatedEvent %+v", n.Events[0])
	}
	if !msgs[1].KeepAlive() || msgs[1].Status != connectionOK {
		t.Errorf("message 1 is not a keep-alive: %+v", msgs[1])
	}
	m2 := msgs[2]
	if len(m2.Notifications) != 2 || m2.Notifications[0].SubscriptionID != "SSUB2" || m2.Notifications[1].SubscriptionID != sub1 {
		t.Fatalf("message 2: %+v", m2)
	}
	mv := m2.Notifications[1].Events[0]
	if mv.Type != EventMoved || mv.OldItemID.ID != "I2old" || mv.OldParentFolderID.ID != "INBOX" || mv.ParentFolderID.ID != "F9" {
		t.Errorf("MovedEvent %+v", mv)
	}
	if msgs[3].Status != connectionClosed || !msgs[3].KeepAlive() {
		t.Errorf("message 3: %+v", msgs[3])
	}
}

func TestStreamReader_Golden(t *testing.T) {
	checkGoldenStream(t, readAllMessages(t, bytes.NewReader(ntfGolden(t, "getstreamingevents.response.xml"))))
}

// Every chunk size from one byte up splits envelopes at every possible
// place, and large chunks put several envelopes in one read.
func TestStreamReader_SplitAndMergedChunks(t *testing.T) {
	data := ntfGolden(t, "getstreamingevents.response.xml")
	for _, n := range []int{1, 2, 3, 7, 64, 333, 1000, 4096, len(data)} {
		checkGoldenStream(t, readAllMessages(t, &chunkReader{data: data, n: n}))
	}
	checkGoldenStream(t, readAllMessages(t, iotest.HalfReader(bytes.NewReader(data))))
	checkGoldenStream(t, readAllMessages(t, iotest.DataErrReader(bytes.NewReader(data))))
}

// Each envelope is yielded as soon as its end tag arrives, before any
// byte of the next one is written.
func TestStreamReader_YieldsPerEnvelope(t *testing.T) {
	data := string(ntfGolden(t, "getstreamingevents.response.xml"))
	const end = "</soap:Envelope>"
	var envs []string
	for rest := data; strings.Contains(rest, end); {
		i := strings.Index(rest, end) + len(end)
		envs = append(envs, rest[:i])
		rest = rest[i:]
	}
	if len(envs) != 4 {
		t.Fatalf("split golden into %d envelopes", len(envs))
	}
	pr, pw := io.Pipe()
	sr := newStreamReader(pr)
	type result struct {
		m   *streamMessage
		err error
	}
	got := make(chan result)
	go func() {
		for {
			m, err := sr.Next()
			got <- result{m, err}
			if err != nil {
				return
			}
		}
	}()
	for i, env := range envs {
		half := len(env) / 2
		if _, err := pw.Write([]byte(env[:half])); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-got:
			t.Fatalf("envelope %d yielded from half its bytes: %+v", i, r)
		default:
		}
		if _, err := pw.Write([]byte(env[half:])); err != nil {
			t.Fatal(err)
		}
		r := <-got
		if r.err != nil {
			t.Fatalf("envelope %d: %v", i, r.err)
		}
	}
	pw.Close()
	if r := <-got; r.err != io.EOF {
		t.Fatalf("after the last envelope: %v, want io.EOF", r.err)
	}
}

func TestStreamReader_Errors(t *testing.T) {
	stream := string(ntfGolden(t, "getstreamingevents.response.xml"))
	cases := map[string]struct {
		body string
		want error
	}{
		"cut inside an envelope": {stream[:len(stream)/2], io.ErrUnexpectedEOF},
		"not xml":                {"HTTP/1.1 500 oops", ErrMalformedNotification},
		"not an envelope":        {`<html><body>error</body></html>`, ErrMalformedNotification},
		"envelope without body":  {`<s:Envelope xmlns:s="` + ewsxml.NSSoap + `"/>`, ErrMalformedNotification},
		"wrong operation": {`<s:Envelope xmlns:s="` + ewsxml.NSSoap + `"><s:Body><m:GetEventsResponse xmlns:m="` + ewsxml.NSMessages +
			`"/></s:Body></s:Envelope>`, ErrMalformedNotification},
		"bad status": {`<s:Envelope xmlns:s="` + ewsxml.NSSoap + `"><s:Body><m:GetStreamingEventsResponse xmlns:m="` + ewsxml.NSMessages +
			`"><m:ResponseMessages><m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>` +
			`<m:ConnectionStatus>Maybe</m:ConnectionStatus></m:GetStreamingEventsResponseMessage></m:ResponseMessages></m:GetStreamingEventsResponse></s:Body></s:Envelope>`,
			ErrMalformedNotification},
		"text between envelopes": {stream + "garbage", ErrMalformedNotification},
		"https namespace": {`<s:Envelope xmlns:s="https://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>`,
			ErrMalformedNotification},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			sr := newStreamReader(strings.NewReader(tc.body))
			var err error
			for err == nil {
				_, err = sr.Next()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == ErrMalformedNotification && !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("err = %v does not match ErrMalformedResponse", err)
			}
		})
	}
}

func TestStreamReader_ErrorEnvelopes(t *testing.T) {
	t.Run("connection-wide", func(t *testing.T) {
		msgs := readAllMessages(t, bytes.NewReader(ntfGolden(t, "getstreamingevents_invalid_subscription.response.xml")))
		if len(msgs) != 1 || len(msgs[0].Errors) != 1 || msgs[0].Status != connectionClosed {
			t.Fatalf("%+v", msgs)
		}
		e := msgs[0].Errors[0]
		if len(e.SubscriptionIDs) != 0 || !errors.Is(e.Err, ErrInvalidSubscription) {
			t.Fatalf("error %+v", e)
		}
		var re *ResponseError
		if !errors.As(e.Err, &re) || re.Op != "GetStreamingEvents" || re.Class != "Error" {
			t.Fatalf("not a *ResponseError: %#v", e.Err)
		}
	})
	t.Run("per subscription", func(t *testing.T) {
		msgs := readAllMessages(t, bytes.NewReader(ntfGolden(t, "getstreamingevents_error_ids.response.xml")))
		if len(msgs) != 1 || len(msgs[0].Errors) != 2 || msgs[0].Status != connectionOK {
			t.Fatalf("%+v", msgs)
		}
		e0, e1 := msgs[0].Errors[0], msgs[0].Errors[1]
		if len(e0.SubscriptionIDs) != 1 || e0.SubscriptionIDs[0] != "SSUB2" || !errors.Is(e0.Err, ErrSubscriptionNotFound) {
			t.Errorf("error 0 %+v", e0)
		}
		if len(e1.SubscriptionIDs) != 1 || e1.SubscriptionIDs[0] != "SSUB3" || !errors.Is(e1.Err, ErrMissedNotificationEvents) {
			t.Errorf("error 1 %+v", e1)
		}
	})
	t.Run("fault", func(t *testing.T) {
		body := `<s:Envelope xmlns:s="` + ewsxml.NSSoap + `"><s:Body><s:Fault>` +
			`<faultcode xmlns:a="` + ewsxml.NSTypes + `">a:ErrorServerBusy</faultcode><faultstring>busy</faultstring>` +
			`<detail><e:ResponseCode xmlns:e="` + ewsxml.NSErrors + `">ErrorServerBusy</e:ResponseCode>` +
			`<t:MessageXml xmlns:t="` + ewsxml.NSTypes + `"><t:Value Name="BackOffMilliseconds">30000</t:Value></t:MessageXml></detail>` +
			`</s:Fault></s:Body></s:Envelope>`
		msgs := readAllMessages(t, strings.NewReader(body))
		if len(msgs) != 1 || len(msgs[0].Errors) != 1 || msgs[0].Status != connectionClosed {
			t.Fatalf("%+v", msgs)
		}
		err := msgs[0].Errors[0].Err
		var fe *FaultError
		if !errors.As(err, &fe) || !errors.Is(err, ErrServerBusy) || fe.BackOff.Seconds() != 30 {
			t.Fatalf("fault error %#v", err)
		}
		if BackOffHint(err).Seconds() != 30 {
			t.Errorf("back-off hint %v", BackOffHint(err))
		}
	})
}

// endless yields the same byte forever.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

// An envelope that never ends (one endless text node) is cut at the
// per-envelope budget instead of exhausting memory.
func TestStreamReader_EnvelopeSizeLimit(t *testing.T) {
	prefix := seHead + `<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>`
	sr := newStreamReader(io.MultiReader(strings.NewReader(prefix), endless('a')))
	sr.max = 64 << 10 // the default is 32 MiB; a smaller budget keeps the test fast
	if _, err := sr.Next(); !errors.Is(err, ErrMalformedNotification) {
		t.Fatalf("err = %v", err)
	}
	// The budget is per envelope: a stream far longer than the budget,
	// made of small envelopes, is fine.
	var b strings.Builder
	for range 400 {
		b.WriteString(seStatus("OK"))
	}
	sr = newStreamReader(strings.NewReader(b.String()))
	sr.max = 64 << 10
	n := 0
	for {
		_, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d envelopes: %v", n, err)
		}
		n++
	}
	if n != 400 || b.Len() < 4*(64<<10) {
		t.Fatalf("%d envelopes in %d bytes", n, b.Len())
	}
}

// Some servers start each envelope with an XML declaration.
func TestStreamReader_DeclarationPerEnvelope(t *testing.T) {
	const decl = `<?xml version="1.0" encoding="utf-8"?>` + "\r\n"
	body := decl + seNotify("S1", "A") + "\r\n" + decl + seStatus("OK") + decl + seStatus("Closed")
	msgs := readAllMessages(t, &chunkReader{data: []byte(body), n: 5})
	if len(msgs) != 3 || len(msgs[0].Notifications) != 1 || msgs[2].Status != connectionClosed {
		t.Fatalf("%+v", msgs)
	}
}

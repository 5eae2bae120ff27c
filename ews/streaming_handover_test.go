package ews

import (
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// Changes to a running connection's subscription set: Remove, and Add
// with its handover from the old request to the new one.

// Remove opens nothing: the removed ids' notifications are dropped until
// the request ends; removing the last id closes the request.
func TestStreamingConnection_Remove(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1", "S2")
	fs := ss.next(t)
	sc.Remove("S1", "unknown")
	fs.write(t, seNotify("S1", "dropped", "S2", "X"), seHead+seErrMsg("ErrorSubscriptionUnsubscribed", "OK", "S1")+seTail)
	recvNotification(t, sc, "S2", "X")
	ss.expectNoConn(t)
	fs.write(t, seStatus("Closed"))
	fs.finish()
	if fs2 := ss.next(t); !slices.Equal(fs2.ids, []string{"S2"}) {
		t.Fatalf("next request carries %v", fs2.ids)
	} else {
		sc.Remove("S2")
		<-fs2.gone
	}
	ss.expectNoConn(t)
	select {
	case ev := <-sc.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// Add hands over without losing events: the new request is opened beside
// the old one, the old one is read to its end first (events the server
// wrote on it after the new request opened are delivered), and the
// expected ErrorNewEventStreamConnectionOpened is not reported.
func TestStreamingConnection_AddHandsOver(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1")
	fs := ss.next(t)
	// Once something was read, the request is open on the client too.
	fs.write(t, seNotify("S1", "zero"))
	recvNotification(t, sc, "S1", "zero")
	if err := sc.Add("S2"); err != nil {
		t.Fatal(err)
	}
	fs2 := ss.next(t)
	if !slices.Equal(fs2.ids, []string{"S1", "S2"}) {
		t.Fatalf("ids %v", fs2.ids)
	}
	select {
	case <-fs.gone:
		t.Fatal("old request closed before it was drained")
	default:
	}
	// The new request already carries an event, but the old one still
	// holds an earlier one: order is kept.
	fs2.write(t, seNotify("S1", "second"))
	fs.write(t, seNotify("S1", "first"), seHead+seErrMsg("ErrorNewEventStreamConnectionOpened", "Closed", "S1")+seTail)
	fs.finish()
	recvNotification(t, sc, "S1", "first")
	recvNotification(t, sc, "S1", "second")
	fs2.write(t, seNotify("S2", "third"))
	recvNotification(t, sc, "S2", "third")
	if sc.Reconnects() != 1 {
		t.Errorf("Reconnects = %d", sc.Reconnects())
	}
	select {
	case ev := <-sc.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// An old request that does not end is closed HandoverTimeout after its
// replacement opened.
func TestStreamingConnection_HandoverTimeout(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	clk := newTestClock()
	sc := startStreaming(t, c, &StreamingOptions{Clock: clk, HandoverTimeout: 5 * time.Second}, "S1")
	fs := ss.next(t)
	fs.write(t, seNotify("S1", "zero"))
	recvNotification(t, sc, "S1", "zero")
	sc.Add("S2")
	fs2 := ss.next(t)
	waitTimers(t, clk, 2) // the old request's read timeout and the handover timer
	fs2.write(t, seNotify("S2", "A"))
	clk.Advance(4 * time.Second)
	select {
	case <-fs.gone:
		t.Fatal("old request closed before HandoverTimeout")
	default:
	}
	clk.Advance(time.Second)
	<-fs.gone
	recvNotification(t, sc, "S2", "A")
	select {
	case ev := <-sc.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// When the replacement cannot be opened, the connection falls back to
// closing the old request and reopening.
func TestStreamingConnection_HandoverFallback(t *testing.T) {
	ss := newStreamServer(t, nil)
	inner := ss.Config.Handler
	var mu sync.Mutex
	n := 0
	ss.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		second := n == 2
		mu.Unlock()
		if second {
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>`+
				`<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorExceededConnectionCount</faultcode>`+
				`<faultstring>too many</faultstring></s:Fault></s:Body></s:Envelope>`)
			return
		}
		inner.ServeHTTP(w, r)
	})
	c := newNtfClient(t, ss.URL)
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1")
	fs := ss.next(t)
	fs.write(t, seNotify("S1", "zero"))
	recvNotification(t, sc, "S1", "zero")
	sc.Add("S2")
	<-fs.gone
	fs3 := ss.next(t)
	if !slices.Equal(fs3.ids, []string{"S1", "S2"}) {
		t.Fatalf("ids %v", fs3.ids)
	}
	fs3.write(t, seNotify("S2", "A"))
	recvNotification(t, sc, "S2", "A")
}

// Ids added while a handover is under way are carried by a further
// handover once the first one is adopted.
func TestStreamingConnection_AddDuringHandover(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1")
	fs := ss.next(t)
	fs.write(t, seNotify("S1", "zero"))
	recvNotification(t, sc, "S1", "zero")
	sc.Add("S2")
	fs2 := ss.next(t)
	sc.Add("S3") // the first handover is still pending
	ss.expectNoConn(t)
	fs.finish()
	fs3 := ss.next(t)
	if !slices.Equal(fs2.ids, []string{"S1", "S2"}) || !slices.Equal(fs3.ids, []string{"S1", "S2", "S3"}) {
		t.Fatalf("handovers carried %v then %v", fs2.ids, fs3.ids)
	}
	fs2.write(t, seNotify("S2", "on-second"))
	recvNotification(t, sc, "S2", "on-second")
	fs2.finish()
	fs3.write(t, seNotify("S3", "on-third"))
	recvNotification(t, sc, "S3", "on-third")
}

// An Add while the request is still being opened (nothing read yet)
// simply reopens with the new set.
func TestStreamingConnection_AddWhileOpening(t *testing.T) {
	ss := newStreamServer(t, nil)
	inner := ss.Config.Handler
	var mu sync.Mutex
	n := 0
	held := make(chan struct{})
	ss.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			// Hold the first request before any response header.
			io.Copy(io.Discard, r.Body)
			close(held)
			<-r.Context().Done()
			return
		}
		inner.ServeHTTP(w, r)
	})
	c := newNtfClient(t, ss.URL)
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1")
	<-held
	sc.Add("S2")
	fs := ss.next(t)
	if !slices.Equal(fs.ids, []string{"S1", "S2"}) {
		t.Fatalf("ids %v", fs.ids)
	}
	fs.write(t, seNotify("S2", "A"))
	recvNotification(t, sc, "S2", "A")
	select {
	case ev := <-sc.Events():
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// During a handover, the old request's ErrorNewEventStreamConnectionOpened
// is expected in every form Exchange may send it.
func TestStreamingConnection_HandoverConnectionWideError(t *testing.T) {
	ss := newStreamServer(t, nil)
	c := newNtfClient(t, ss.URL)
	sc := startStreaming(t, c, &StreamingOptions{Clock: newTestClock()}, "S1", "S2")
	fs := ss.next(t)
	fs.write(t, seNotify("S1", "zero"))
	recvNotification(t, sc, "S1", "zero")
	sc.Add("S3")
	fs2 := ss.next(t)
	fs.write(t, seError("ErrorNewEventStreamConnectionOpened", "OK"), seError("ErrorNewEventStreamConnectionOpened", "Closed"))
	fs.finish()
	fs2.write(t, seNotify("S3", "A"))
	recvNotification(t, sc, "S3", "A")
	if got := sc.Subscriptions(); !slices.Equal(got, []string{"S1", "S2", "S3"}) {
		t.Fatalf("subscriptions %v", got)
	}
}

package notify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
)

// BenchmarkPublish measures appending one event to the event table with a
// pull subscription watching the mailbox.
func BenchmarkPublish(b *testing.B) {
	br, _ := newBenchBroker(b)
	if _, err := br.Subscribe(context.Background(), pullReq(alice)); err != nil {
		b.Fatal(err)
	}
	br.opts.MaxQueuedEvents = 1 << 30
	ev := created("I1", inbox)
	b.ReportAllocs()
	for b.Loop() {
		br.Publish(alice, ev)
	}
}

// BenchmarkResubscribeReplay measures Subscribe with an old watermark over
// an event table of 100,000 events of 100 mailboxes: the linear walk
// Exchange's documentation warns about.
func BenchmarkResubscribeReplay(b *testing.B) {
	br, _ := newBenchBroker(b)
	wm := br.Watermark(alice)
	for i := range 100_000 {
		br.Publish(fmt.Sprintf("user%d@example.com", i%100), created(fmt.Sprint("I", i), inbox))
	}
	r := pullReq("user7@example.com")
	r.Watermark = wm
	b.ReportAllocs()
	for b.Loop() {
		s, err := br.Subscribe(context.Background(), r)
		if err != nil {
			b.Fatal(err)
		}
		if err := br.Unsubscribe(context.Background(), UnsubscribeRequest{Principal: r.Principal, SubscriptionID: s.ID}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(br.Stats().ReplayWalked)/float64(b.N), "walked/op")
}

// BenchmarkStream200 measures one event for each of 200 mailboxes reaching
// a streaming connection that carries their 200 subscriptions, encoded as
// SOAP envelopes: notifications per second through one connection.
func BenchmarkStream200(b *testing.B) {
	br, _ := newBenchBroker(b)
	ids := make([]string, MaxStreamingSubscriptions)
	boxes := make([]string, len(ids))
	for i := range ids {
		boxes[i] = fmt.Sprintf("user%03d@example.com", i)
		r := streamReq(boxes[i])
		r.Principal = "svc@example.com"
		s, err := br.Subscribe(context.Background(), r)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = s.ID
	}
	st, err := br.OpenStream(context.Background(), StreamRequest{Principal: "svc@example.com", SubscriptionIDs: ids, ConnectionTimeout: 30 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Next(ctx); err != nil {
		b.Fatal(err)
	}
	ev := created("I1", inbox)
	var buf []byte
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, mb := range boxes {
			br.Publish(mb, ev)
		}
		for range boxes {
			f, err := st.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n += len(f.Notifications)
			buf = AppendFrameEnvelope(buf[:0], f, "")
		}
	}
	if n != b.N*len(boxes) {
		b.Fatalf("%d notifications, want %d", n, b.N*len(boxes))
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "notifications/s")
}

func newBenchBroker(b *testing.B) (*Broker, error) {
	b.Helper()
	br, err := New(&Options{Clock: debouncetest.NewClock(t0)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { br.Close() })
	return br, nil
}

package ews

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// BenchmarkStreamingConnection_200Subscriptions measures notifications per
// second through one streaming connection carrying 200 subscriptions, over
// loopback HTTP with the real client: the server streams envelopes of 10
// notifications (one CreatedEvent each, spread over the 200
// subscriptions), the connection splits and decodes them and delivers each
// on its channel, where the benchmark consumes it.
func BenchmarkStreamingConnection_200Subscriptions(b *testing.B) {
	const perEnvelope = 10
	ids := make([]string, MaxStreamingSubscriptions)
	for i := range ids {
		ids[i] = fmt.Sprintf("JgBibjFwcjAzbWIyMDIubmFtcHJkMDMucHJvZC5vdXRsb29rLmNvbRAAAADwXxVesOnHS5BxUHKwAW88SHjw%03d=", i)
	}
	var envelopes []string
	for e := range MaxStreamingSubscriptions / perEnvelope {
		var pairs []string
		for k := range perEnvelope {
			i := e*perEnvelope + k
			pairs = append(pairs, ids[i], fmt.Sprintf("AAMkADkzNjJjODUzLWZhMDMtNDVkMS05ZDdjLWVmMDlkYjQ1Zjc4MwBGAAAAAABSSWVKrmGUTJE+MVIvofglBwDZGACZQpSgSpyNkexYe2b7AAAAAAENAADZ%05d=", i))
		}
		envelopes = append(envelopes, seNotify(pairs...))
	}
	total := b.N
	srv := newNtfServer(b, func(op string, _ *etree.Element, w http.ResponseWriter, r *http.Request) {
		if op != "GetStreamingEvents" {
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		fl := w.(http.Flusher)
		sent := 0
		for sent < total {
			for _, env := range envelopes {
				io.WriteString(w, env)
				sent += perEnvelope
				if sent >= total {
					break
				}
			}
			fl.Flush()
		}
		io.WriteString(w, seStatus("OK"))
		fl.Flush()
		<-r.Context().Done()
	})
	c := newNtfClient(b, srv.URL)
	sc, err := c.NewStreamingConnection(&StreamingOptions{Buffer: 1024, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := sc.Add(ids...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := sc.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	for got := 0; got < total; {
		ev := <-sc.Events()
		if ev.Err != nil {
			b.Fatal(ev.Err)
		}
		got++
	}
	elapsed := time.Since(start)
	b.StopTimer()
	sc.Close()
	b.ReportMetric(float64(total)/elapsed.Seconds(), "notifications/s")
	b.ReportMetric(0, "ns/op")
}

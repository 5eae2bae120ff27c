package ews

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPushListener_64Posters measures notifications per second through
// the push listener over loopback HTTP: 64 concurrent posters, each
// playing the server side of one push subscription (one POST at a time,
// watermarks chained, retrying on 503), and one consumer draining the
// Events channel.
func BenchmarkPushListener_64Posters(b *testing.B) {
	const posters = 64
	l, err := NewPushListener(&PushListenerOptions{Buffer: 4096, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	srv := httptest.NewServer(l)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: posters, MaxConnsPerHost: posters}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	paths := make([]string, posters)
	for p := range posters {
		paths[p] = register(b, l, fmt.Sprintf("PSUB-%02d", p), 30*time.Minute, "W0")
	}
	var consumed atomic.Int64
	done := make(chan struct{})
	go func() {
		for range l.Events() {
			consumed.Add(1)
		}
		close(done)
	}()
	var next atomic.Int64
	var retries atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := fmt.Sprintf("PSUB-%02d", p)
			prev := "W0"
			for k := 0; next.Add(1) <= int64(b.N); k++ {
				wm := fmt.Sprintf("W%d", k+1)
				body := pushNotification(sub, prev, wm)
				for {
					resp, err := hc.Post(srv.URL+paths[p], xmlCT, bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					reply, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusServiceUnavailable {
						retries.Add(1)
						continue
					}
					if resp.StatusCode != http.StatusOK || !bytes.Contains(reply, []byte(">OK<")) {
						b.Errorf("status %d: %s", resp.StatusCode, reply)
						return
					}
					break
				}
				prev = wm
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "notifications/s")
	b.ReportMetric(float64(retries.Load()), "retries")
	b.ReportMetric(0, "ns/op")
}

package ewstest

import (
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
)

// RequestStats counts what the SOAP endpoint served since the server
// started, so that a test can count the requests a client made (the
// recovery proofs compare two snapshots). The control endpoint serves it
// as "GET stats".
type RequestStats struct {
	// Requests counts the SOAP requests by operation (the operation
	// element's local name, as in the operation table), whether answered
	// or faulted. Requests that never named an operation (refused by
	// authentication, dropped by Faults.DropConnections, not SOAP) are
	// not counted.
	Requests map[string]int64 `json:"requests"`
	// Bytes is the size of the response bodies the SOAP endpoint wrote,
	// as sent (after gzip), streaming notifications included.
	Bytes int64 `json:"bytes"`
}

// requestStats is the server's counter behind RequestStats.
type requestStats struct {
	mu       sync.Mutex
	requests map[string]int64
	bytes    atomic.Int64
}

func (st *requestStats) count(op string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.requests == nil {
		st.requests = map[string]int64{}
	}
	st.requests[op]++
}

// RequestStats returns a snapshot of the request counters.
func (s *Server) RequestStats() RequestStats {
	st := &s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	reqs := maps.Clone(st.requests)
	if reqs == nil {
		reqs = map[string]int64{}
	}
	return RequestStats{Requests: reqs, Bytes: st.bytes.Load()}
}

// countingWriter counts the body bytes written through it. Unwrap lets
// http.ResponseController reach the connection (streaming flushes).
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

func (w countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

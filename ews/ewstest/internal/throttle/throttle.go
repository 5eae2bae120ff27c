package throttle

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/ews/ewstest/internal/authn"
)

// DefaultBackOff is the BackOffMilliseconds advised when Config.BackOff is
// zero.
const DefaultBackOff = 5 * time.Second

// Sleeper waits for d or until ctx ends, returning ctx.Err() in that case.
type Sleeper func(ctx context.Context, d time.Duration) error

// RealSleep waits on a real timer.
func RealSleep(ctx context.Context, d time.Duration) error {
	return debounce.Sleep(ctx, debounce.SystemClock{}, d)
}

// Config configures a Limiter. The zero value adds nothing: no limit, no
// latency.
type Config struct {
	// MaxConcurrent is the number of requests one user may have in flight
	// (GetStreamingEvents excluded); 0 means unlimited.
	MaxConcurrent int
	// BackOff is the BackOffMilliseconds sent with ErrorServerBusy.
	// Default DefaultBackOff.
	BackOff time.Duration
	// Latency is waited before each request is handled.
	Latency time.Duration
	// Sleep performs the latency wait. Default RealSleep.
	Sleep Sleeper
	// IsStreaming reports whether a request is GetStreamingEvents.
	// Default IsGetStreamingEvents.
	IsStreaming func(r *http.Request) bool
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.MaxConcurrent < 0 || c.BackOff < 0 || c.Latency < 0 {
		return fmt.Errorf("%w: negative MaxConcurrent, BackOff or Latency", ErrInvalidConfig)
	}
	return nil
}

// Limiter is the throttling http.Handler. Its knobs can be changed while it
// serves; it is safe for concurrent use.
type Limiter struct {
	next        http.Handler
	sleep       Sleeper
	isStreaming func(*http.Request) bool

	max     atomic.Int64
	backoff atomic.Int64
	latency atomic.Int64
	busy    atomic.Int64 // requests still to refuse in the armed burst

	mu       sync.Mutex
	inflight map[string]int

	refused atomic.Int64
}

// New returns a Limiter wrapping next. next may be nil when the Limiter is
// used only through Wrap.
func New(cfg Config, next http.Handler) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Limiter{next: next, sleep: cfg.Sleep, isStreaming: cfg.IsStreaming, inflight: map[string]int{}}
	if l.sleep == nil {
		l.sleep = RealSleep
	}
	if l.isStreaming == nil {
		l.isStreaming = IsGetStreamingEvents
	}
	cfg.BackOff = cmp.Or(cfg.BackOff, DefaultBackOff)
	l.max.Store(int64(cfg.MaxConcurrent))
	l.backoff.Store(int64(cfg.BackOff))
	l.latency.Store(int64(cfg.Latency))
	return l, nil
}

// SetMaxConcurrent changes the per-user limit (0 = unlimited). Requests
// already in flight are not affected.
func (l *Limiter) SetMaxConcurrent(n int) {
	l.max.Store(int64(max(n, 0)))
}

// SetLatency changes the latency added to each request.
func (l *Limiter) SetLatency(d time.Duration) { l.latency.Store(int64(max(d, 0))) }

// SetBackOff changes the BackOffMilliseconds advised.
func (l *Limiter) SetBackOff(d time.Duration) { l.backoff.Store(int64(max(d, 0))) }

// Busy arms a burst: the next n requests (GetStreamingEvents excluded), of
// any user, are refused with ErrorServerBusy. Busy(0) disarms it.
func (l *Limiter) Busy(n int) { l.busy.Store(int64(max(n, 0))) }

// Refused returns how many requests were answered with ErrorServerBusy.
func (l *Limiter) Refused() int64 { return l.refused.Load() }

// InFlight returns the number of requests user has in flight (counted
// requests only).
func (l *Limiter) InFlight(user string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inflight[user]
}

// ServeHTTP applies the burst, the limit and the latency, then calls the
// handler given to New.
func (l *Limiter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.serve(w, r, l.next)
}

// Wrap returns a handler that applies the Limiter (sharing its counters
// and knobs) in front of next.
func (l *Limiter) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { l.serve(w, r, next) })
}

func (l *Limiter) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if next == nil {
		next = http.NotFoundHandler()
	}
	if l.isStreaming(r) {
		if !l.wait(r) {
			return
		}
		next.ServeHTTP(w, r)
		return
	}
	if l.takeBusy() {
		l.refuse(w, r)
		return
	}
	user, _ := authn.UserFromContext(r.Context())
	if !l.acquire(user) {
		l.refuse(w, r)
		return
	}
	defer l.release(user)
	if !l.wait(r) {
		return
	}
	next.ServeHTTP(w, r)
}

func (l *Limiter) wait(r *http.Request) bool {
	d := time.Duration(l.latency.Load())
	if d <= 0 {
		return true
	}
	return l.sleep(r.Context(), d) == nil
}

func (l *Limiter) takeBusy() bool {
	for {
		n := l.busy.Load()
		if n <= 0 {
			return false
		}
		if l.busy.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func (l *Limiter) acquire(user string) bool {
	limit := int(l.max.Load())
	l.mu.Lock()
	defer l.mu.Unlock()
	if limit > 0 && l.inflight[user] >= limit {
		return false
	}
	l.inflight[user]++
	return true
}

func (l *Limiter) release(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inflight[user]--; l.inflight[user] <= 0 {
		delete(l.inflight, user)
	}
}

func (l *Limiter) refuse(w http.ResponseWriter, r *http.Request) {
	l.refused.Add(1)
	if r.Body != nil {
		io.Copy(io.Discard, io.LimitReader(r.Body, 4<<20))
	}
	WriteServerBusy(w, time.Duration(l.backoff.Load()))
}

// peekSize bounds how much of a body IsGetStreamingEvents looks at; the
// operation element follows the SOAP header, which is small.
const peekSize = 8 << 10

// IsGetStreamingEvents reports whether r is a GetStreamingEvents request,
// by looking for the operation's element in the first bytes of the body.
// It leaves r.Body readable from the start.
func IsGetStreamingEvents(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return false
	}
	br := bufio.NewReaderSize(r.Body, peekSize)
	head, _ := br.Peek(peekSize)
	r.Body = readCloser{br, r.Body}
	for _, pat := range [][]byte{[]byte(":GetStreamingEvents"), []byte("<GetStreamingEvents")} {
		if i := bytes.Index(head, pat); i >= 0 {
			// An element name ends at a space, '>' or '/'.
			j := i + len(pat)
			if j < len(head) && (head[j] == ' ' || head[j] == '>' || head[j] == '/' || head[j] == '\t' || head[j] == '\r' || head[j] == '\n') {
				return true
			}
		}
	}
	return false
}

type readCloser struct {
	io.Reader
	io.Closer
}

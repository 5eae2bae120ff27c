package notify

import (
	"context"
	"io"
	"sync"
	"time"
)

// StreamRequest is one GetStreamingEvents operation.
type StreamRequest struct {
	// Principal is the authenticated account; it must own every
	// subscription (empty skips the check, for unauthenticated servers).
	Principal string
	// Account is the account whose hanging-connection budget the
	// connection uses (the impersonated one when impersonating); empty
	// means Principal.
	Account string
	// Backend is the server the request was routed to; subscriptions
	// hosted elsewhere are not found there.
	Backend string
	// SubscriptionIDs are 1 to 200 streaming subscription ids.
	SubscriptionIDs []string
	// ConnectionTimeout is 1 to 30 whole minutes.
	ConnectionTimeout time.Duration
}

// Stream is one open GetStreamingEvents connection: a sequence of frames,
// each to be written as one SOAP envelope and flushed. Read it with Next
// until io.EOF (after the ConnectionStatus Closed frame) or
// ErrConnectionDropped; call Close when the HTTP request ends, whatever
// the reason.
type Stream struct {
	b         *Broker
	principal string
	// guarded by b.mu
	subs     map[string]*subscription
	counted  bool
	kaTimer  func() bool
	kaGen    uint64
	toTimer  func() bool
	finished bool

	mu      sync.Mutex // guards the fields below; taken after b.mu
	frames  []Frame
	ended   bool
	dropped bool
	wake    chan struct{}
}

// OpenStream opens a streaming connection. Request-wide failures
// (ErrSchemaValidation for the timeout, ErrInvalidArgument for more than
// 200 ids, ErrExceededConnectionCount) are returned as errors; per-id
// failures become error frames at the start of the stream. Subscriptions
// carried by another connection move to this one, and the other one gets
// ErrorNewEventStreamConnectionOpened for them.
func (b *Broker) OpenStream(ctx context.Context, r StreamRequest) (*Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validMinutes(r.ConnectionTimeout, 30) || len(r.SubscriptionIDs) == 0 {
		return nil, ErrSchemaValidation
	}
	if len(r.SubscriptionIDs) > MaxStreamingSubscriptions {
		return nil, ErrInvalidArgument
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	p := key(r.Account)
	if p == "" {
		p = key(r.Principal)
	}
	if b.conns[p] >= b.opts.HangingConnectionLimit {
		return nil, ErrExceededConnectionCount
	}
	st := &Stream{b: b, principal: p, subs: map[string]*subscription{}, wake: make(chan struct{}, 1)}
	type failure struct {
		err *Error
		ids []string
	}
	var failures []*failure
	fail := func(err error, id string) {
		e, _ := err.(*Error)
		if e == nil {
			e = ErrSubscriptionNotFound
		}
		for _, f := range failures {
			if f.err.Code == e.Code {
				f.ids = append(f.ids, id)
				return
			}
		}
		failures = append(failures, &failure{err: e, ids: []string{id}})
	}
	var missed []string
	for _, id := range r.SubscriptionIDs {
		if _, dup := st.subs[id]; dup {
			continue
		}
		s, err := b.lookupLocked(id, r.Backend, r.Principal)
		if err != nil {
			fail(err, id)
			continue
		}
		if s.kind != Streaming {
			fail(ErrInvalidSubscription, id)
			continue
		}
		if s.conn != nil {
			s.conn.dropSubLocked(s, ErrNewEventStreamConnectionOpened)
		}
		s.conn = st
		s.timerGen++
		if s.timer != nil {
			s.timer()
		}
		st.subs[id] = s
		if s.missed {
			s.missed = false
			missed = append(missed, id)
		}
	}
	if len(missed) > 0 {
		failures = append(failures, &failure{err: ErrMissedNotificationEvents, ids: missed})
	}
	b.streams[st] = struct{}{}
	b.conns[p]++
	st.counted = true
	for i, f := range failures {
		fr := Frame{Err: f.err, ErrorIDs: f.ids, Status: StatusOK}
		if len(st.subs) == 0 && i == len(failures)-1 {
			fr.Status = StatusClosed
		}
		st.pushFrameLocked(fr)
	}
	if len(st.subs) == 0 {
		st.finishLocked(false)
		return st, nil
	}
	// Deliver what queued up while no connection was open, in subscription
	// order of the request.
	var ns []Notification
	for _, id := range r.SubscriptionIDs {
		s := st.subs[id]
		if s == nil || len(s.queue) == 0 {
			continue
		}
		ns = append(ns, streamingNotifications(s.id, s.queue)...)
		s.lastWM = s.queue[len(s.queue)-1].Watermark
		s.queue = nil
	}
	if len(ns) > 0 {
		st.pushFrameLocked(Frame{Notifications: ns})
	} else if len(failures) == 0 {
		// An immediate OK envelope, so the client sees the response start.
		st.pushFrameLocked(Frame{Status: StatusOK})
	}
	st.toTimer = b.clock.AfterFunc(r.ConnectionTimeout, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !st.finished {
			st.pushFrameLocked(Frame{Status: StatusClosed})
			st.finishLocked(false)
		}
	})
	return st, nil
}

// pushFrameLocked queues a frame for the reader and restarts the
// keep-alive interval. b.mu must be held.
func (st *Stream) pushFrameLocked(f Frame) {
	if st.finished {
		return
	}
	st.mu.Lock()
	st.frames = append(st.frames, f)
	st.mu.Unlock()
	st.signal()
	st.armKeepAliveLocked()
}

func (st *Stream) armKeepAliveLocked() {
	if st.kaTimer != nil {
		st.kaTimer()
	}
	st.kaGen++
	gen := st.kaGen
	b := st.b
	st.kaTimer = b.clock.AfterFunc(b.opts.KeepAliveInterval, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !st.finished && st.kaGen == gen {
			st.pushFrameLocked(Frame{Status: StatusOK})
		}
	})
}

func (st *Stream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// dropSubLocked removes one subscription from this connection with an
// error frame for its id; a connection left with no subscription closes.
func (st *Stream) dropSubLocked(s *subscription, code *Error) {
	if st.subs[s.id] != s {
		return
	}
	delete(st.subs, s.id)
	s.conn = nil
	fr := Frame{Err: code, ErrorIDs: []string{s.id}, Status: StatusOK}
	if len(st.subs) == 0 {
		fr.Status = StatusClosed
	}
	st.pushFrameLocked(fr)
	if !s.deleted {
		st.b.armIdleTimerLocked(s)
	}
	if len(st.subs) == 0 {
		st.finishLocked(false)
	}
}

// finishLocked ends the connection: its subscriptions go back to queueing
// (and start their idle expiry), the hanging-connection budget is
// returned, and the reader sees io.EOF after the queued frames (or
// ErrConnectionDropped at once when dropped).
func (st *Stream) finishLocked(dropped bool) {
	if st.finished {
		return
	}
	st.finished = true
	b := st.b
	for _, s := range st.subs {
		s.conn = nil
		if !s.deleted {
			b.armIdleTimerLocked(s)
		}
	}
	st.subs = nil
	if st.kaTimer != nil {
		st.kaTimer()
	}
	st.kaGen++
	if st.toTimer != nil {
		st.toTimer()
	}
	if st.counted {
		st.counted = false
		b.conns[st.principal]--
		if b.conns[st.principal] <= 0 {
			delete(b.conns, st.principal)
		}
	}
	delete(b.streams, st)
	st.mu.Lock()
	st.ended = true
	if dropped {
		st.dropped = true
		st.frames = nil
	}
	st.mu.Unlock()
	st.signal()
}

func (st *Stream) dropLocked() { st.finishLocked(true) }

// Next returns the next frame, blocking until one is due. It returns
// io.EOF after the last frame, ErrConnectionDropped when the connection
// was dropped, or ctx.Err().
func (st *Stream) Next(ctx context.Context) (Frame, error) {
	for {
		st.mu.Lock()
		switch {
		case st.dropped:
			st.mu.Unlock()
			return Frame{}, ErrConnectionDropped
		case len(st.frames) > 0:
			f := st.frames[0]
			st.frames[0] = Frame{}
			st.frames = st.frames[1:]
			st.mu.Unlock()
			return f, nil
		case st.ended:
			st.mu.Unlock()
			return Frame{}, io.EOF
		}
		st.mu.Unlock()
		select {
		case <-st.wake:
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}

// Close ends the connection from the client side (the HTTP request
// finished or failed). Frames not yet read are discarded; the events in
// them were already taken from the queues, as with a real socket. It is
// safe to call more than once.
func (st *Stream) Close() {
	st.b.mu.Lock()
	defer st.b.mu.Unlock()
	st.finishLocked(false)
}

// DropStreams drops the open streaming connections of principal (all when
// empty) without a Closed envelope, as a network failure would. Their
// subscriptions keep queueing events for the next connection. It returns
// the number dropped.
func (b *Broker) DropStreams(principal string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for st := range b.streams {
		if principal == "" || st.principal == key(principal) {
			st.dropLocked()
			n++
		}
	}
	return n
}

// pending returns the number of frames queued and not yet read.
func (st *Stream) pending() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.frames)
}

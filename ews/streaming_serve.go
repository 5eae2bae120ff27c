package ews

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// serve runs one hanging request until it ends. It returns nil after
// ConnectionStatus Closed, and reports whether any envelope was read.
func (sc *StreamingConnection) serve(req *streamReq) (progressed bool, err error) {
	ctx := req.ctx
	wd := newStreamWatchdog(sc.opts.Clock, sc.opts.ReadTimeout, req.cancel)
	defer wd.close()

	if req.body == nil {
		body, err := sc.open(ctx, req.ids, int(sc.opts.ConnectionTimeout/time.Minute))
		if err != nil {
			if wd.expired() {
				return false, ErrStreamTimeout
			}
			if len(req.ids) == 1 && ntfIsSubscriptionLoss(err) {
				// A request-wide failure of a one-subscription request
				// (a SOAP fault such as ErrorInvalidSubscription) is that
				// subscription's.
				msg := &streamMessage{Errors: []streamError{{SubscriptionIDs: req.ids, Err: err}}}
				if !sc.handle(msg, req) {
					return false, sc.runCtx.Err()
				}
				return false, errStreamReconnect
			}
			return false, err
		}
		sc.mu.Lock()
		req.body = body
		sc.mu.Unlock()
	}
	defer req.body.Close()
	wd.setCloser(req.body)
	wd.touch()

	rd := newStreamReader(req.body)
	for {
		msg, err := rd.Next()
		if err != nil {
			switch {
			case wd.expired():
				return progressed, ErrStreamTimeout
			case ctx.Err() != nil:
				return progressed, ctx.Err()
			case errors.Is(err, io.EOF):
				return progressed, ErrStreamEnded
			}
			return progressed, err
		}
		wd.touch()
		progressed = true
		wd.setBusy(true)
		if sc.testHookEnvelope != nil {
			sc.testHookEnvelope(msg)
		}
		ok := sc.handle(msg, req)
		wd.setBusy(false)
		if sc.testHookHandled != nil {
			sc.testHookHandled()
		}
		if !ok {
			return progressed, sc.runCtx.Err()
		}
		if e := connectionError(msg); e != nil {
			if msg.Status != connectionOK {
				// The server ends the request (Closed) or says
				// nothing: reconnect after a back-off.
				return progressed, e
			}
			// The server keeps the request open: report and read on
			// (but not the hand-over's expected error).
			sc.mu.Lock()
			moving := sc.switching
			sc.mu.Unlock()
			if moving && errors.Is(e, ErrNewEventStreamConnectionOpened) {
				continue
			}
			if !sc.deliver(StreamingEvent{Err: e}) {
				return progressed, sc.runCtx.Err()
			}
			continue
		}
		if msg.Status == connectionClosed {
			return progressed, nil
		}
	}
}

// connectionError returns the first connection-wide error of msg, as
// classified by handle (which marks per-subscription ones).
func connectionError(msg *streamMessage) error {
	for _, e := range msg.Errors {
		if len(e.SubscriptionIDs) == 0 {
			return e.Err
		}
	}
	return nil
}

// handle delivers the content of one envelope read from req. It returns
// false when ctx ended during delivery. Notifications and errors for ids
// no longer on the connection are dropped; ErrorNewEventStreamConnectionOpened
// for ids a handover moved is expected and dropped too. A connection-wide
// error of a one-subscription request is turned into that subscription's
// (its SubscriptionIDs are filled in, so connectionError skips it).
// Subscriptions that failed leave the set and, if others remain, the
// request is handed over to a new one without them.
func (sc *StreamingConnection) handle(msg *streamMessage, req *streamReq) bool {
	sc.mu.Lock()
	active := sc.active
	moving := sc.switching
	sc.mu.Unlock()
	for i := range msg.Notifications {
		n := &msg.Notifications[i]
		if !active[n.SubscriptionID] {
			sc.log.Debug("notification for a subscription not on this connection", LogKeySubscription, n.SubscriptionID)
			continue
		}
		if !sc.deliver(StreamingEvent{Notification: n}) {
			return false
		}
	}
	var failed []string
	var out []StreamingEvent
	for i := range msg.Errors {
		e := &msg.Errors[i]
		if len(e.SubscriptionIDs) == 0 && len(req.ids) == 1 && ntfIsSubscriptionLoss(e.Err) {
			// A one-subscription request gets subscription errors
			// without ErrorSubscriptionIds.
			e.SubscriptionIDs = req.ids
		}
		if len(e.SubscriptionIDs) == 0 {
			continue
		}
		keep := ntfKeepsSubscription(e.Err)
		expected := moving && errors.Is(e.Err, ErrNewEventStreamConnectionOpened)
		for _, id := range e.SubscriptionIDs {
			if !active[id] || expected {
				continue
			}
			if !keep {
				failed = append(failed, id)
			}
			out = append(out, StreamingEvent{SubscriptionID: id, Err: e.Err, Removed: !keep})
		}
	}
	if len(failed) > 0 {
		// Drop the failed ids before reporting them, so that the
		// application sees them gone when it reads the report.
		sc.mu.Lock()
		if sc.removeLocked(failed) {
			// Exchange may stop serving the good ids of a request
			// that carries a bad one: move them to a new request.
			sc.handoverLocked()
		}
		sc.mu.Unlock()
	}
	for _, ev := range out {
		if !sc.deliver(ev) {
			return false
		}
	}
	return true
}

// streamWatchdog closes a hanging request that stays silent longer than
// its timeout. Each read moves the deadline; time spent delivering does
// not count. It runs on the connection's clock, so tests advance a fake
// clock instead of sleeping.
type streamWatchdog struct {
	clock   Clock
	timeout time.Duration
	cancel  context.CancelFunc

	mu     sync.Mutex
	last   time.Time
	busy   bool
	fired  bool
	done   bool
	stop   func() bool
	closer io.Closer
}

func newStreamWatchdog(clock Clock, timeout time.Duration, cancel context.CancelFunc) *streamWatchdog {
	w := &streamWatchdog{clock: clock, timeout: timeout, cancel: cancel, last: clock.Now()}
	w.mu.Lock()
	w.stop = clock.AfterFunc(timeout, w.check)
	w.mu.Unlock()
	return w
}

// check runs when the deadline may have passed.
func (w *streamWatchdog) check() {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	if w.busy {
		w.stop = w.clock.AfterFunc(w.timeout, w.check)
		w.mu.Unlock()
		return
	}
	idle := w.clock.Now().Sub(w.last)
	if idle < w.timeout {
		w.stop = w.clock.AfterFunc(w.timeout-idle, w.check)
		w.mu.Unlock()
		return
	}
	w.fired = true
	w.done = true
	closer := w.closer
	w.mu.Unlock()
	w.cancel()
	if closer != nil {
		closer.Close()
	}
}

func (w *streamWatchdog) touch() {
	w.mu.Lock()
	w.last = w.clock.Now()
	w.mu.Unlock()
}

func (w *streamWatchdog) setBusy(b bool) {
	w.mu.Lock()
	w.busy = b
	if !b {
		w.last = w.clock.Now()
	}
	w.mu.Unlock()
}

func (w *streamWatchdog) setCloser(c io.Closer) {
	w.mu.Lock()
	w.closer = c
	w.mu.Unlock()
}

func (w *streamWatchdog) expired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

func (w *streamWatchdog) close() {
	w.mu.Lock()
	w.done = true
	stop := w.stop
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
}

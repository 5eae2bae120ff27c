package ews

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// MaxStreamingSubscriptions is the most subscriptions one
// GetStreamingEvents request (and so one StreamingConnection, or one
// affinity group) may carry.
const MaxStreamingSubscriptions = 200

// Defaults of StreamingOptions.
const (
	// DefaultStreamConnectionTimeout is the ConnectionTimeout sent to the
	// server: the longest Exchange allows.
	DefaultStreamConnectionTimeout = 30 * time.Minute
	// DefaultStreamReadTimeout is how long a connection may stay silent.
	// Exchange sends a keep-alive at least every 45 s, so two missed
	// keep-alives mean the connection is dead.
	DefaultStreamReadTimeout = 90 * time.Second
	// DefaultStreamBuffer is the capacity of the Events channel.
	DefaultStreamBuffer = 64
	// DefaultStreamMaxBackoff caps the delay between failed reconnects.
	DefaultStreamMaxBackoff = time.Minute
)

// StreamingOptions configures a StreamingConnection. A nil *StreamingOptions
// means the zero value; zero fields take the documented defaults.
type StreamingOptions struct {
	// ConnectionTimeout is the lifetime of each hanging request, which
	// the server ends with ConnectionStatus Closed; the connection then
	// reopens at once. Whole minutes, 1–30. Default 30 minutes.
	ConnectionTimeout time.Duration
	// ReadTimeout is how long the connection may go without receiving
	// anything (events or keep-alives) before it is presumed dead, closed
	// and reopened. Time the reader spends blocked handing events to a
	// slow consumer does not count. Default 90 s.
	ReadTimeout time.Duration
	// Buffer is the capacity of the Events channel. Default 64.
	Buffer int
	// MaxBackoff caps the delay between reconnect attempts after
	// failures. Default one minute.
	MaxBackoff time.Duration
	// Group carries the affinity headers and the X-BackEndOverrideCookie
	// of the subscriptions' affinity group on every request. Nil sends
	// none.
	Group *AffinityGroup
	// Impersonation overrides the client's Options.Impersonation on the
	// streaming requests (impersonating the group's anchor gives the
	// connection that mailbox's budget).
	Impersonation *Impersonation
	// Clock drives the read timeout and the back-off; nil means the wall
	// clock.
	Clock NotificationClock
	// Logger receives connection-level diagnostics; nil means the
	// client's logger.
	Logger *slog.Logger
}

// Validate reports whether the options are usable.
func (o *StreamingOptions) Validate() error {
	if o == nil {
		return nil
	}
	if o.ConnectionTimeout != 0 {
		if o.ConnectionTimeout%time.Minute != 0 || o.ConnectionTimeout < time.Minute || o.ConnectionTimeout > 30*time.Minute {
			return fmt.Errorf("ews: StreamingOptions.ConnectionTimeout %v: must be whole minutes from 1 to 30", o.ConnectionTimeout)
		}
	}
	if o.ReadTimeout < 0 || o.Buffer < 0 || o.MaxBackoff < 0 {
		return errors.New("ews: StreamingOptions: negative ReadTimeout, Buffer or MaxBackoff")
	}
	return nil
}

// withDefaults returns a copy of o with defaults filled in.
func (o *StreamingOptions) withDefaults() StreamingOptions {
	var v StreamingOptions
	if o != nil {
		v = *o
	}
	if v.ConnectionTimeout == 0 {
		v.ConnectionTimeout = DefaultStreamConnectionTimeout
	}
	if v.ReadTimeout == 0 {
		v.ReadTimeout = DefaultStreamReadTimeout
	}
	if v.Buffer == 0 {
		v.Buffer = DefaultStreamBuffer
	}
	if v.MaxBackoff == 0 {
		v.MaxBackoff = DefaultStreamMaxBackoff
	}
	v.Clock = ntfClockOrReal(v.Clock)
	if v.Logger == nil {
		v.Logger = slog.Default()
	}
	return v
}

// StreamEvent is one item a StreamingConnection delivers: a notification,
// a per-subscription error, or a connection error. Exactly one of the
// three forms is set:
//
//   - Notification != nil: a notification, in the server's order;
//   - SubscriptionID != "" and Err != nil: the server reported an error for
//     that subscription (ErrorSubscriptionIds). Removed tells whether the
//     connection dropped the id (every code but ErrorMissedNotificationEvents,
//     after which Exchange keeps the subscription working);
//   - SubscriptionID == "" and Err != nil: the connection failed (transport
//     error, HTTP error, connection-wide response code, ErrStreamTimeout,
//     ErrStreamEnded). The connection reconnects by itself after a
//     back-off; the subscriptions stay. On a connection with several
//     subscriptions, a connection-wide code that means a lost
//     subscription (the *ResponseError's SubscriptionLost) may concern
//     any of them; on a connection with one subscription it is reported
//     as that subscription's error instead.
type StreamEvent struct {
	// Notification is a received notification.
	Notification *Notification
	// SubscriptionID names the subscription a per-subscription error
	// concerns.
	SubscriptionID string
	// Err is the error, typed as the package documents.
	Err error
	// Removed reports whether the subscription was removed from the
	// connection because of Err.
	Removed bool
}

// streamOpenFunc opens one GetStreamingEvents request for ids and returns
// its response body, already checked for HTTP success.
type streamOpenFunc func(ctx context.Context, ids []string, timeoutMinutes int) (io.ReadCloser, error)

// StreamingConnection multiplexes up to MaxStreamingSubscriptions streaming
// subscriptions over one hanging GetStreamingEvents request on its own HTTP
// connection, and keeps that request open: it reconnects at once after
// ConnectionStatus Closed (the events raised meanwhile are queued by the
// server, so the 30-minute boundary loses nothing), and after failures
// with capped exponential back-off.
//
// # Delivery contract
//
// Everything reaches the application on the channel returned by Events, in
// order, from the connection's single reader goroutine. Sends block: a
// consumer that stops reading stalls the reader (the read timeout is
// suspended meanwhile, and Exchange keeps queueing, reporting
// ErrorMissedNotificationEvents if its queue overflows); nothing is dropped
// by the client. The channel is closed after Close returns, or when the
// context given to Start ends.
//
// Add and Remove may be called at any time from any goroutine; when the
// connection is running they take effect by reconnecting. Events the
// server had already written onto the abandoned request but that were not
// yet read are lost to that request; callers that must not miss them Add
// before they depend on the events (Exchange queues events of a
// subscription that has no open connection).
type StreamingConnection struct {
	open   streamOpenFunc
	opts   StreamingOptions
	log    *slog.Logger
	events chan StreamEvent

	mu       sync.Mutex
	ids      []string
	cancel   context.CancelFunc // cancels the current request; nil when idle
	reconf   bool               // the current request was cancelled to apply a change
	changed  chan struct{}      // closed and replaced on each Add/Remove
	started  bool
	closed   bool
	stop     context.CancelFunc
	finished chan struct{}

	statsMu    sync.Mutex
	reconnects int

	// testHookEnvelope, when set, runs on the reader goroutine after each
	// envelope has been read, before its content is delivered.
	testHookEnvelope func(*StreamMessage)
}

// newStreamingConnection builds a connection over an opener.
func newStreamingConnection(open streamOpenFunc, opts *StreamingOptions) *StreamingConnection {
	o := opts.withDefaults()
	return &StreamingConnection{
		open:     open,
		opts:     o,
		log:      o.Logger.With(LogKeyComponent, "ews.streaming"),
		events:   make(chan StreamEvent, o.Buffer),
		changed:  make(chan struct{}),
		finished: make(chan struct{}),
	}
}

// Events returns the channel that delivers notifications and errors; see
// the delivery contract in the type's documentation.
func (sc *StreamingConnection) Events() <-chan StreamEvent { return sc.events }

// Add puts subscriptions on the connection. Ids already present are
// ignored. It fails with ErrTooManySubscriptions, changing nothing, if the
// connection would carry more than MaxStreamingSubscriptions, and with
// ErrConnectionClosed after Close.
func (sc *StreamingConnection) Add(ids ...string) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.closed {
		return ErrConnectionClosed
	}
	next := slices.Clone(sc.ids)
	for _, id := range ids {
		if id == "" {
			return fmt.Errorf("%w: empty subscription id", ErrInvalidSubscribeRequest)
		}
		if !slices.Contains(next, id) {
			next = append(next, id)
		}
	}
	if len(next) > MaxStreamingSubscriptions {
		return fmt.Errorf("%w: %d requested", ErrTooManySubscriptions, len(next))
	}
	if len(next) != len(sc.ids) {
		sc.ids = next
		sc.changedLocked()
	}
	return nil
}

// Remove takes subscriptions off the connection (it does not Unsubscribe
// them on the server). Unknown ids are ignored.
func (sc *StreamingConnection) Remove(ids ...string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	n := len(sc.ids)
	sc.ids = slices.DeleteFunc(slices.Clone(sc.ids), func(id string) bool { return slices.Contains(ids, id) })
	if len(sc.ids) != n {
		sc.changedLocked()
	}
}

// Subscriptions returns the ids the connection carries, in the order they
// were added.
func (sc *StreamingConnection) Subscriptions() []string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return slices.Clone(sc.ids)
}

// Reconnects returns how many times the connection has opened a new
// request after its first one.
func (sc *StreamingConnection) Reconnects() int {
	sc.statsMu.Lock()
	defer sc.statsMu.Unlock()
	return sc.reconnects
}

// changedLocked signals a change of the id set. sc.mu must be held.
func (sc *StreamingConnection) changedLocked() {
	close(sc.changed)
	sc.changed = make(chan struct{})
	if sc.cancel != nil {
		sc.reconf = true
		sc.cancel()
	}
}

// Start launches the reader goroutine. It returns at once. The connection
// runs until ctx ends or Close is called. Start may be called once.
func (sc *StreamingConnection) Start(ctx context.Context) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.closed {
		return ErrConnectionClosed
	}
	if sc.started {
		return errors.New("ews: StreamingConnection already started")
	}
	sc.started = true
	ctx, sc.stop = context.WithCancel(ctx)
	go sc.run(ctx)
	return nil
}

// Close stops the connection and waits for its goroutine to end; the
// Events channel is then closed. A second Close returns
// ErrConnectionClosed.
func (sc *StreamingConnection) Close() error {
	sc.mu.Lock()
	if sc.closed {
		sc.mu.Unlock()
		return ErrConnectionClosed
	}
	sc.closed = true
	started := sc.started
	if sc.stop != nil {
		sc.stop()
	}
	sc.mu.Unlock()
	if started {
		<-sc.finished
	} else {
		close(sc.events)
	}
	return nil
}

// run is the reader goroutine.
func (sc *StreamingConnection) run(ctx context.Context) {
	defer close(sc.finished)
	defer close(sc.events)
	failures := 0
	first := true
	for ctx.Err() == nil {
		connCtx, cancel := context.WithCancel(ctx)
		sc.mu.Lock()
		ids := slices.Clone(sc.ids)
		changed := sc.changed
		if len(ids) == 0 {
			sc.mu.Unlock()
			cancel()
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return
			}
		}
		sc.cancel = cancel
		sc.mu.Unlock()

		if !first {
			sc.statsMu.Lock()
			sc.reconnects++
			sc.statsMu.Unlock()
		}
		first = false
		progressed, err := sc.serve(connCtx, cancel, ids)
		cancel()

		sc.mu.Lock()
		reconf := sc.reconf
		sc.reconf = false
		sc.cancel = nil
		sc.mu.Unlock()

		if ctx.Err() != nil {
			return
		}
		if progressed {
			failures = 0
		}
		switch {
		case err == nil, reconf, errors.Is(err, errStreamReconnect):
			// Closed by the server, or the id set changed: reopen at once.
			continue
		}
		sc.log.Warn("streaming connection failed", LogKeySubscriptions, len(ids), LogKeyError, err)
		if !sc.deliver(ctx, StreamEvent{Err: err}) {
			return
		}
		failures++
		if !sc.wait(ctx, sc.backoff(failures, err)) {
			return
		}
	}
}

// errStreamReconnect asks run to reopen at once (ids were dropped after
// per-subscription errors).
var errStreamReconnect = errors.New("ews: reconnect to apply subscription changes")

// backoff returns the delay before reconnect attempt number failures.
// The first failure is retried at once (a dead connection is usually
// fixed by a new one); then 1 s, 2 s, 4 s, ... up to MaxBackoff, or the
// server's back-off hint when it is longer.
func (sc *StreamingConnection) backoff(failures int, err error) time.Duration {
	var d time.Duration
	if failures > 1 {
		d = time.Second << min(failures-2, 16)
		d = min(d, sc.opts.MaxBackoff)
	}
	if hint := ntfBackoffHint(err); hint > d {
		d = hint
	}
	return d
}

// wait sleeps d on the connection's clock and reports false when ctx ends
// first. Changes of the id set do not cut the wait short, so a burst of
// Add calls cannot defeat the server's back-off hint; they apply on the
// next attempt.
func (sc *StreamingConnection) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	fired := make(chan struct{})
	stop := sc.opts.Clock.AfterFunc(d, func() { close(fired) })
	select {
	case <-fired:
		return true
	case <-ctx.Done():
		stop()
		return false
	}
}

// deliver sends ev to the application, blocking until it is taken or ctx
// ends.
func (sc *StreamingConnection) deliver(ctx context.Context, ev StreamEvent) bool {
	select {
	case sc.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// serve runs one hanging request until it ends. It returns nil after
// ConnectionStatus Closed, and reports whether any envelope was read.
func (sc *StreamingConnection) serve(ctx context.Context, cancel context.CancelFunc, ids []string) (progressed bool, err error) {
	wd := newStreamWatchdog(sc.opts.Clock, sc.opts.ReadTimeout, cancel)
	defer wd.close()

	minutes := int(sc.opts.ConnectionTimeout / time.Minute)
	body, err := sc.open(ctx, ids, minutes)
	if err != nil {
		if wd.expired() {
			return false, ErrStreamTimeout
		}
		if len(ids) == 1 && ntfIsSubscriptionLoss(err) {
			// A request-wide failure of a one-subscription request
			// (a SOAP fault such as ErrorInvalidSubscription) is that
			// subscription's.
			msg := &StreamMessage{Errors: []StreamError{{SubscriptionIDs: ids, Err: err}}}
			ok, reconnect, _ := sc.handle(ctx, msg, ids, map[string]bool{ids[0]: true})
			if !ok {
				return false, ctx.Err()
			}
			if reconnect {
				return false, errStreamReconnect
			}
		}
		return false, err
	}
	defer body.Close()
	wd.setCloser(body)
	wd.touch()

	rd := NewStreamReader(body)
	known := make(map[string]bool, len(ids))
	for _, id := range ids {
		known[id] = true
	}
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
		ok, reconnect, connErr := sc.handle(ctx, msg, ids, known)
		wd.setBusy(false)
		if !ok {
			return progressed, ctx.Err()
		}
		if connErr != nil {
			return progressed, connErr
		}
		if msg.Status == ConnectionClosed {
			return progressed, nil
		}
		if reconnect {
			return progressed, errStreamReconnect
		}
	}
}

// handle delivers the content of one envelope. It reports whether delivery
// went through (false when ctx ended), whether subscriptions were dropped
// (so the request must be reopened without them), and a connection-wide
// error if the envelope carried one.
func (sc *StreamingConnection) handle(ctx context.Context, msg *StreamMessage, ids []string, known map[string]bool) (ok, reconnect bool, connErr error) {
	for i := range msg.Notifications {
		n := &msg.Notifications[i]
		if !known[n.SubscriptionID] {
			sc.log.Debug("notification for a subscription not on this connection", LogKeySubscription, n.SubscriptionID)
		}
		if !sc.deliver(ctx, StreamEvent{Notification: n}) {
			return false, false, nil
		}
	}
	for _, e := range msg.Errors {
		targets := e.SubscriptionIDs
		if len(targets) == 0 && len(ids) == 1 && ntfIsSubscriptionLoss(e.Err) {
			// A one-subscription connection gets subscription errors
			// without ErrorSubscriptionIds.
			targets = ids
		}
		if len(targets) == 0 {
			if connErr == nil {
				connErr = e.Err
			}
			continue
		}
		keep := ntfKeepsSubscription(e.Err)
		if !keep {
			sc.mu.Lock()
			n := len(sc.ids)
			sc.ids = slices.DeleteFunc(slices.Clone(sc.ids), func(id string) bool { return slices.Contains(targets, id) })
			if len(sc.ids) != n {
				reconnect = true
				close(sc.changed)
				sc.changed = make(chan struct{})
			}
			sc.mu.Unlock()
		}
		for _, id := range targets {
			if !sc.deliver(ctx, StreamEvent{SubscriptionID: id, Err: e.Err, Removed: !keep}) {
				return false, false, nil
			}
		}
	}
	return true, reconnect, connErr
}

// streamWatchdog closes a hanging request that stays silent longer than
// its timeout. Each read moves the deadline; time spent delivering does
// not count. It runs on the connection's clock, so tests advance a fake
// clock instead of sleeping.
type streamWatchdog struct {
	clock   NotificationClock
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

func newStreamWatchdog(clock NotificationClock, timeout time.Duration, cancel context.CancelFunc) *streamWatchdog {
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

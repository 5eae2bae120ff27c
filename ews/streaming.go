package ews

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mailsync/mailsync/debounce"
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
	// DefaultStreamHandoverTimeout bounds the reading of a replaced
	// request after Add.
	DefaultStreamHandoverTimeout = 10 * time.Second
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
	// HandoverTimeout bounds how long the old request is read after Add
	// has opened its replacement (see StreamingConnection). Default 10 s.
	HandoverTimeout time.Duration
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
	Clock Clock
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
	if o.ReadTimeout < 0 || o.Buffer < 0 || o.MaxBackoff < 0 || o.HandoverTimeout < 0 {
		return errors.New("ews: StreamingOptions: negative ReadTimeout, Buffer, MaxBackoff or HandoverTimeout")
	}
	return nil
}

// withDefaults returns a copy of o with defaults filled in.
func (o *StreamingOptions) withDefaults() StreamingOptions {
	var v StreamingOptions
	if o != nil {
		v = *o
	}
	v.ConnectionTimeout = cmp.Or(v.ConnectionTimeout, DefaultStreamConnectionTimeout)
	v.ReadTimeout = cmp.Or(v.ReadTimeout, DefaultStreamReadTimeout)
	v.Buffer = cmp.Or(v.Buffer, DefaultStreamBuffer)
	v.MaxBackoff = cmp.Or(v.MaxBackoff, DefaultStreamMaxBackoff)
	v.HandoverTimeout = cmp.Or(v.HandoverTimeout, DefaultStreamHandoverTimeout)
	v.Clock = clockOrSystem(v.Clock)
	if v.Logger == nil {
		v.Logger = slog.Default()
	}
	return v
}

// StreamingEvent is one item a StreamingConnection delivers: a notification,
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
//     back-off (unless the server kept the request open with
//     ConnectionStatus OK, when reading simply goes on); the
//     subscriptions stay. On a connection with several
//     subscriptions, a connection-wide code that means a lost
//     subscription (the *ResponseError's SubscriptionLost) may concern
//     any of them; on a connection with one subscription it is reported
//     as that subscription's error instead.
type StreamingEvent struct {
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
// ErrorMissedNotificationEvents if its queue overflows); the client drops
// nothing but what concerns ids that are not (or no longer) on the
// connection. The channel is closed after Close returns, or when the
// context given to Start ends.
//
// # Adding and removing subscriptions
//
// Add and Remove may be called at any time from any goroutine.
//
// Add hands over without losing events: a new request carrying the new id
// set is opened beside the current one (Exchange then moves the
// subscriptions to it and answers ErrorNewEventStreamConnectionOpened on
// the old request, which the connection expects and does not report); the
// old request is read to its end — at most HandoverTimeout — before the
// new one is read, so every event the server wrote on the old request is
// delivered, in order. If the new request cannot be opened (for instance
// ErrorExceededConnectionCount), the connection falls back to closing the
// old request and reopening, which may lose events written but not yet
// read.
//
// Remove opens nothing: notifications and errors for removed ids are
// dropped from then on, and the ids leave the request at its next
// reconnect. Removing the last id closes the request.
type StreamingConnection struct {
	open   streamOpenFunc
	opts   StreamingOptions
	log    *slog.Logger
	events chan StreamingEvent

	mu        sync.Mutex
	ids       []string
	active    map[string]bool // ids as a set
	changed   chan struct{}   // closed and replaced on each change of ids
	cur       *streamReq      // the request run is serving; nil when none
	pending   *streamReq      // a request opened by a handover, not yet read
	switching bool            // a handover is opening or pending
	dirty     bool            // ids grew during a handover
	hoDone    chan struct{}   // closed when the handover being opened is settled
	reconf    bool            // cur was cancelled to apply a change
	runCtx    context.Context
	started   bool
	closed    bool
	stop      context.CancelFunc
	finished  chan struct{}
	helpers   sync.WaitGroup

	statsMu    sync.Mutex
	reconnects int

	// testHookEnvelope, when set, runs on the reader goroutine after each
	// envelope has been read, before its content is delivered.
	testHookEnvelope func(*streamMessage)
	// testHookHandled, when set, runs on the reader goroutine after an
	// envelope's content has been delivered, before the next read.
	testHookHandled func()
}

// streamReq is one GetStreamingEvents request.
type streamReq struct {
	ids    []string
	ctx    context.Context
	cancel context.CancelFunc
	body   io.ReadCloser // nil until opened
	drain  func() bool   // stops the handover timer of the request it replaces
}

// newStreamingConnection builds a connection over an opener.
func newStreamingConnection(open streamOpenFunc, opts *StreamingOptions) *StreamingConnection {
	o := opts.withDefaults()
	return &StreamingConnection{
		open:     open,
		opts:     o,
		log:      o.Logger.With(LogKeyComponent, "ews.streaming"),
		events:   make(chan StreamingEvent, o.Buffer),
		active:   make(map[string]bool),
		changed:  make(chan struct{}),
		finished: make(chan struct{}),
	}
}

// Events returns the channel that delivers notifications and errors; see
// the delivery contract in the type's documentation.
func (sc *StreamingConnection) Events() <-chan StreamingEvent { return sc.events }

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
		sc.setIDsLocked(next)
		sc.handoverLocked()
	}
	return nil
}

// Remove takes subscriptions off the connection (it does not Unsubscribe
// them on the server). Unknown ids are ignored. See the type's
// documentation for when they leave the request.
func (sc *StreamingConnection) Remove(ids ...string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.removeLocked(ids)
}

// removeLocked drops ids from the set and reports whether any was present.
func (sc *StreamingConnection) removeLocked(ids []string) bool {
	next := slices.DeleteFunc(slices.Clone(sc.ids), func(id string) bool { return slices.Contains(ids, id) })
	if len(next) == len(sc.ids) {
		return false
	}
	sc.setIDsLocked(next)
	if len(next) == 0 && sc.cur != nil {
		sc.reconf = true
		sc.cur.cancel()
	}
	return true
}

// setIDsLocked replaces the id set and wakes an idle run.
func (sc *StreamingConnection) setIDsLocked(ids []string) {
	sc.ids = ids
	sc.active = make(map[string]bool, len(ids))
	for _, id := range ids {
		sc.active[id] = true
	}
	close(sc.changed)
	sc.changed = make(chan struct{})
}

// Subscriptions returns the ids the connection carries, in the order they
// were added.
func (sc *StreamingConnection) Subscriptions() []string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return slices.Clone(sc.ids)
}

// Reconnects returns how many times the connection has opened a new
// request after its first one (handovers included).
func (sc *StreamingConnection) Reconnects() int {
	sc.statsMu.Lock()
	defer sc.statsMu.Unlock()
	return sc.reconnects
}

func (sc *StreamingConnection) countReconnect() {
	sc.statsMu.Lock()
	sc.reconnects++
	sc.statsMu.Unlock()
}

// handoverLocked moves the current request to the current id set. sc.mu
// must be held.
func (sc *StreamingConnection) handoverLocked() {
	switch {
	case sc.cur == nil || len(sc.ids) == 0:
		// Idle, backing off, or nothing to carry: the next request
		// takes the new set.
	case sc.cur.body == nil:
		// Still opening: nothing has been read, so reopen.
		sc.reconf = true
		sc.cur.cancel()
	case sc.switching:
		sc.dirty = true
	default:
		sc.switching = true
		ids := slices.Clone(sc.ids)
		old := sc.cur
		done := make(chan struct{})
		sc.hoDone = done
		sc.helpers.Add(1)
		go sc.openHandover(old, ids, done)
	}
}

// openHandover opens the request that replaces old, on a goroutine of its
// own while the reader keeps reading old.
func (sc *StreamingConnection) openHandover(old *streamReq, ids []string, done chan struct{}) {
	defer sc.helpers.Done()
	ctx, cancel := context.WithCancel(sc.runCtx)
	body, err := sc.open(ctx, ids, int(sc.opts.ConnectionTimeout/time.Minute))
	sc.mu.Lock()
	defer sc.mu.Unlock()
	defer close(done)
	if err != nil || sc.runCtx.Err() != nil {
		cancel()
		if body != nil {
			body.Close()
		}
		sc.switching, sc.dirty = false, false
		if sc.runCtx.Err() == nil {
			sc.log.Warn("streaming handover failed; reopening", LogKeySubscriptions, len(ids), LogKeyError, err)
			if sc.cur == old {
				sc.reconf = true
				old.cancel()
			}
		}
		return
	}
	req := &streamReq{ids: ids, ctx: ctx, cancel: cancel, body: body}
	if sc.cur == old {
		// Read old to its end, but no longer than HandoverTimeout.
		req.drain = sc.opts.Clock.AfterFunc(sc.opts.HandoverTimeout, func() {
			sc.mu.Lock()
			defer sc.mu.Unlock()
			if sc.cur == old {
				old.cancel()
			}
		})
	}
	sc.pending = req
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
	sc.runCtx = ctx
	go sc.run(ctx)
	return nil
}

// Close stops the connection and waits for its goroutines to end; the
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

// next returns the request to serve: a pending handover, or a new one for
// the current ids. It waits while there are no ids and returns nil when
// ctx ends.
func (sc *StreamingConnection) next(ctx context.Context) *streamReq {
	for {
		sc.mu.Lock()
		if req := sc.pending; req != nil {
			sc.pending = nil
			sc.switching = false
			if req.drain != nil {
				req.drain()
			}
			if len(sc.ids) == 0 {
				// Everything was removed meanwhile.
				req.cancel()
				req.body.Close()
				sc.mu.Unlock()
				continue
			}
			sc.cur = req
			if sc.dirty {
				sc.dirty = false
				if !slices.Equal(req.ids, sc.ids) {
					sc.handoverLocked()
				}
			}
			sc.mu.Unlock()
			return req
		}
		if sc.switching {
			// The old request ended before its replacement was
			// open: wait for it rather than race it with a third.
			done := sc.hoDone
			sc.mu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		if len(sc.ids) == 0 {
			changed := sc.changed
			sc.mu.Unlock()
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		rctx, cancel := context.WithCancel(ctx)
		req := &streamReq{ids: slices.Clone(sc.ids), ctx: rctx, cancel: cancel}
		sc.cur = req
		sc.mu.Unlock()
		return req
	}
}

// run is the reader goroutine.
func (sc *StreamingConnection) run(ctx context.Context) {
	defer close(sc.finished)
	defer close(sc.events)
	defer func() {
		sc.helpers.Wait()
		sc.mu.Lock()
		if p := sc.pending; p != nil {
			p.cancel()
			p.body.Close()
			sc.pending = nil
		}
		sc.mu.Unlock()
	}()
	failures := 0
	first := true
	for ctx.Err() == nil {
		req := sc.next(ctx)
		if req == nil {
			return
		}
		if !first {
			sc.countReconnect()
		}
		first = false
		progressed, err := sc.serve(req)
		req.cancel()

		sc.mu.Lock()
		reconf := sc.reconf
		sc.reconf = false
		sc.cur = nil
		handover := sc.switching
		sc.mu.Unlock()

		if ctx.Err() != nil {
			return
		}
		if progressed {
			failures = 0
		}
		switch {
		case err == nil, reconf, handover, errors.Is(err, errStreamReconnect):
			// Closed by the server, handed over, or the id set
			// changed: go on at once.
			continue
		}
		sc.log.Warn("streaming connection failed", LogKeySubscriptions, len(req.ids), LogKeyError, err)
		if !sc.deliver(StreamingEvent{Err: err}) {
			return
		}
		failures++
		// Changes of the id set do not cut the wait short, so a burst of
		// Add calls cannot defeat the server's back-off hint; they apply
		// on the next attempt.
		if debounce.Sleep(ctx, sc.opts.Clock, sc.backoff(failures, err)) != nil {
			return
		}
	}
}

// errStreamReconnect asks run to reopen at once (the request was refused
// for its only subscription, which has been dropped).
var errStreamReconnect = errors.New("ews: reconnect to apply subscription changes")

// backoff returns the delay before reconnect attempt number failures.
// The first failure is retried at once (a dead connection is usually
// fixed by a new one); then 1 s, 2 s, 4 s, ... up to MaxBackoff (a
// Backoff without jitter), or the server's back-off hint when it is
// longer.
func (sc *StreamingConnection) backoff(failures int, err error) time.Duration {
	var d time.Duration
	if failures > 1 {
		d = Backoff{Base: time.Second, Max: sc.opts.MaxBackoff, NoJitter: true}.Delay(failures-2, 0)
	}
	return max(d, BackOffHint(err))
}

// deliver sends ev to the application, blocking until it is taken or the
// connection stops. (Cancelling one request does not stop delivery of what
// was already read from it.)
func (sc *StreamingConnection) deliver(ev StreamingEvent) bool {
	select {
	case sc.events <- ev:
		return true
	case <-sc.runCtx.Done():
		return false
	}
}

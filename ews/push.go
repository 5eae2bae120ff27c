package ews

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of PushListenerOptions.
const (
	// DefaultPushMaxBodyBytes bounds a SendNotification body. A push
	// notification holds at most 50 events, a few tens of kilobytes.
	DefaultPushMaxBodyBytes = 1 << 20
	// DefaultPushBuffer is the capacity of the Events channel.
	DefaultPushBuffer = 256
	// DefaultPushLivenessSlack is added to 2 × StatusFrequency before a
	// silent subscription is reported lost.
	DefaultPushLivenessSlack = time.Minute
	// DefaultPushPendingWait bounds how long a POST for a not yet
	// registered subscription waits while an Expect is outstanding.
	DefaultPushPendingWait = 30 * time.Second
)

// PushListenerOptions configures a PushListener. A nil *PushListenerOptions
// means the zero value; zero fields take the documented defaults.
type PushListenerOptions struct {
	// Token, when set, is a secret the last segment of the request path
	// must equal (compared in constant time): subscribe with a URL such as
	// https://host/ews/push/<Token>. Other paths get 404 with no effect.
	Token string
	// MaxBodyBytes bounds a request body; longer bodies get 413. Default
	// DefaultPushMaxBodyBytes.
	MaxBodyBytes int64
	// Buffer is the capacity of the Events channel. Default
	// DefaultPushBuffer.
	Buffer int
	// LivenessSlack is added to 2 × StatusFrequency to give the deadline
	// after which a silent subscription is reported lost. Default
	// DefaultPushLivenessSlack.
	LivenessSlack time.Duration
	// PendingWait bounds how long a POST for an unknown subscription id
	// waits for an outstanding Expect to be released before it is
	// answered Unsubscribe. Default DefaultPushPendingWait.
	PendingWait time.Duration
	// Clock drives liveness tracking; nil means the wall clock.
	Clock Clock
	// Logger receives diagnostics (never notification content); nil
	// means slog.Default().
	Logger *slog.Logger
}

// Validate reports whether the options are usable.
func (o *PushListenerOptions) Validate() error {
	if o == nil {
		return nil
	}
	if o.MaxBodyBytes < 0 || o.Buffer < 0 || o.LivenessSlack < 0 || o.PendingWait < 0 {
		return fmt.Errorf("%w: negative PushListenerOptions field", ErrInvalidOptions)
	}
	if strings.Contains(o.Token, "/") {
		return fmt.Errorf("%w: PushListenerOptions.Token must be one path segment", ErrInvalidOptions)
	}
	return nil
}

// PushEvent is one item a PushListener delivers. Either Notification is
// set (a notification received and acknowledged), or Err is set with the
// SubscriptionID it concerns:
//
//   - Err matching ErrSubscriptionLost: no notification nor StatusEvent
//     arrived within 2 × StatusFrequency plus slack. The subscription has
//     been unregistered (a late POST for it is answered Unsubscribe);
//     create a fresh one and reconcile.
//   - Err from the server (a *ResponseError in a SendNotification
//     message, such as ErrorMissedNotificationEvents).
//
// A Notification whose PreviousWatermark does not continue the last
// watermark seen for its subscription comes with Gap set and Err matching
// ErrWatermarkGap: events were lost in between and the subscription's
// folders need reconciling.
type PushEvent struct {
	// SubscriptionID is the subscription concerned.
	SubscriptionID string
	// Notification is the received notification, or nil.
	Notification *Notification
	// Gap reports a watermark discontinuity before Notification.
	Gap bool
	// Err is the error, if any.
	Err error
}

// PushListener is an http.Handler that receives EWS push notifications
// (SendNotification POSTs) for the subscriptions registered with it.
//
// # Delivery contract
//
// Notifications are handed to the Events channel without blocking, from
// the goroutine serving the POST. When the channel is full the POST is
// answered 503 and counted in Dropped: nothing is recorded but the sign of
// life (the subscription's liveness deadline moves), and Exchange retries
// the same notification later (its retry schedule), so no event is lost
// silently. Lost-subscription reports are queued and sent by the
// listener's own goroutine, blocking, so they are never dropped. The
// channel is closed by Close.
//
// # Answers
//
//   - a valid notification for a registered subscription: 200 with
//     SubscriptionStatus OK;
//   - a valid notification for an unknown subscription (never registered,
//     unregistered, or reported lost): 200 with SubscriptionStatus
//     Unsubscribe, which ends the subscription on the server; nothing is
//     delivered and no state changes;
//   - not POST: 405; wrong path token: 404; content type other than XML:
//     415; body larger than MaxBodyBytes: 413; not XML or not a
//     SendNotification: 400 — all with no effect on state;
//   - Events channel full, or listener closed: 503 with Retry-After, so
//     that Exchange retries.
type PushListener struct {
	opts   PushListenerOptions
	log    *slog.Logger
	events chan PushEvent

	dropped atomic.Uint64

	mu      sync.Mutex
	subs    map[string]*pushSub
	pending int
	settled chan struct{} // closed and replaced when pending drops to 0
	closed  bool
	lost    []PushEvent
	// inflight counts lost reports the reporter has taken off lost but
	// not yet sent; handlers leave room for them.
	inflight int
	wake     chan struct{}
	done     chan struct{}
	wg       sync.WaitGroup
}

// pushSub is the state of one registered push subscription.
type pushSub struct {
	id        string
	deadline  time.Duration // 2 × StatusFrequency + slack
	lastSeen  time.Time
	watermark string // last watermark received
	prevOfLst string // PreviousWatermark of the last notification
	stop      func() bool
	gone      bool
}

// NewPushListener returns a listener with no subscriptions. Mount it on an
// HTTP server reachable from Exchange before subscribing: Exchange POSTs
// the first notification right after Subscribe.
func NewPushListener(opts *PushListenerOptions) (*PushListener, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	var o PushListenerOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultPushMaxBodyBytes
	}
	if o.Buffer == 0 {
		o.Buffer = DefaultPushBuffer
	}
	if o.LivenessSlack == 0 {
		o.LivenessSlack = DefaultPushLivenessSlack
	}
	if o.PendingWait == 0 {
		o.PendingWait = DefaultPushPendingWait
	}
	o.Clock = clockOrSystem(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	l := &PushListener{
		opts:    o,
		log:     o.Logger.With(LogKeyComponent, "ews.push"),
		events:  make(chan PushEvent, o.Buffer),
		subs:    make(map[string]*pushSub),
		settled: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	l.wg.Add(1)
	go l.reporter()
	return l, nil
}

// Events returns the channel of notifications and errors; see the
// delivery contract in the type's documentation.
func (l *PushListener) Events() <-chan PushEvent { return l.events }

// Dropped returns how many notifications were refused with 503 because
// the Events channel was full.
func (l *PushListener) Dropped() uint64 { return l.dropped.Load() }

// Expect announces a Subscribe in flight. Until the returned release
// function is called (after Register), a POST for an unknown subscription
// id waits — at most PendingWait — instead of being answered Unsubscribe,
// since Exchange may POST the first notification before the Subscribe
// response arrives. Call release exactly once, whether Subscribe
// succeeded or not.
func (l *PushListener) Expect() (release func()) {
	l.mu.Lock()
	l.pending++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.pending--
			if l.pending == 0 {
				close(l.settled)
				l.settled = make(chan struct{})
			}
			l.mu.Unlock()
		})
	}
}

// Register makes the listener accept notifications for a push
// subscription. statusFrequency is the subscription's StatusFrequency
// (1–1440 minutes); watermark is the Watermark the Subscribe response
// returned (or "" if unknown), from which continuity is checked.
// Registering a known id again resets its state.
func (l *PushListener) Register(id string, statusFrequency time.Duration, watermark string) error {
	if id == "" {
		return fmt.Errorf("%w: empty subscription id", ErrInvalidSubscribeRequest)
	}
	if statusFrequency < time.Minute || statusFrequency > 1440*time.Minute {
		return fmt.Errorf("%w: StatusFrequency %v outside 1–1440 minutes", ErrInvalidSubscribeRequest, statusFrequency)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrConnectionClosed
	}
	if old := l.subs[id]; old != nil {
		old.gone = true
		old.stop()
	}
	s := &pushSub{
		id:        id,
		deadline:  2*statusFrequency + l.opts.LivenessSlack,
		lastSeen:  l.opts.Clock.Now(),
		watermark: watermark,
	}
	l.subs[id] = s
	s.stop = l.opts.Clock.AfterFunc(s.deadline, func() { l.checkLiveness(s) })
	return nil
}

// Unregister forgets a subscription: later POSTs for it are answered
// Unsubscribe, which ends it on the server.
func (l *PushListener) Unregister(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.subs[id]; s != nil {
		s.gone = true
		s.stop()
		delete(l.subs, id)
	}
}

// Watermark returns the last watermark received for a registered
// subscription (to persist for resumption), and whether the id is
// registered.
func (l *PushListener) Watermark(id string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.subs[id]
	if s == nil {
		return "", false
	}
	return s.watermark, true
}

// Close stops liveness tracking, waits for the listener's goroutine and
// closes the Events channel. Requests served after Close get 503. A second
// Close returns ErrConnectionClosed.
func (l *PushListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrConnectionClosed
	}
	l.closed = true
	for id, s := range l.subs {
		s.gone = true
		s.stop()
		delete(l.subs, id)
	}
	close(l.done)
	l.mu.Unlock()
	l.wg.Wait()
	// No POST can send any more: handlers check closed under mu before
	// sending, and sending happens under mu.
	l.mu.Lock()
	close(l.events)
	l.mu.Unlock()
	return nil
}

// checkLiveness runs on the clock when a subscription's deadline may have
// passed.
func (l *PushListener) checkLiveness(s *pushSub) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.gone || l.closed {
		return
	}
	idle := l.opts.Clock.Now().Sub(s.lastSeen)
	if idle < s.deadline {
		s.stop = l.opts.Clock.AfterFunc(s.deadline-idle, func() { l.checkLiveness(s) })
		return
	}
	s.gone = true
	delete(l.subs, s.id)
	l.log.Warn("push subscription lost", LogKeySubscription, s.id, LogKeySilentFor, idle)
	l.lost = append(l.lost, PushEvent{
		SubscriptionID: s.id,
		Err:            fmt.Errorf("%w: %s silent for %v", ErrSubscriptionLost, s.id, idle),
	})
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// reporter sends queued lost-subscription reports, blocking.
func (l *PushListener) reporter() {
	defer l.wg.Done()
	for {
		select {
		case <-l.done:
			return
		case <-l.wake:
		}
		for {
			l.mu.Lock()
			if len(l.lost) == 0 {
				l.mu.Unlock()
				break
			}
			ev := l.lost[0]
			l.lost = l.lost[1:]
			l.inflight++
			l.mu.Unlock()
			select {
			case l.events <- ev:
			case <-l.done:
				return
			}
			l.mu.Lock()
			l.inflight--
			l.mu.Unlock()
		}
	}
}

// The SOAP replies of the listener (EWS-PROTOCOL.md S9).
const (
	pushReplyOK = `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">` +
		`<soap:Body><m:SendNotificationResult><m:SubscriptionStatus>OK</m:SubscriptionStatus></m:SendNotificationResult></soap:Body></soap:Envelope>`
	pushReplyUnsubscribe = `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">` +
		`<soap:Body><m:SendNotificationResult><m:SubscriptionStatus>Unsubscribe</m:SubscriptionStatus></m:SendNotificationResult></soap:Body></soap:Envelope>`
)

// ServeHTTP handles one SendNotification POST.
func (l *PushListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.opts.Token != "" {
		seg := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		if subtle.ConstantTimeCompare([]byte(seg), []byte(l.opts.Token)) != 1 {
			http.NotFound(w, r)
			return
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !pushXMLContentType(r.Header.Get("Content-Type")) {
		http.Error(w, "content type must be text/xml", http.StatusUnsupportedMediaType)
		return
	}
	if r.ContentLength > l.opts.MaxBodyBytes {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, l.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		// Shutting down: make the server retry later rather than end
		// subscriptions a restarted listener may resume.
		w.Header().Set("Retry-After", "5")
		http.Error(w, "listener closed", http.StatusServiceUnavailable)
		return
	}
	msgs, err := decodeSendNotification(body)
	if err != nil {
		l.log.Debug("rejected push post", LogKeyError, err)
		http.Error(w, "not a SendNotification message", http.StatusBadRequest)
		return
	}
	status, code := l.accept(r.Context(), msgs)
	switch code {
	case http.StatusOK:
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
		http.Error(w, "listener busy", code)
		return
	default:
		http.Error(w, http.StatusText(code), code)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	if status == pushUnsubscribe {
		io.WriteString(w, pushReplyUnsubscribe)
		return
	}
	io.WriteString(w, pushReplyOK)
}

type pushStatus int

const (
	pushOK pushStatus = iota
	pushUnsubscribe
)

// accept applies the messages of one POST: all or nothing. It returns the
// SubscriptionStatus to answer and the HTTP status.
func (l *PushListener) accept(ctx context.Context, msgs []sendNotificationMessage) (pushStatus, int) {
	ids := make([]string, 0, 1)
	for _, m := range msgs {
		if m.SubscriptionID != "" && !slices.Contains(ids, m.SubscriptionID) {
			ids = append(ids, m.SubscriptionID)
		}
	}
	if len(ids) == 0 {
		// An error message without any subscription id: nothing to
		// attribute it to.
		return pushOK, http.StatusBadRequest
	}
	if !l.waitKnown(ctx, ids) {
		return pushUnsubscribe, http.StatusOK
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return pushOK, http.StatusServiceUnavailable
	}
	// Re-check under the lock: a subscription may have been reported
	// lost or unregistered meanwhile.
	for _, id := range ids {
		if l.subs[id] == nil {
			return pushUnsubscribe, http.StatusOK
		}
	}
	// Build every event first, so that a full channel refuses the whole
	// POST before any state changes.
	type pending struct {
		ev        PushEvent
		sub       *pushSub
		watermark string
		prev      string
		dup       bool
	}
	var out []pending
	shadow := make(map[string][2]string, len(ids)) // id -> {watermark, prevOfLast} as if applied
	for _, id := range ids {
		s := l.subs[id]
		shadow[id] = [2]string{s.watermark, s.prevOfLst}
	}
	for i := range msgs {
		m := &msgs[i]
		s := l.subs[m.SubscriptionID]
		if m.Err != nil {
			out = append(out, pending{ev: PushEvent{SubscriptionID: m.SubscriptionID, Err: m.Err}, sub: s})
			continue
		}
		n := m.Notification
		st := shadow[n.SubscriptionID]
		p := pending{sub: s, prev: n.PreviousWatermark, watermark: n.LastWatermark()}
		if p.watermark == "" {
			p.watermark = st[0]
		}
		switch {
		case st[0] != "" && n.PreviousWatermark == st[1] && p.watermark == st[0] && st[1] != st[0]:
			// The server resent the notification we already took
			// (our answer did not reach it).
			p.dup = true
		case st[0] != "" && n.PreviousWatermark != "" && n.PreviousWatermark != st[0]:
			p.ev = PushEvent{SubscriptionID: n.SubscriptionID, Notification: n, Gap: true,
				Err: fmt.Errorf("%w: %s continued from %q, last seen %q", ErrWatermarkGap, n.SubscriptionID, n.PreviousWatermark, st[0])}
		default:
			p.ev = PushEvent{SubscriptionID: n.SubscriptionID, Notification: n}
		}
		shadow[n.SubscriptionID] = [2]string{p.watermark, p.prev}
		out = append(out, p)
	}
	sends := 0
	for _, p := range out {
		if !p.dup {
			sends++
		}
	}
	now := l.opts.Clock.Now()
	if cap(l.events)-len(l.events)-l.inflight < sends {
		l.dropped.Add(1)
		// The server is alive and will retry: credit liveness, but
		// record nothing else.
		for _, p := range out {
			if p.sub != nil {
				p.sub.lastSeen = now
			}
		}
		return pushOK, http.StatusServiceUnavailable
	}
	for _, p := range out {
		// p.sub is nil for an error message that names no
		// subscription, beside others that do.
		if p.sub != nil {
			p.sub.lastSeen = now
		}
		if p.sub != nil && (p.ev.Notification != nil || p.dup) {
			p.sub.watermark, p.sub.prevOfLst = p.watermark, p.prev
		}
		if !p.dup {
			// Cannot block: capacity was checked under l.mu, and the
			// only other sender, the reporter, holds a reserved slot.
			select {
			case l.events <- p.ev:
			default:
				l.dropped.Add(1)
				return pushOK, http.StatusServiceUnavailable
			}
		}
	}
	return pushOK, http.StatusOK
}

// waitKnown reports whether all ids are registered, waiting for
// outstanding Expect calls when some are not.
func (l *PushListener) waitKnown(ctx context.Context, ids []string) bool {
	var timeout <-chan struct{}
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		l.mu.Lock()
		known := true
		for _, id := range ids {
			if l.subs[id] == nil {
				known = false
				break
			}
		}
		pending, settled := l.pending, l.settled
		l.mu.Unlock()
		if known {
			return true
		}
		if pending == 0 {
			return false
		}
		if timeout == nil {
			ch := make(chan struct{})
			stop = l.opts.Clock.AfterFunc(l.opts.PendingWait, func() { close(ch) })
			timeout = ch
		}
		select {
		case <-settled:
		case <-timeout:
			return false
		case <-ctx.Done():
			return false
		case <-l.done:
			return false
		}
	}
}

// pushXMLContentType reports whether a Content-Type is one a SOAP 1.1
// message may carry.
func pushXMLContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "text/xml", "application/xml", "application/soap+xml":
		return true
	}
	return false
}

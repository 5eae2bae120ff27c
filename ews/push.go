package ews

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
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
	// DefaultPushPendingWait bounds how long a POST on the path of a
	// PushCallback not yet registered waits for Register.
	DefaultPushPendingWait = 5 * time.Second
	// MaxPushPendingWait is the largest PendingWait accepted.
	MaxPushPendingWait = 30 * time.Second
)

// PushListenerOptions configures a PushListener. A nil *PushListenerOptions
// means the zero value; zero fields take the documented defaults.
type PushListenerOptions struct {
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
	// PendingWait bounds how long a POST on the path of an outstanding
	// PushCallback (Expect called, Register not yet) waits for Register
	// before it is answered Unsubscribe. Default DefaultPushPendingWait;
	// at most MaxPushPendingWait.
	PendingWait time.Duration
	// Clock drives liveness tracking; nil means the wall clock.
	Clock Clock
	// Logger receives diagnostics (never notification content nor
	// callback paths); nil means slog.Default().
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
	if o.PendingWait > MaxPushPendingWait {
		return fmt.Errorf("%w: PushListenerOptions.PendingWait %v above %v", ErrInvalidOptions, o.PendingWait, MaxPushPendingWait)
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
// # Callback paths
//
// Each subscription has a callback path of its own, unguessable (128
// bits of HMAC under a key the listener draws at random): Expect reserves
// one before Subscribe, PushCallback.URL gives the SubscribeRequest.URL,
// and PushCallback.Register binds it to the subscription the server
// created. The listener looks only at the last segment of the request
// path, so it may be mounted under any prefix. A POST is acted on only
// when its path is the callback of a registered subscription and every
// SubscriptionId in its body is that subscription's; anything else (a
// path the listener never issued, a subscription id that is not the
// path's) is answered 404 before the body is read or with nothing
// recorded: no event, no watermark change, no liveness credit. A path the
// listener issued whose subscription is gone (unregistered, reported lost,
// or a callback released without Register) is answered Unsubscribe, since
// only the server that was given the path can know it. A path an earlier
// listener issued (before a restart) is unknown here, hence 404, unless
// its subscription was handed to Retire with the path's Digest: its next
// post is then answered Unsubscribe. Serve the listener
// over TLS (see PushServer) wherever the network between Exchange and the
// listener is not trusted: over plain HTTP the path can be read off the
// wire.
//
// # Watermarks
//
// Watermark returns the last watermark up to which the subscription's
// events arrived without a break, starting from the watermark given to
// Register. A notification continues the chain when its
// PreviousWatermark is the last watermark the server sent; an exact
// resend of the last notification (our answer did not reach the server)
// is acknowledged and not delivered again. Any other notification is a
// gap: it is delivered with Gap set, and Watermark stays where the break
// began, so that a resumption from it replays what was missed rather than
// skipping it; the notifications after the gap are checked against the
// chain the server continues.
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
//   - a valid notification on a registered subscription's path: 200 with
//     SubscriptionStatus OK;
//   - a valid notification on a path the listener issued whose
//     subscription is gone: 200 with SubscriptionStatus Unsubscribe, which
//     ends the subscription on the server; nothing is delivered and no
//     state changes;
//   - a path the listener never issued, or a subscription id that is not
//     the path's: 404; not POST: 405; content type other than XML: 415;
//     body larger than MaxBodyBytes: 413; not XML or not a
//     SendNotification: 400 — all with no effect on state, and with fixed
//     texts that reveal nothing of the listener's state;
//   - Events channel full, or listener closed: 503 with Retry-After, so
//     that Exchange retries.
//
// The handler sets no timeouts of its own: serve it with PushServer, or
// an http.Server with read, write and idle timeouts.
type PushListener struct {
	opts   PushListenerOptions
	log    *slog.Logger
	events chan PushEvent
	key    [32]byte // HMAC key of the callback paths

	dropped atomic.Uint64

	mu     sync.Mutex
	subs   map[string]*pushSub   // subscription id -> state
	routes map[string]*pushRoute // callback secret -> route
	// retiring maps the Digest of a callback path an earlier listener
	// issued to the subscription id it was for (Retire).
	retiring map[string]string
	closed   bool
	lost     []PushEvent
	// inflight counts lost reports the reporter has taken off lost but
	// not yet sent; handlers leave room for them.
	inflight int
	wake     chan struct{}
	done     chan struct{}
	wg       sync.WaitGroup
}

// pushRoute is a callback path the listener issued and has not retired:
// pending until Register sets sub.
type pushRoute struct {
	sub   *pushSub
	ready chan struct{} // closed by Register or Release
	fired bool          // ready is closed
}

func (r *pushRoute) settle() {
	if !r.fired {
		r.fired = true
		close(r.ready)
	}
}

// pushSub is the state of one registered push subscription.
type pushSub struct {
	id       string
	secret   string        // the callback path segment
	deadline time.Duration // 2 × StatusFrequency + slack
	lastSeen time.Time
	// watermark is the end of the unbroken chain from Register's
	// watermark; it no longer moves once a gap was seen.
	watermark string
	broken    bool
	// head and prevOfHead are the last watermark the server sent and the
	// PreviousWatermark of the notification that carried it.
	head       string
	prevOfHead string
	stop       func() bool
	gone       bool
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
	o.MaxBodyBytes = cmp.Or(o.MaxBodyBytes, DefaultPushMaxBodyBytes)
	o.Buffer = cmp.Or(o.Buffer, DefaultPushBuffer)
	o.LivenessSlack = cmp.Or(o.LivenessSlack, DefaultPushLivenessSlack)
	o.PendingWait = cmp.Or(o.PendingWait, DefaultPushPendingWait)
	o.Clock = clockOrSystem(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	l := &PushListener{
		opts:     o,
		log:      o.Logger.With(LogKeyComponent, "ews.push"),
		events:   make(chan PushEvent, o.Buffer),
		subs:     make(map[string]*pushSub),
		routes:   make(map[string]*pushRoute),
		retiring: make(map[string]string),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	rand.Read(l.key[:])
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

// pushSecretNonce and pushSecretTag are the byte lengths of the two parts
// of a callback secret.
const (
	pushSecretNonce = 16
	pushSecretTag   = 16
)

// newSecret returns a fresh callback path segment: a random nonce and its
// truncated HMAC, in unpadded base64url (43 characters).
func (l *PushListener) newSecret() string {
	var b [pushSecretNonce + pushSecretTag]byte
	rand.Read(b[:pushSecretNonce])
	copy(b[pushSecretNonce:], l.tag(b[:pushSecretNonce]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (l *PushListener) tag(nonce []byte) []byte {
	m := hmac.New(sha256.New, l.key[:])
	m.Write([]byte("mailsync push callback\x00"))
	m.Write(nonce)
	return m.Sum(nil)[:pushSecretTag]
}

// issued reports whether secret is a callback path segment this listener
// made, in time independent of where a guess goes wrong.
func (l *PushListener) issued(secret string) bool {
	if base64.RawURLEncoding.DecodedLen(len(secret)) != pushSecretNonce+pushSecretTag {
		return false
	}
	// Strict: a spelling whose last character differs only in unused bits
	// decodes to the same bytes, and must not count as the path.
	b, err := base64.RawURLEncoding.Strict().DecodeString(secret)
	if err != nil || len(b) != pushSecretNonce+pushSecretTag {
		return false
	}
	return hmac.Equal(l.tag(b[:pushSecretNonce]), b[pushSecretNonce:])
}

// PushCallback is the callback path a PushListener reserved for one push
// subscription: Expect makes one, URL gives the SubscribeRequest.URL, and
// Register binds it to the subscription the server created. Its methods
// are safe for concurrent use.
type PushCallback struct {
	l      *PushListener
	secret string
}

// Expect reserves a fresh callback path for a Subscribe about to be sent.
// Until Register or Release, a POST on that path waits — at most
// PendingWait — instead of being answered Unsubscribe, since Exchange may
// POST the first notification before the Subscribe response arrives. Call
// Release when done with the callback, whether Subscribe succeeded or
// not (after Register it only ends the reservation).
func (l *PushListener) Expect() *PushCallback {
	cb := &PushCallback{l: l, secret: l.newSecret()}
	l.mu.Lock()
	if !l.closed {
		l.routes[cb.secret] = &pushRoute{ready: make(chan struct{})}
	}
	l.mu.Unlock()
	return cb
}

// Path returns the callback's path segment, a secret: whoever knows it
// can post notifications for the subscription. Mount the listener so that
// it receives requests whose last path segment is this one.
func (cb *PushCallback) Path() string { return cb.secret }

// URL returns the SubscribeRequest.URL for the callback: base (the URL
// prefix under which the listener is served, e.g.
// "https://host:8443/mailsync/push") with the secret path segment
// appended.
func (cb *PushCallback) URL(base string) string {
	return strings.TrimRight(base, "/") + "/" + cb.secret
}

// Register makes the listener accept notifications for the push
// subscription id on the callback's path. statusFrequency is the
// subscription's StatusFrequency (1–1440 minutes); watermark is the
// Watermark the Subscribe response returned (or "" if unknown), from
// which continuity is checked. A callback is registered at most once;
// registering an id that is already registered (on another callback)
// replaces that registration, whose path is retired.
func (cb *PushCallback) Register(id string, statusFrequency time.Duration, watermark string) error {
	if id == "" {
		return fmt.Errorf("%w: empty subscription id", ErrInvalidSubscribeRequest)
	}
	if statusFrequency < time.Minute || statusFrequency > 1440*time.Minute {
		return fmt.Errorf("%w: StatusFrequency %v outside 1–1440 minutes", ErrInvalidSubscribeRequest, statusFrequency)
	}
	l := cb.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrConnectionClosed
	}
	r := l.routes[cb.secret]
	if r == nil || r.sub != nil {
		return fmt.Errorf("%w: push callback already registered or released", ErrInvalidSubscribeRequest)
	}
	if old := l.subs[id]; old != nil {
		l.retire(old)
	}
	s := &pushSub{
		id:        id,
		secret:    cb.secret,
		deadline:  2*statusFrequency + l.opts.LivenessSlack,
		lastSeen:  l.opts.Clock.Now(),
		watermark: watermark,
		head:      watermark,
	}
	l.subs[id] = s
	r.sub = s
	r.settle()
	s.stop = l.opts.Clock.AfterFunc(s.deadline, func() { l.checkLiveness(s) })
	return nil
}

// Release ends the reservation Expect made. A callback that was not
// registered is retired: POSTs on its path are answered Unsubscribe at
// once. Release is idempotent, and harmless after Register.
func (cb *PushCallback) Release() {
	l := cb.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.routes[cb.secret]; r != nil && r.sub == nil {
		r.settle()
		delete(l.routes, cb.secret)
	}
}

// retire forgets a registered subscription and its path; l.mu is held.
func (l *PushListener) retire(s *pushSub) {
	s.gone = true
	s.stop()
	delete(l.subs, s.id)
	delete(l.routes, s.secret)
}

// Unregister forgets a subscription: later POSTs on its path are answered
// Unsubscribe, which ends it on the server.
func (l *PushListener) Unregister(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.subs[id]; s != nil {
		l.retire(s)
	}
}

// Watermark returns the watermark up to which a registered subscription's
// events arrived without a break (to persist for resumption; see the
// type's documentation), and whether the id is registered.
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
	for _, s := range l.subs {
		l.retire(s)
	}
	for secret, r := range l.routes {
		r.settle()
		delete(l.routes, secret)
	}
	clear(l.retiring)
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
	l.retire(s)
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
	secret := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	var retiring string // the id of an earlier listener's path (push_retire.go)
	if !l.issued(secret) {
		if retiring = l.retiringID(secret); retiring == "" {
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
	if retiring != "" {
		l.answerRetiring(w, r, secret, retiring, msgs)
		return
	}
	status, code := l.accept(r.Context(), secret, msgs)
	switch code {
	case http.StatusOK:
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
		http.Error(w, "listener busy", code)
		return
	case http.StatusNotFound:
		http.NotFound(w, r)
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

// accept applies the messages of one POST on the callback path secret:
// all or nothing. It returns the SubscriptionStatus to answer and the
// HTTP status.
func (l *PushListener) accept(ctx context.Context, secret string, msgs []sendNotificationMessage) (pushStatus, int) {
	s := l.resolve(ctx, secret)
	if s == nil {
		return pushUnsubscribe, http.StatusOK
	}
	for _, m := range msgs {
		if m.SubscriptionID != "" && m.SubscriptionID != s.id {
			// Not this path's subscription: as if the path were
			// unknown.
			return pushOK, http.StatusNotFound
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return pushOK, http.StatusServiceUnavailable
	}
	if s.gone {
		// Reported lost or unregistered meanwhile.
		return pushUnsubscribe, http.StatusOK
	}
	// Build every event first, so that a full channel refuses the whole
	// POST before any state changes.
	type pending struct {
		ev  PushEvent
		dup bool
	}
	var out []pending
	head, prevOfHead, wm, broken := s.head, s.prevOfHead, s.watermark, s.broken
	for i := range msgs {
		m := &msgs[i]
		if m.Err != nil {
			out = append(out, pending{ev: PushEvent{SubscriptionID: s.id, Err: m.Err}})
			continue
		}
		n := m.Notification
		last := n.LastWatermark()
		if last == "" {
			last = head
		}
		switch {
		case head != "" && n.PreviousWatermark == prevOfHead && last == head && prevOfHead != head:
			// The server resent the notification we already took
			// (our answer did not reach it).
			out = append(out, pending{dup: true})
		case head != "" && n.PreviousWatermark != head:
			// Not the successor of what the server sent last: events
			// were lost in between. The unbroken chain ends here.
			broken = true
			out = append(out, pending{ev: PushEvent{SubscriptionID: s.id, Notification: n, Gap: true,
				Err: fmt.Errorf("%w: %s continued from %q, last seen %q", ErrWatermarkGap, s.id, n.PreviousWatermark, head)}})
		default:
			if !broken {
				wm = last
			}
			out = append(out, pending{ev: PushEvent{SubscriptionID: s.id, Notification: n}})
		}
		head, prevOfHead = last, n.PreviousWatermark
	}
	sends := 0
	for _, p := range out {
		if !p.dup {
			sends++
		}
	}
	// The path proves the server sent this POST: it is a sign of life
	// even when it is refused for want of room (the server retries it).
	s.lastSeen = l.opts.Clock.Now()
	if cap(l.events)-len(l.events)-l.inflight < sends {
		l.dropped.Add(1)
		return pushOK, http.StatusServiceUnavailable
	}
	s.head, s.prevOfHead, s.watermark, s.broken = head, prevOfHead, wm, broken
	for _, p := range out {
		if p.dup {
			continue
		}
		// Cannot block: capacity was checked under l.mu, and the only
		// other sender, the reporter, holds a reserved slot.
		l.events <- p.ev
	}
	return pushOK, http.StatusOK
}

// resolve returns the registered subscription of a callback path, waiting
// at most PendingWait while the path's callback is outstanding; nil when
// the path has no subscription (any more, or not in time).
func (l *PushListener) resolve(ctx context.Context, secret string) *pushSub {
	var timeout <-chan struct{}
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		l.mu.Lock()
		r := l.routes[secret]
		var s *pushSub
		var ready chan struct{}
		if r != nil {
			s, ready = r.sub, r.ready
		}
		l.mu.Unlock()
		if r == nil || s != nil {
			return s
		}
		if timeout == nil {
			ch := make(chan struct{})
			stop = l.opts.Clock.AfterFunc(l.opts.PendingWait, func() { close(ch) })
			timeout = ch
		}
		select {
		case <-ready:
		case <-timeout:
			return nil
		case <-ctx.Done():
			return nil
		case <-l.done:
			return nil
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

package notify

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/url"
	"time"
)

// SubscribeRequest is one Subscribe operation, already parsed.
type SubscribeRequest struct {
	// Kind is Pull, Push or Streaming.
	Kind Kind
	// Principal is the account making the request (the impersonated
	// account when impersonating); only it may use the subscription.
	Principal string
	// Mailbox is the target mailbox, charged for the subscription.
	Mailbox string
	// Backend is the server the request was routed to, which hosts the
	// subscription; empty means the mailbox's own backend.
	Backend string
	// AllFolders is SubscribeToAllFolders; otherwise FolderIDs lists the
	// (resolved) folder ids.
	AllFolders bool
	FolderIDs  []string
	// EventTypes are the requested kinds (StatusEvent not allowed).
	EventTypes []EventKind
	// Watermark, for pull and push, resumes from that bookmark.
	Watermark string
	// Timeout (pull) is the idle time allowed between GetEvents, 1-1440 min.
	Timeout time.Duration
	// StatusFrequency (push) is 1-1440 min; URL is where to POST and
	// CallerData is echoed nowhere (kept for completeness).
	StatusFrequency time.Duration
	URL             string
	CallerData      string
}

// Subscription is the result of Subscribe.
type Subscription struct {
	// ID is the opaque SubscriptionId.
	ID string
	// Watermark is the starting watermark (pull and push only).
	Watermark string
}

func validMinutes(d time.Duration, max int) bool {
	return d >= time.Minute && d <= time.Duration(max)*time.Minute && d%time.Minute == 0
}

// Subscribe creates a subscription. Errors are *Error values: see the
// sentinels for which request faults map to which code.
func (b *Broker) Subscribe(ctx context.Context, r SubscribeRequest) (Subscription, error) {
	if err := ctx.Err(); err != nil {
		return Subscription{}, err
	}
	if len(r.EventTypes) == 0 {
		return Subscription{}, ErrSchemaValidation
	}
	types := map[EventKind]bool{}
	for _, t := range r.EventTypes {
		if !subscribable(t) {
			return Subscription{}, ErrSchemaValidation
		}
		types[t] = true
	}
	if r.AllFolders == (len(r.FolderIDs) > 0) {
		return Subscription{}, ErrInvalidSubscriptionRequest
	}
	switch r.Kind {
	case Pull:
		if !validMinutes(r.Timeout, 1440) {
			return Subscription{}, ErrSchemaValidation
		}
	case Push:
		if !validMinutes(r.StatusFrequency, 1440) {
			return Subscription{}, ErrSchemaValidation
		}
		if !validPushURL(r.URL) {
			return Subscription{}, ErrInvalidPushSubscriptionURL
		}
	case Streaming:
		if r.Watermark != "" {
			return Subscription{}, ErrSchemaValidation
		}
	default:
		return Subscription{}, ErrSchemaValidation
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return Subscription{}, ErrClosed
	}
	info := b.mailboxLocked(r.Mailbox)
	cost := 1
	if !r.AllFolders {
		cost = len(r.FolderIDs)
	}
	if b.cost[info.addr]+cost > b.opts.MaxSubscriptions {
		return Subscription{}, ErrExceededSubscriptionCount
	}
	l := b.dbLocked(info.db)
	l.trim(b.clock.Now(), b.opts.Retention, b.opts.MaxLogEvents)
	start := l.last
	if r.Watermark != "" {
		seq, err := l.check(r.Watermark)
		if err != nil {
			return Subscription{}, err
		}
		start = seq
	}
	backend := r.Backend
	if backend == "" {
		backend = info.backend
	}
	s := &subscription{
		id:        b.newIDLocked(backend),
		kind:      r.Kind,
		owner:     key(r.Principal),
		mailbox:   info.addr,
		backend:   backend,
		types:     types,
		cost:      cost,
		startWM:   encodeWatermark(l.token, start),
		timeout:   r.Timeout,
		createdAt: b.clock.Now(),
	}
	s.lastWM = s.startWM
	if !r.AllFolders {
		s.folders = map[string]bool{}
		for _, f := range r.FolderIDs {
			s.folders[f] = true
		}
	}
	if r.Watermark != "" {
		// Resuming: a linear walk of the event table from its oldest entry,
		// as Exchange does (Microsoft: "causes a linear scan for events").
		for i := range l.entries {
			b.walked++
			e := &l.entries[i]
			if e.seq <= start || !s.matches(e) {
				continue
			}
			b.enqueueLocked(s, l.stamp(e))
		}
	}
	b.subs[s.id] = s
	if b.byMailbox[info.addr] == nil {
		b.byMailbox[info.addr] = map[string]*subscription{}
	}
	b.byMailbox[info.addr][s.id] = s
	b.cost[info.addr] += cost
	switch r.Kind {
	case Pull:
		b.armPullTimerLocked(s)
	case Streaming:
		b.armIdleTimerLocked(s)
	case Push:
		s.push = &pushState{url: r.URL, callerData: r.CallerData, freq: r.StatusFrequency}
		b.sendPushLocked(s)
	}
	b.log.Debug("subscribed", "id", s.id, "kind", s.kind.String(), "mailbox", s.mailbox, "backend", backend)
	out := Subscription{ID: s.id}
	if r.Kind != Streaming {
		out.Watermark = s.startWM
	}
	return out, nil
}

func subscribable(k EventKind) bool {
	switch k {
	case CopiedEvent, CreatedEvent, DeletedEvent, ModifiedEvent, MovedEvent, NewMailEvent, FreeBusyChangedEvent:
		return true
	}
	return false
}

func validPushURL(s string) bool {
	if len(s) < 1 || len(s) > 2082 {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "http" || u.Scheme == "https"
}

// newIDLocked returns a SubscriptionId in the 2013+ shape: long base64
// that also carries the hosting backend's token.
func (b *Broker) newIDLocked(backend string) string {
	var raw [4 + 24]byte
	binary.BigEndian.PutUint32(raw[:4], dbToken(backend))
	if _, err := rand.Read(raw[4:]); err != nil {
		panic(fmt.Sprintf("notify: crypto/rand: %v", err)) // never fails on supported platforms
	}
	return base64.StdEncoding.EncodeToString(raw[:])
}

func (b *Broker) armPullTimerLocked(s *subscription) {
	if s.timer != nil {
		s.timer()
	}
	s.timerGen++
	gen := s.timerGen
	s.timer = b.clock.AfterFunc(s.timeout, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.subs[s.id] == s && s.timerGen == gen {
			b.log.Debug("pull subscription expired", "id", s.id)
			b.removeLocked(s, ErrExpiredSubscription)
		}
	})
}

func (b *Broker) armIdleTimerLocked(s *subscription) {
	if s.timer != nil {
		s.timer()
	}
	s.timerGen++
	gen := s.timerGen
	s.timer = b.clock.AfterFunc(b.opts.StreamingIdleExpiry, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.subs[s.id] == s && s.timerGen == gen && s.conn == nil {
			b.log.Debug("streaming subscription expired without a connection", "id", s.id)
			b.removeLocked(s, ErrExpiredSubscription)
		}
	})
}

// removeLocked deletes a live subscription, frees its budget and, when
// tomb is not nil, remembers the id so later requests get that code.
func (b *Broker) removeLocked(s *subscription, tomb *Error) {
	if b.subs[s.id] != s {
		return
	}
	delete(b.subs, s.id)
	delete(b.byMailbox[s.mailbox], s.id)
	b.cost[s.mailbox] -= s.cost
	s.timerGen++
	if s.timer != nil {
		s.timer()
	}
	if s.push != nil {
		s.push.stopTimers()
	}
	if tomb != nil {
		if len(b.tombs) >= maxTombstones {
			b.tombs = map[string]*Error{}
		}
		b.tombs[s.id] = tomb
	}
	s.deleted = true
	s.queue = nil
}

// lookupLocked finds a live subscription for a request routed to backend
// by principal.
func (b *Broker) lookupLocked(id, backend, principal string) (*subscription, error) {
	s := b.subs[id]
	if s == nil {
		if t := b.tombs[id]; t != nil {
			return nil, t
		}
		return nil, ErrSubscriptionNotFound
	}
	if backend != "" && s.backend != backend {
		// Hosted on another backend: without affinity the request reached
		// a server that does not know the id, as on Exchange 2013+.
		return nil, ErrSubscriptionNotFound
	}
	if principal != "" && s.owner != "" && key(principal) != s.owner {
		return nil, ErrSubscriptionAccessDenied
	}
	return s, nil
}

// GetEventsRequest is one GetEvents operation.
type GetEventsRequest struct {
	Principal      string
	Backend        string
	SubscriptionID string
	Watermark      string
}

// GetEvents returns the next notification of a pull subscription: up to
// 50 queued events (MoreEvents when more wait), or a single StatusEvent
// when none do. Delivered events leave the queue and the Timeout restarts.
func (b *Broker) GetEvents(ctx context.Context, r GetEventsRequest) (Notification, error) {
	if err := ctx.Err(); err != nil {
		return Notification{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return Notification{}, ErrClosed
	}
	s, err := b.lookupLocked(r.SubscriptionID, r.Backend, r.Principal)
	if err != nil {
		return Notification{}, err
	}
	if s.kind != Pull {
		return Notification{}, ErrInvalidPullSubscriptionID
	}
	l := b.dbLocked(b.mailboxLocked(s.mailbox).db)
	if _, err := l.check(r.Watermark); err != nil {
		return Notification{}, err
	}
	b.armPullTimerLocked(s)
	if s.missed {
		s.missed = false
		return Notification{}, ErrMissedNotificationEvents
	}
	n := Notification{SubscriptionID: s.id, PreviousWatermark: r.Watermark}
	k := min(len(s.queue), MaxEventsPerNotification)
	if k == 0 {
		n.Events = []StampedEvent{statusEvent(s.lastWM, b.clock.Now())}
		return n, nil
	}
	n.Events = append([]StampedEvent(nil), s.queue[:k]...)
	s.queue = s.queue[k:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
	n.MoreEvents = len(s.queue) > 0
	s.lastWM = n.Events[k-1].Watermark
	return n, nil
}

func statusEvent(wm string, now time.Time) StampedEvent {
	return StampedEvent{Event: Event{Kind: StatusEvent, Time: now}, Watermark: wm}
}

// UnsubscribeRequest is one Unsubscribe operation.
type UnsubscribeRequest struct {
	Principal      string
	Backend        string
	SubscriptionID string
}

// Unsubscribe ends a pull or streaming subscription at once, freeing its
// budget. A push id gets ErrInvalidPullSubscriptionID. A streaming
// connection carrying the id gets ErrorSubscriptionUnsubscribed for it.
func (b *Broker) Unsubscribe(ctx context.Context, r UnsubscribeRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	s, err := b.lookupLocked(r.SubscriptionID, r.Backend, r.Principal)
	if err != nil {
		return err
	}
	if s.kind == Push {
		return ErrInvalidPullSubscriptionID
	}
	if s.conn != nil {
		s.conn.dropSubLocked(s, ErrSubscriptionUnsubscribed)
	}
	b.removeLocked(s, nil)
	return nil
}

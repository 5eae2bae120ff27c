package notify

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mailsync/mailsync/debounce"
)

// Kind is a subscription kind.
type Kind int

// The three subscription kinds.
const (
	Pull Kind = iota + 1
	Push
	Streaming
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Pull:
		return "pull"
	case Push:
		return "push"
	case Streaming:
		return "streaming"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// RetrySchedule selects how a push subscription retries a failed
// SendNotification.
type RetrySchedule int

const (
	// RetryDoubling is today's reference: retry after 30 s, doubling the
	// interval each time, as long as the interval does not exceed
	// StatusFrequency (30 min → retries after 30 s, 1, 2, 4, 8 and 16 min);
	// when the last retry fails the subscription is deleted. The default.
	RetryDoubling RetrySchedule = iota
	// RetryLinear is the Exchange 2007-era description: retry after 1×, 2×
	// and 3× StatusFrequency, then delete the subscription.
	RetryLinear
)

// Limits and defaults. The values follow Exchange on-premises (2013+)
// unless noted.
const (
	// DefaultRetention is how long the event table keeps events (the
	// ~30-day window Microsoft documents for watermarks).
	DefaultRetention = 30 * 24 * time.Hour
	// DefaultMaxLogEvents caps each database's event table.
	DefaultMaxLogEvents = 200_000
	// DefaultMaxSubscriptions is EWSMaxSubscriptions for an on-premises
	// target mailbox (Exchange Online uses 20).
	DefaultMaxSubscriptions = 5000
	// DefaultHangingConnectionLimit is the on-premises default number of
	// open streaming connections per account (Exchange Online: 10).
	DefaultHangingConnectionLimit = 3
	// DefaultMaxQueuedEvents bounds a subscription's queue while nobody reads
	// it; an overflow loses the queue and raises
	// ErrorMissedNotificationEvents on the next read.
	DefaultMaxQueuedEvents = 10_000
	// DefaultStreamingIdleExpiry is how long a streaming subscription lives
	// with no connection open. Exchange does not document it; 30 minutes
	// equals the longest ConnectionTimeout, so a client that reconnects
	// within one connection lifetime never loses its subscription.
	DefaultStreamingIdleExpiry = 30 * time.Minute
	// DefaultKeepAliveInterval is the interval between keep-alive envelopes
	// on a quiet streaming connection. The EWS Managed API expects one at
	// least every 45 s and gives up after 90 s of silence.
	DefaultKeepAliveInterval = 30 * time.Second
	// DefaultPushTimeout bounds one SendNotification POST (real time).
	DefaultPushTimeout = 30 * time.Second
	// MaxEventsPerNotification is Exchange's cap of events per
	// notification (GetEvents, push, streaming).
	MaxEventsPerNotification = 50
	// MaxStreamingSubscriptions is the most subscription ids one
	// GetStreamingEvents request may carry.
	MaxStreamingSubscriptions = 200
	// DefaultDatabase and DefaultBackend place mailboxes nobody registered.
	DefaultDatabase = "MDB01"
	DefaultBackend  = "mbx01.example.com"
	// maxTombstones bounds the memory of expired and moved subscriptions.
	maxTombstones = 100_000
)

// Options configure a Broker. The zero value is valid: every zero field
// takes the default named in its comment.
type Options struct {
	// Clock drives expiry, retention, keep-alives, connection timeouts and
	// push retries. Default: the wall clock, debounce.SystemClock.
	Clock Clock
	// Logger receives debug logs. Default slog.Default().
	Logger *slog.Logger
	// Retention is how long events stay in a database's event table.
	// Default DefaultRetention.
	Retention time.Duration
	// MaxLogEvents caps the events kept per database. Default
	// DefaultMaxLogEvents.
	MaxLogEvents int
	// MaxSubscriptions is the per-mailbox subscription budget
	// (EWSMaxSubscriptions; SubscribeToAllFolders costs 1, a folder list 1
	// per folder). Default DefaultMaxSubscriptions.
	MaxSubscriptions int
	// HangingConnectionLimit is the number of streaming connections one
	// account may hold open. Default DefaultHangingConnectionLimit.
	HangingConnectionLimit int
	// MaxQueuedEvents bounds each subscription's undelivered queue.
	// Default DefaultMaxQueuedEvents.
	MaxQueuedEvents int
	// StreamingIdleExpiry is the lifetime of a streaming subscription
	// without a connection. Default DefaultStreamingIdleExpiry.
	StreamingIdleExpiry time.Duration
	// KeepAliveInterval is the quiet time after which a streaming
	// connection gets a keep-alive envelope; it must be below 45 s.
	// Default DefaultKeepAliveInterval.
	KeepAliveInterval time.Duration
	// PushRetry selects the push retry schedule. Default RetryDoubling.
	PushRetry RetrySchedule
	// HTTPClient posts push notifications. Default a client with
	// PushTimeout.
	HTTPClient *http.Client
	// PushTimeout bounds each POST in real time. Default DefaultPushTimeout.
	PushTimeout time.Duration
	// RequestServerVersion is written in the SendNotification header.
	// Default "Exchange2013".
	RequestServerVersion string
	// OnPush, if set, is called after each SendNotification attempt has
	// been handled (the next retry or status timer is already scheduled).
	// It runs on the goroutine that made the POST and must not block or
	// call the Broker.
	OnPush func(PushResult)
}

// Validate reports options out of range.
func (o *Options) Validate() error {
	switch {
	case o.Retention < 0, o.MaxLogEvents < 0, o.MaxSubscriptions < 0, o.HangingConnectionLimit < 0,
		o.MaxQueuedEvents < 0, o.StreamingIdleExpiry < 0, o.KeepAliveInterval < 0, o.PushTimeout < 0:
		return fmt.Errorf("notify: negative option")
	case o.KeepAliveInterval >= 45*time.Second:
		return fmt.Errorf("notify: KeepAliveInterval %v must be below 45s", o.KeepAliveInterval)
	case o.PushRetry != RetryDoubling && o.PushRetry != RetryLinear:
		return fmt.Errorf("notify: unknown PushRetry %d", o.PushRetry)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = debounce.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Retention = cmp.Or(o.Retention, DefaultRetention)
	o.MaxLogEvents = cmp.Or(o.MaxLogEvents, DefaultMaxLogEvents)
	o.MaxSubscriptions = cmp.Or(o.MaxSubscriptions, DefaultMaxSubscriptions)
	o.HangingConnectionLimit = cmp.Or(o.HangingConnectionLimit, DefaultHangingConnectionLimit)
	o.MaxQueuedEvents = cmp.Or(o.MaxQueuedEvents, DefaultMaxQueuedEvents)
	o.StreamingIdleExpiry = cmp.Or(o.StreamingIdleExpiry, DefaultStreamingIdleExpiry)
	o.KeepAliveInterval = cmp.Or(o.KeepAliveInterval, DefaultKeepAliveInterval)
	o.PushTimeout = cmp.Or(o.PushTimeout, DefaultPushTimeout)
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.PushTimeout}
	}
	o.RequestServerVersion = cmp.Or(o.RequestServerVersion, "Exchange2013")
	return o
}

// Stats is a snapshot of the broker's counters.
type Stats struct {
	// Subscriptions is the number of live subscriptions.
	Subscriptions int
	// OpenStreams is the number of open streaming connections.
	OpenStreams int
	// ReplayWalked counts the log entries walked by subscriptions that
	// resumed from a watermark: the linear cost Exchange documents.
	ReplayWalked uint64
}

type mailboxInfo struct {
	addr, db, backend string
}

// Broker is the notification engine of one fake server: the event tables
// of its mailbox databases and every subscription. It is safe for
// concurrent use.
type Broker struct {
	opts  Options
	clock Clock
	log   *slog.Logger

	mu        sync.Mutex
	closed    bool
	dbs       map[string]*eventLog
	mailboxes map[string]*mailboxInfo
	subs      map[string]*subscription
	byMailbox map[string]map[string]*subscription
	tombs     map[string]*Error
	cost      map[string]int
	conns     map[string]int
	streams   map[*Stream]struct{}
	walked    uint64

	pushCtx    context.Context
	pushCancel context.CancelFunc
	pushWG     sync.WaitGroup
}

// Configure replaces the tunable options (everything but Clock) of a
// running broker. Timers already armed keep their old durations. A nil
// Clock in o is ignored.
func (b *Broker) Configure(o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o.Clock = b.clock
	b.opts = o.withDefaults()
	return nil
}

// New returns a Broker. A nil opts means the zero Options.
func New(opts *Options) (*Broker, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	b := &Broker{
		opts:      o,
		clock:     o.Clock,
		log:       o.Logger.With("component", "notify"),
		dbs:       map[string]*eventLog{},
		mailboxes: map[string]*mailboxInfo{},
		subs:      map[string]*subscription{},
		byMailbox: map[string]map[string]*subscription{},
		tombs:     map[string]*Error{},
		cost:      map[string]int{},
		conns:     map[string]int{},
		streams:   map[*Stream]struct{}{},
	}
	b.pushCtx, b.pushCancel = context.WithCancel(context.Background())
	return b, nil
}

func key(addr string) string { return strings.ToLower(strings.TrimSpace(addr)) }

// AddMailbox places a mailbox in a database on a backend server (empty
// strings take DefaultDatabase and DefaultBackend). Mailboxes never added
// are placed there on first use.
func (b *Broker) AddMailbox(addr, db, backend string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addMailboxLocked(addr, db, backend)
}

// EnsureMailbox places a mailbox as AddMailbox does unless it is already
// known (a mailbox moved by MoveMailbox stays where it was moved).
func (b *Broker) EnsureMailbox(addr, db, backend string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mailboxes[key(addr)] == nil {
		b.addMailboxLocked(addr, db, backend)
	}
}

func (b *Broker) addMailboxLocked(addr, db, backend string) *mailboxInfo {
	db = cmp.Or(db, DefaultDatabase)
	backend = cmp.Or(backend, DefaultBackend)
	info := &mailboxInfo{addr: key(addr), db: db, backend: backend}
	b.mailboxes[info.addr] = info
	return info
}

func (b *Broker) mailboxLocked(addr string) *mailboxInfo {
	if info := b.mailboxes[key(addr)]; info != nil {
		return info
	}
	return b.addMailboxLocked(addr, "", "")
}

// MailboxBackend returns the backend server hosting a mailbox.
func (b *Broker) MailboxBackend(addr string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mailboxLocked(addr).backend
}

// MailboxDatabase returns the database holding a mailbox.
func (b *Broker) MailboxDatabase(addr string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mailboxLocked(addr).db
}

func (b *Broker) dbLocked(name string) *eventLog {
	l := b.dbs[name]
	if l == nil {
		l = newEventLog(name)
		b.dbs[name] = l
	}
	return l
}

// Watermark returns the watermark of the newest event in the mailbox's
// database (what a new subscription starts from).
func (b *Broker) Watermark(addr string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dbLocked(b.mailboxLocked(addr).db).head()
}

// Stats returns a snapshot of the counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	open := 0
	for _, n := range b.conns {
		open += n
	}
	return Stats{Subscriptions: len(b.subs), OpenStreams: open, ReplayWalked: b.walked}
}

// Publish appends events raised by one user action in a mailbox to its
// database's event table, stamping each with a watermark (and the clock's
// time when Time is zero), and hands them to every matching subscription.
// It never blocks on a subscriber.
func (b *Broker) Publish(mailbox string, events ...Event) {
	if len(events) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	info := b.mailboxLocked(mailbox)
	l := b.dbLocked(info.db)
	now := b.clock.Now()
	l.trim(now, b.opts.Retention, b.opts.MaxLogEvents)
	subs := b.byMailbox[info.addr]
	var live map[*subscription][]StampedEvent
	var pushes map[*subscription]bool
	for _, ev := range events {
		if ev.Time.IsZero() {
			ev.Time = now
		}
		e := *l.append(info.addr, ev)
		var se StampedEvent
		for _, s := range subs {
			if !s.matches(&e) {
				continue
			}
			if se.Watermark == "" {
				se = l.stamp(&e)
			}
			if s.conn != nil {
				if live == nil {
					live = map[*subscription][]StampedEvent{}
				}
				live[s] = append(live[s], se)
				s.lastWM = se.Watermark
				continue
			}
			if b.enqueueLocked(s, se) && s.kind == Push {
				if pushes == nil {
					pushes = map[*subscription]bool{}
				}
				pushes[s] = true
			}
		}
	}
	l.trim(now, b.opts.Retention, b.opts.MaxLogEvents)
	if len(live) > 0 {
		byStream := map[*Stream][]Notification{}
		var order []*Stream
		for _, s := range subs { // map order is random; sort by stream then id below
			evs, ok := live[s]
			if !ok {
				continue
			}
			if _, seen := byStream[s.conn]; !seen {
				order = append(order, s.conn)
			}
			byStream[s.conn] = append(byStream[s.conn], streamingNotifications(s.id, evs)...)
		}
		for _, st := range order {
			ns := byStream[st]
			sortNotifications(ns)
			st.pushFrameLocked(Frame{Notifications: ns})
		}
	}
	for s := range pushes {
		b.sendPushLocked(s)
	}
}

// enqueueLocked queues an event for a subscription with no reader attached
// and reports whether it was queued (false after an overflow).
func (b *Broker) enqueueLocked(s *subscription, se StampedEvent) bool {
	if len(s.queue) >= b.opts.MaxQueuedEvents {
		s.missed = true
		s.queue = nil
		s.qgen++
		s.lastWM = se.Watermark
		return false
	}
	s.queue = append(s.queue, se)
	return true
}

// Restart drops every subscription and streaming connection, as a Client
// Access server restart does. Event tables (and so watermarks) survive.
func (b *Broker) Restart() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for st := range b.streams {
		st.dropLocked()
	}
	for _, s := range b.subs {
		b.removeLocked(s, nil)
	}
	b.tombs = map[string]*Error{}
	b.pushCancel()
	b.pushCtx, b.pushCancel = context.WithCancel(context.Background())
}

// MoveMailbox moves a mailbox to another database and backend (empty
// backend keeps the current one). Its subscriptions end: later requests on
// them get ErrorMailboxMoveInProgress, streaming connections carrying them
// get that code for their ids, and every watermark issued before the move
// is invalid (it names the old database).
func (b *Broker) MoveMailbox(addr, db, backend string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	info := b.mailboxLocked(addr)
	if db != "" {
		info.db = db
	}
	if backend != "" {
		info.backend = backend
	}
	for _, s := range b.byMailbox[info.addr] {
		if s.conn != nil {
			s.conn.dropSubLocked(s, ErrMailboxMoveInProgress)
		}
		b.removeLocked(s, ErrMailboxMoveInProgress)
	}
}

// TrimLog drops the oldest events of a database's event table so that at
// most keep remain: every watermark older than what is kept becomes
// invalid (an overrun), as do subscriptions resuming from one.
func (b *Broker) TrimLog(db string, keep int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.dbLocked(db)
	if keep < 0 {
		keep = 0
	}
	if n := len(l.entries) - keep; n > 0 {
		l.dropFront(n)
	}
}

// LogLen returns the number of events a database's table holds.
func (b *Broker) LogLen(db string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.dbLocked(db).entries)
}

// Close drops everything and waits for push POSTs in flight to return.
// Later operations fail with ErrClosed.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.closed = true
	b.mu.Unlock()
	b.Restart()
	b.pushCancel()
	b.pushWG.Wait()
	return nil
}

// subscription is one live subscription. All fields are guarded by
// Broker.mu.
type subscription struct {
	id        string
	kind      Kind
	owner     string
	mailbox   string
	backend   string
	folders   map[string]bool // nil: all folders
	types     map[EventKind]bool
	cost      int
	startWM   string
	lastWM    string
	queue     []StampedEvent
	missed    bool
	qgen      uint64 // bumped when an overflow empties the queue
	deleted   bool
	createdAt time.Time

	timeout  time.Duration
	timer    func() bool
	timerGen uint64

	conn *Stream    // streaming: the connection carrying it
	push *pushState // push only
}

func (s *subscription) matches(e *logEntry) bool {
	if e.mailbox != s.mailbox || !s.types[e.ev.Kind] {
		return false
	}
	if s.folders == nil {
		return true
	}
	ev := &e.ev
	if s.folders[ev.ParentFolderID.ID] || (ev.OldParentFolderID.ID != "" && s.folders[ev.OldParentFolderID.ID]) {
		return true
	}
	return ev.Folder && s.folders[ev.ID.ID]
}

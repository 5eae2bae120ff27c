package ewstest

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

// Notification limits and timings. The zero NotificationOptions means the
// on-premises defaults below; see Server.SetNotificationOptions.
const (
	// DefaultHangingConnectionLimit is the on-premises number of open
	// GetStreamingEvents connections per account (Exchange Online: 10).
	DefaultHangingConnectionLimit = notify.DefaultHangingConnectionLimit
	// DefaultMaxSubscriptions is EWSMaxSubscriptions per target mailbox on
	// premises (Exchange Online: 20).
	DefaultMaxSubscriptions = notify.DefaultMaxSubscriptions
	// DefaultStreamingIdleExpiry is how long a streaming subscription lives
	// without an open connection. Exchange does not document it; 30
	// minutes equals the longest ConnectionTimeout.
	DefaultStreamingIdleExpiry = notify.DefaultStreamingIdleExpiry
	// DefaultKeepAliveInterval is the quiet time after which an open
	// streaming connection gets a keep-alive envelope.
	DefaultKeepAliveInterval = notify.DefaultKeepAliveInterval
)

// Push retry schedules for NotificationOptions.PushRetry.
const (
	// PushRetryDoubling retries a failed SendNotification after 30 s,
	// doubling while the interval stays within StatusFrequency (30 min:
	// 30 s, 1, 2, 4, 8, 16 min), then deletes the subscription. Default.
	PushRetryDoubling = "doubling"
	// PushRetryLinear retries after 1×, 2× and 3× StatusFrequency, then
	// deletes the subscription (the Exchange 2007-era description).
	PushRetryLinear = "linear"
)

// NotificationOptions tune the notification side of the server. Zero
// fields take the defaults.
type NotificationOptions struct {
	// HangingConnectionLimit is the number of streaming connections one
	// account may hold open (3 on premises, 10 on Exchange Online);
	// beyond it GetStreamingEvents answers ErrorExceededConnectionCount.
	HangingConnectionLimit int
	// MaxSubscriptions is the subscription budget of a target mailbox
	// (SubscribeToAllFolders costs 1, a folder list 1 per folder); beyond
	// it Subscribe answers ErrorExceededSubscriptionCount.
	MaxSubscriptions int
	// StreamingIdleExpiry is the lifetime of a streaming subscription with
	// no connection open.
	StreamingIdleExpiry time.Duration
	// KeepAliveInterval is how long a streaming connection stays quiet
	// before a keep-alive envelope; it must be below 45 s.
	KeepAliveInterval time.Duration
	// MaxQueuedEvents bounds a subscription's undelivered queue; an
	// overflow raises ErrorMissedNotificationEvents. Default 10,000.
	MaxQueuedEvents int
	// EventRetention and MaxLogEvents bound each database's event table
	// (default 30 days and 200,000 events); a watermark whose events left
	// the table is ErrorInvalidWatermark.
	EventRetention time.Duration
	MaxLogEvents   int
	// PushRetry is PushRetryDoubling (default) or PushRetryLinear.
	PushRetry string
	// PushTimeout bounds one SendNotification POST (real time). Default 30 s.
	PushTimeout time.Duration
	// PushHTTPClient posts the SendNotification requests, e.g. one
	// trusting a push listener's TLS certificate. Default a client with
	// PushTimeout.
	PushHTTPClient *http.Client
}

func (o NotificationOptions) toNotify() (notify.Options, error) {
	n := notify.Options{
		HangingConnectionLimit: o.HangingConnectionLimit,
		MaxSubscriptions:       o.MaxSubscriptions,
		StreamingIdleExpiry:    o.StreamingIdleExpiry,
		KeepAliveInterval:      o.KeepAliveInterval,
		MaxQueuedEvents:        o.MaxQueuedEvents,
		Retention:              o.EventRetention,
		MaxLogEvents:           o.MaxLogEvents,
		PushTimeout:            o.PushTimeout,
		HTTPClient:             o.PushHTTPClient,
	}
	switch strings.ToLower(o.PushRetry) {
	case "", PushRetryDoubling:
		n.PushRetry = notify.RetryDoubling
	case PushRetryLinear:
		n.PushRetry = notify.RetryLinear
	default:
		return n, fmt.Errorf("%w: unknown push retry schedule %q", ErrInvalidArgument, o.PushRetry)
	}
	if err := n.Validate(); err != nil {
		return n, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	return n, nil
}

// notifySink is the server's event sink: it places each mailbox in its
// database on the backend that hosts it and hands the events to the
// broker.
type notifySink struct {
	b *notify.Broker
}

func (n *notifySink) Publish(database, mailbox string, evs ...notify.Event) {
	n.b.EnsureMailbox(mailbox, database, BackendOf(database))
	n.b.Publish(mailbox, evs...)
}

func installNotifications(s *Server) {
	b, err := notify.New(&notify.Options{Clock: s.clock, Logger: s.log,
		RequestServerVersion: "Exchange2013"})
	if err != nil {
		// The options above are constant and valid.
		panic(fmt.Sprintf("ewstest: notification broker: %v", err))
	}
	s.setEventSink(&notifySink{b: b})
}

// broker returns the server's notification broker.
func (s *Server) broker() *notify.Broker {
	if ns, ok := s.sink().(*notifySink); ok {
		return ns.b
	}
	return nil
}

// BackendOf names the backend (mailbox) server that hosts a mailbox
// database: each database on its own server, "mbx-<database>.example.com" in lower case.
func BackendOf(database string) string {
	return "mbx-" + strings.ToLower(database) + ".example.com"
}

// placed makes sure the broker knows where a mailbox lives and returns its
// address.
func (s *Server) placed(m *Mailbox) string {
	db := m.Database()
	s.broker().EnsureMailbox(m.address, db, BackendOf(db))
	return m.address
}

// SetNotificationOptions changes the notification limits and timings.
// Timers already running keep their old durations, so call it before the
// subscriptions it should affect.
func (s *Server) SetNotificationOptions(o NotificationOptions) error {
	n, err := o.toNotify()
	if err != nil {
		return err
	}
	n.Logger = s.log
	n.RequestServerVersion = "Exchange2013"
	return s.broker().Configure(n)
}

// MailboxBackend returns the backend server hosting a mailbox:
// BackendOf its database (MoveMailbox changes both). Subscriptions are
// hosted by the backend a request is routed to (X-BackEndOverrideCookie,
// else X-AnchorMailbox, else the target mailbox), so mixing subscriptions
// of mailboxes on different backends in one GetStreamingEvents needs the
// affinity headers, as on Exchange 2013 and later.
func (s *Server) MailboxBackend(address string) (string, error) {
	m := s.Mailbox(address)
	if m == nil {
		return "", fmt.Errorf("%w: %s", ErrUnknownMailbox, address)
	}
	return s.broker().MailboxBackend(s.placed(m)), nil
}

// Restart drops every subscription and open streaming connection, as a
// Client Access server restart does; mailbox data and event tables (and so
// watermarks) survive.
func (s *Server) Restart() { s.broker().Restart() }

// MoveMailbox moves a mailbox to another database, hosted on
// BackendOf(database). Its subscriptions end: requests on them get
// ErrorMailboxMoveInProgress, streaming connections carrying them get that
// code for their ids, and watermarks issued before the move are
// ErrorInvalidWatermark (they name the old database's event table).
// Mailbox.Database keeps reporting the database the mailbox was created in.
func (s *Server) MoveMailbox(address, database string) error {
	m := s.Mailbox(address)
	if m == nil {
		return fmt.Errorf("%w: %s", ErrUnknownMailbox, address)
	}
	if strings.TrimSpace(database) == "" {
		return fmt.Errorf("%w: empty database", ErrInvalidArgument)
	}
	s.broker().MoveMailbox(s.placed(m), database, BackendOf(database))
	m.mu.Lock()
	m.database = database
	m.mu.Unlock()
	return nil
}

// DropStreamingConnections drops the open GetStreamingEvents connections
// of the account acting on address (all when empty) without a Closed
// envelope, as a network failure would; their subscriptions keep queueing
// events for the next connection. It returns how many were dropped.
func (s *Server) DropStreamingConnections(address string) int {
	return s.broker().DropStreams(address)
}

// ExpireWatermarks ages out the events of the mailbox's database, as if
// they were older than the retention: every watermark issued before now
// becomes ErrorInvalidWatermark on Subscribe and GetEvents (the current
// one stays valid).
func (s *Server) ExpireWatermarks(address string) error {
	m := s.Mailbox(address)
	if m == nil {
		return fmt.Errorf("%w: %s", ErrUnknownMailbox, address)
	}
	b := s.broker()
	b.TrimLog(b.MailboxDatabase(s.placed(m)), 0)
	return nil
}

// OverrunWatermarks overruns the mailbox database's event table past its
// size limit: the effect on watermarks is that of ExpireWatermarks.
func (s *Server) OverrunWatermarks(address string) error { return s.ExpireWatermarks(address) }

// NotificationStats are counters of the notification side.
type NotificationStats struct {
	// Subscriptions is the number of live subscriptions.
	Subscriptions int
	// OpenStreams is the number of open GetStreamingEvents connections.
	OpenStreams int
	// ReplayWalked counts the event-table entries walked by Subscribe
	// requests resuming from a watermark (Exchange's linear scan).
	ReplayWalked uint64
}

// NotificationStats returns the notification counters.
func (s *Server) NotificationStats() NotificationStats {
	st := s.broker().Stats()
	return NotificationStats{Subscriptions: st.Subscriptions, OpenStreams: st.OpenStreams, ReplayWalked: st.ReplayWalked}
}

// closeNotifications drops subscriptions and streaming connections and
// waits for push POSTs in flight; Server.Close calls it so that hanging
// GetStreamingEvents requests end.
func closeNotifications(s *Server) {
	if b := s.broker(); b != nil {
		b.Close()
	}
}

package syncengine

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/ews"
)

// Mode is how a mailbox receives change notifications.
type Mode uint8

// The notification modes.
const (
	// Streaming (the default) holds GetStreamingEvents connections open,
	// up to ews.MaxStreamingSubscriptions subscriptions per connection.
	Streaming Mode = iota
	// Pull calls GetEvents every Config.PullInterval.
	Pull
	// Push has the server POST notifications to the engine's push
	// listener (Config.Push).
	Push
)

var modeNames = [...]string{"streaming", "pull", "push"}

// String names the mode as the syncdemo -mode flag spells it.
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// ParseMode parses "streaming", "pull" or "push".
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if strings.EqualFold(s, n) {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("%w: mode %q (want streaming, pull or push)", ErrInvalidConfig, s)
}

// Fetch is how item properties are fetched.
type Fetch uint8

// The fetch strategies.
const (
	// FetchSummary (the default) takes the summary properties straight
	// from SyncFolderItems: one round trip per page.
	FetchSummary Fetch = iota
	// FetchIDOnly syncs IdOnly and reads the properties with batched
	// GetItem calls, as Microsoft advises for large production servers.
	FetchIDOnly
)

// FolderFilter selects the folders whose items are mirrored. Every folder
// under msgfolderroot is kept in the store's tree (with its counters);
// only selected folders are synced item by item.
//
// An entry is a distinguished folder name ("inbox", "sentitems",
// "deleteditems", "junkemail", ...) or a path of display names from the top
// of the mailbox ("Inbox/Projects"), compared case-insensitively. An entry
// selects the folder and everything below it.
type FolderFilter struct {
	// All selects every folder, mail or not. Otherwise, with no Include,
	// mail folders (FolderClass IPF.Note or empty) are selected.
	All bool
	// Include, when not empty, selects exactly these subtrees.
	Include []string
	// Exclude removes these subtrees from the selection.
	Exclude []string
}

// Mailbox is one mailbox to mirror.
type Mailbox struct {
	// Address is the mailbox's SMTP address, the store's key. It is
	// lower-cased.
	Address string
	// Client talks to the server for this mailbox (an *ews.Client; with
	// impersonation or the mailbox's own credentials). Mailboxes that
	// share a Client share streaming connections, up to
	// ews.MaxStreamingSubscriptions subscriptions on each. Required unless
	// Locator is set.
	Client Remote
	// StreamClient, when set, is the client whose streaming connections
	// carry this mailbox's subscription: typically one service-account
	// client (impersonating its affinity group's anchor) shared by many
	// mailboxes, so that thousands of mailboxes need few connections.
	// Nil means Client.
	StreamClient Remote
	// Group, when set, routes the mailbox's subscriptions to its affinity
	// group's mailbox server (ews.GroupMailboxes); streaming connections
	// are then shared within the group only.
	Group *ews.AffinityGroup
	// Locator, when set, finds where the server hosts the mailbox
	// (AutodiscoverLocator: by Autodiscover) and takes the place of
	// Client, StreamClient and Group, which must then be nil: the engine
	// takes them from Locate before the mailbox's first request, asks
	// again after ErrorMailboxMoveInProgress and when the location
	// expires, and re-homes the mailbox (new clients, new affinity group,
	// a fresh subscription and a comparison) when its EWS URL or
	// GroupingInformation changed. Without it the mailbox stays on Client.
	Locator Locator
	// Mode is how notifications arrive; Streaming by default.
	Mode Mode
	// MIME also mirrors each item's full MIME content (by batched GetItem).
	MIME bool
	// Fetch is the item fetch strategy; FetchSummary by default.
	Fetch Fetch
	// Folders selects the folders to mirror.
	Folders FolderFilter
}

func (m *Mailbox) validate() error {
	if m.Address == "" || !strings.Contains(m.Address, "@") {
		return fmt.Errorf("%w: mailbox address %q", ErrInvalidConfig, m.Address)
	}
	if m.Locator != nil && (m.Client != nil || m.StreamClient != nil || m.Group != nil) {
		return fmt.Errorf("%w: mailbox %s: Locator replaces Client, StreamClient and Group; leave them nil", ErrInvalidConfig, m.Address)
	}
	if m.Client == nil && m.Locator == nil {
		return fmt.Errorf("%w: mailbox %s has no client", ErrInvalidConfig, m.Address)
	}
	if m.Mode > Push {
		return fmt.Errorf("%w: mailbox %s: unknown mode %d", ErrInvalidConfig, m.Address, m.Mode)
	}
	if m.Fetch > FetchIDOnly {
		return fmt.Errorf("%w: mailbox %s: unknown fetch strategy %d", ErrInvalidConfig, m.Address, m.Fetch)
	}
	return nil
}

// PushConfig configures the push listener of mailboxes in Push mode.
type PushConfig struct {
	// Listen is the host:port the engine serves its push listener on.
	// Empty means the app mounts Engine.PushHandler itself.
	Listen string
	// URL is the base URL Exchange posts to (e.g. https://host:8443); the
	// engine appends its secret path. Empty means http://Listen.
	URL string
	// StatusFrequency is the subscriptions' StatusFrequency (whole
	// minutes, 1–1440). Default one minute: a silent subscription counts
	// as lost after 2 × StatusFrequency plus the listener's slack.
	StatusFrequency time.Duration
	// LivenessSlack is added to 2 × StatusFrequency. Default
	// ews.DefaultPushLivenessSlack (one minute): with the default
	// StatusFrequency a silent subscription counts as lost after 3 minutes.
	LivenessSlack time.Duration
	// TLSConfig, when set, makes the listener the engine serves at Listen
	// speak TLS only, with this configuration's certificate (build it
	// with tls.LoadX509KeyPair from PEM files); the callback URL then
	// defaults to https://Listen. Use it wherever the network between
	// Exchange and the engine is not trusted: over plain HTTP the
	// subscriptions' secret callback paths can be read off the wire.
	TLSConfig *tls.Config
}

// Defaults of Config.
const (
	DefaultQuiet             = 3 * time.Second
	DefaultMaxDelay          = 15 * time.Second
	DefaultFolderConcurrency = 4
	DefaultInitialSyncs      = 4
	DefaultSubscribes        = 16
	DefaultPullInterval      = 10 * time.Second
	DefaultPullTimeout       = 10 * time.Minute
	DefaultStreamDownAfter   = 2 * time.Minute
	DefaultSweepInterval     = 6 * time.Hour
	DefaultSweepPause        = time.Second
	DefaultRecheckPause      = 100 * time.Millisecond
	DefaultMaxBatchChanges   = 5000
	DefaultStatusFrequency   = time.Minute
)

// Config configures an Engine. The zero value takes the defaults named on
// each field.
type Config struct {
	// Logger receives the engine's logs. Default slog.Default().
	Logger *slog.Logger
	// Clock is the time source of debouncing, back-off, pull polling,
	// push liveness and sweeps. Default the wall clock.
	Clock Clock
	// Quiet and MaxDelay are the debounce windows (defaults 3 s and 15 s):
	// a folder's notifications are coalesced until it has been quiet for
	// Quiet, or at most MaxDelay.
	Quiet, MaxDelay time.Duration
	// FolderConcurrency bounds the folders of one mailbox synced at once.
	// Default 4.
	FolderConcurrency int
	// InitialSyncs bounds the mailboxes in initial sync (or recovery) at
	// once. Default 4.
	InitialSyncs int
	// Subscribes bounds concurrent Subscribe calls across mailboxes.
	// Default 16.
	Subscribes int
	// PullInterval is the GetEvents period of pull mailboxes. Default 10 s.
	PullInterval time.Duration
	// PullTimeout is the pull subscriptions' Timeout (whole minutes).
	// Default 10 min.
	PullTimeout time.Duration
	// StreamDownAfter: a streaming connection that keeps failing for this
	// long counts as lost, and its mailboxes recover. Default 2 min.
	StreamDownAfter time.Duration
	// SweepInterval is the period of the background sweep, which syncs the
	// hierarchy (SyncFolderHierarchy: folders whose events went missing)
	// and then every selected folder from its SyncState with
	// SyncFolderItems (ICS reports every pending ReadFlagChange), one
	// folder every SweepPause.
	// A net-zero set of read flips during a lost subscription moves none of
	// the props recovery compares; the sweep bounds how long it stays
	// unseen: SweepInterval + folders × SweepPause. Default 6 h; negative
	// disables.
	SweepInterval time.Duration
	// SweepPause is the wait between two folders of a sweep, which keeps
	// its request rate low. Default 1 s.
	SweepPause time.Duration
	// RecheckPause paces the recheck that follows every recovery: each
	// non-empty folder the comparison left alone is synced from its
	// SyncState (an ICS delta: one SyncFolderItems, which returns nothing
	// when nothing changed), one folder every RecheckPause across all the
	// engine's mailboxes, between live batches. It finds what no compared
	// prop shows: read flips during the outage that left a folder's counts
	// where they were (one message read, another marked unread), which
	// would otherwise wait for the sweep. Default 100 ms; negative
	// disables it.
	RecheckPause time.Duration
	// MaxBatchChanges: a live batch commits in one transaction unless it
	// grows past this many changes, when it commits in parts, each with
	// the checkpoints it covers. Default 5,000.
	MaxBatchChanges int
	// Push configures the push listener.
	Push PushConfig
	// Backoff is the wait between attempts after failures (the server's
	// back-off hint is honoured when it gives one). Zero fields take
	// ews.Backoff's defaults.
	Backoff ews.Backoff
	// OnEvent, when set, receives what the engine does (batches applied,
	// recoveries, phase changes), on the mailbox's goroutine: it must not
	// block.
	OnEvent func(Event)
}

func (c *Config) withDefaults() Config {
	o := *c
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = debounce.SystemClock{}
	}
	o.Quiet = cmp.Or(o.Quiet, DefaultQuiet)
	o.MaxDelay = cmp.Or(o.MaxDelay, max(DefaultMaxDelay, o.Quiet))
	o.FolderConcurrency = cmp.Or(o.FolderConcurrency, DefaultFolderConcurrency)
	o.InitialSyncs = cmp.Or(o.InitialSyncs, DefaultInitialSyncs)
	o.Subscribes = cmp.Or(o.Subscribes, DefaultSubscribes)
	o.PullInterval = cmp.Or(o.PullInterval, DefaultPullInterval)
	o.PullTimeout = cmp.Or(o.PullTimeout, DefaultPullTimeout)
	o.StreamDownAfter = cmp.Or(o.StreamDownAfter, DefaultStreamDownAfter)
	o.SweepInterval = cmp.Or(o.SweepInterval, DefaultSweepInterval)
	o.SweepPause = cmp.Or(o.SweepPause, DefaultSweepPause)
	o.RecheckPause = cmp.Or(o.RecheckPause, DefaultRecheckPause)
	o.MaxBatchChanges = cmp.Or(o.MaxBatchChanges, DefaultMaxBatchChanges)
	o.Push.StatusFrequency = cmp.Or(o.Push.StatusFrequency, DefaultStatusFrequency)
	return o
}

// Validate reports whether c is usable.
func (c *Config) Validate() error {
	o := c.withDefaults()
	var errs []error
	if o.Quiet < 0 || o.MaxDelay < o.Quiet {
		errs = append(errs, fmt.Errorf("%w: Quiet %v and MaxDelay %v (want 0 ≤ Quiet ≤ MaxDelay)", ErrInvalidConfig, o.Quiet, o.MaxDelay))
	}
	if o.FolderConcurrency < 1 || o.InitialSyncs < 1 || o.Subscribes < 1 {
		errs = append(errs, fmt.Errorf("%w: concurrency bounds must be positive", ErrInvalidConfig))
	}
	if o.PullTimeout < time.Minute || o.PullTimeout%time.Minute != 0 || o.PullTimeout > ews.MaxPullTimeout {
		errs = append(errs, fmt.Errorf("%w: PullTimeout %v (whole minutes, 1–1440)", ErrInvalidConfig, o.PullTimeout))
	}
	if o.PullInterval <= 0 || o.PullInterval >= o.PullTimeout {
		errs = append(errs, fmt.Errorf("%w: PullInterval %v must be positive and below PullTimeout", ErrInvalidConfig, o.PullInterval))
	}
	if f := o.Push.StatusFrequency; f < time.Minute || f%time.Minute != 0 || f > 1440*time.Minute {
		errs = append(errs, fmt.Errorf("%w: Push.StatusFrequency %v (whole minutes, 1–1440)", ErrInvalidConfig, f))
	}
	if o.Push.URL != "" {
		if u, err := url.Parse(o.Push.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%w: Push.URL %q is not an http(s) URL", ErrInvalidConfig, o.Push.URL))
		}
	}
	if o.Push.TLSConfig != nil {
		if o.Push.Listen == "" {
			errs = append(errs, fmt.Errorf("%w: Push.TLSConfig needs Push.Listen (an app serving PushHandler itself sets up its own TLS)", ErrInvalidConfig))
		}
		if err := (&ews.PushServerOptions{TLSConfig: o.Push.TLSConfig}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: Push.TLSConfig: %w", ErrInvalidConfig, err))
		}
	}
	return errors.Join(errs...)
}

package syncengine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/recovery"
)

// Location is where the server hosts a mailbox, as a Locator finds it:
// the clients that reach it and the affinity group its subscriptions
// share.
type Location struct {
	// Client talks to the mailbox at this location. Required.
	Client Remote
	// StreamClient, when set, carries the mailbox's streaming
	// subscription (see Mailbox.StreamClient).
	StreamClient Remote
	// Group routes the mailbox's subscriptions to its mailbox server (see
	// Mailbox.Group); nil for none.
	Group *ews.AffinityGroup
	// EwsURL and GroupingInformation identify the location: a later
	// lookup returning the same pair leaves the mailbox where it is (its
	// Client, StreamClient and Group are then not replaced), a different
	// pair moves it there.
	EwsURL, GroupingInformation string
	// Expires is when the location is to be looked up again (the end of
	// the Autodiscover cache's TTL); zero means only after a move.
	Expires time.Time
}

// Locator finds where the server hosts mailboxes, typically by
// Autodiscover (AutodiscoverLocator). It is the engine's optional hook for
// mailboxes that move between servers: set it as Mailbox.Locator, and the
// engine asks it before the mailbox's first request, again when the
// mailbox moves (ErrorMailboxMoveInProgress) and when the location
// expires; when the answer names another EWS URL or GroupingInformation,
// the mailbox is re-homed there (new clients, new affinity group) and
// recovers as after any lost subscription.
type Locator interface {
	// Locate returns where the mailbox with this (lower-case) address is
	// hosted. With refresh the answer must not come from a cache: the
	// engine asks so after a move and when the last answer expired. It
	// runs on the mailbox's goroutine, for many mailboxes at once; an error
	// keeps the mailbox where it is (at start: it backs off and asks
	// again).
	Locate(ctx context.Context, address string, refresh bool) (Location, error)
}

// LocationReport describes a lookup of a mailbox's location, the payload of
// EventLocated.
type LocationReport struct {
	// Cause is why the engine asked: "start", "expired" or the error that
	// told of a move (e.g. "ErrorMailboxMoveInProgress").
	Cause string
	// EwsURL and GroupingInformation are where the mailbox is now.
	EwsURL, GroupingInformation string
	// Moved reports that the lookup re-homed the mailbox from
	// PreviousEwsURL and PreviousGroupingInformation.
	Moved                                       bool
	PreviousEwsURL, PreviousGroupingInformation string
}

// minRelocateDelay bounds how soon an expired location is looked up again,
// so that a Locator whose answers expire at once cannot make the engine
// spin.
const minRelocateDelay = time.Minute

// AutodiscoverLocatorOptions configures an AutodiscoverLocator. A nil
// *AutodiscoverLocatorOptions means the zero value.
type AutodiscoverLocatorOptions struct {
	// Client are the options of the clients the locator creates, one per
	// discovered EWS URL, shared by every mailbox located there (so their
	// streaming subscriptions share connections): credentials, transport,
	// logger. Nil means the zero ews.Options. Ignored with NewClient.
	Client *ews.Options
	// NewClient, when set, creates the client for an EWS URL instead
	// (settings are those of the first mailbox found there); it is called
	// once per URL, and its client is shared by the mailboxes located
	// there. Mailboxes with credentials of their own need a locator each.
	NewClient func(s *ews.UserSettings) (Remote, error)
	// GroupPrefix starts the names of the affinity groups the locator
	// forms. Default "autodiscover".
	GroupPrefix string
}

// AutodiscoverLocator is a Locator over an ews.Autodiscoverer: the
// mailbox's EWS URL (UserSettings.EwsURL), a client per URL, and an
// affinity group per EWS URL and GroupingInformation of at most
// ews.MaxStreamingSubscriptions mailboxes, anchored on the first mailbox
// located in it (Microsoft's grouping, formed as mailboxes arrive rather
// than all at once as ews.GroupByAffinity does). A refresh forgets the
// address in the Autodiscoverer's cache first; otherwise a cached answer
// (within the Autodiscoverer's TTL) is used, so Autodiscover is asked once
// per mailbox per TTL and per move, not per request. It is safe for
// concurrent use.
type AutodiscoverLocator struct {
	a      *ews.Autodiscoverer
	opts   AutodiscoverLocatorOptions
	prefix string

	mu      sync.Mutex
	clients map[string]Remote // by EWS URL
	groups  map[groupKey][]*groupSlot
	placed  map[string]*groupSlot // by address
	seq     int
}

type groupKey struct{ url, gi string }

// groupSlot is one affinity group and how many mailboxes it holds.
type groupSlot struct {
	key groupKey
	g   *ews.AffinityGroup
	n   int
}

var _ Locator = (*AutodiscoverLocator)(nil)

// NewAutodiscoverLocator returns a locator asking a. It does no I/O.
func NewAutodiscoverLocator(a *ews.Autodiscoverer, opts *AutodiscoverLocatorOptions) (*AutodiscoverLocator, error) {
	if a == nil {
		return nil, fmt.Errorf("%w: NewAutodiscoverLocator without an Autodiscoverer", ErrInvalidConfig)
	}
	l := &AutodiscoverLocator{a: a, prefix: "autodiscover",
		clients: map[string]Remote{}, groups: map[groupKey][]*groupSlot{}, placed: map[string]*groupSlot{}}
	if opts != nil {
		l.opts = *opts
	}
	if l.opts.GroupPrefix != "" {
		l.prefix = l.opts.GroupPrefix
	}
	if l.opts.NewClient == nil && l.opts.Client != nil {
		if err := l.opts.Client.Validate(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Locate implements Locator: Autodiscover (Forget first with refresh),
// then the client of the mailbox's EWS URL and its affinity group.
func (l *AutodiscoverLocator) Locate(ctx context.Context, address string, refresh bool) (Location, error) {
	if refresh {
		l.a.Forget(address)
	}
	s, err := l.a.Discover(ctx, address)
	if err != nil {
		return Location{}, err
	}
	u := s.EwsURL()
	if u == "" {
		return Location{}, fmt.Errorf("syncengine: autodiscover %s: %w: the settings name no EWS URL", address, ews.ErrAutodiscoverFailed)
	}
	c, err := l.client(u, s)
	if err != nil {
		return Location{}, err
	}
	return Location{Client: c, Group: l.group(strings.ToLower(address), groupKey{u, s.GroupingInformation}),
		EwsURL: u, GroupingInformation: s.GroupingInformation, Expires: s.Expires}, nil
}

func (l *AutodiscoverLocator) client(u string, s *ews.UserSettings) (Remote, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.clients[u]; c != nil {
		return c, nil
	}
	var c Remote
	var err error
	if l.opts.NewClient != nil {
		c, err = l.opts.NewClient(s)
	} else {
		c, err = s.NewClient(l.opts.Client)
	}
	if err != nil {
		return nil, fmt.Errorf("syncengine: client for %s: %w", u, err)
	}
	if c == nil {
		return nil, fmt.Errorf("%w: NewClient returned no client for %s", ErrInvalidConfig, u)
	}
	l.clients[u] = c
	return c, nil
}

// group places address in a group of key. A mailbox stays in its group
// while its key is unchanged; one that moves leaves it, and when it was the
// group's anchor the group takes no new members (its others keep it until
// their own next lookup).
func (l *AutodiscoverLocator) group(address string, key groupKey) *ews.AffinityGroup {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur := l.placed[address]; cur != nil {
		if cur.key == key {
			return cur.g
		}
		cur.n--
		if cur.g.Anchor == address {
			l.groups[cur.key] = deleteSlot(l.groups[cur.key], cur)
		}
		delete(l.placed, address)
	}
	var slot *groupSlot
	for _, s := range l.groups[key] {
		if s.n < ews.MaxStreamingSubscriptions {
			slot = s
			break
		}
	}
	if slot == nil {
		l.seq++
		slot = &groupSlot{key: key, g: &ews.AffinityGroup{
			Name:   l.prefix + "-" + ews.GroupingLabel(key.gi) + "-" + strconv.Itoa(l.seq),
			Anchor: address, EwsURL: key.url, GroupingInformation: key.gi,
		}}
		l.groups[key] = append(l.groups[key], slot)
	}
	slot.n++
	l.placed[address] = slot
	return slot.g
}

func deleteSlot(slots []*groupSlot, s *groupSlot) []*groupSlot {
	out := slots[:0]
	for _, x := range slots {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// ensureLocated asks the Locator where the mailbox lives before its first
// request, or again when a start-up failure told of a move. Without a
// Locator it does nothing.
func (m *mailbox) ensureLocated(ctx context.Context) error {
	if m.cfg.Locator == nil || (m.loc.Client != nil && !m.relocate) {
		return nil
	}
	cause := "start"
	if m.loc.Client != nil {
		cause = "mailbox moved"
	}
	if _, err := m.locate(ctx, m.loc.Client != nil, cause); err != nil {
		return fmt.Errorf("locating the mailbox: %w", err)
	}
	m.relocate = false
	return nil
}

// locate asks the Locator where the mailbox lives and, when that is
// another EWS URL or GroupingInformation, re-homes it there: the current
// subscription is ended through the old client, and the clients and
// affinity group replaced, so the next subscribe opens on the new server.
// It arms the expiry timer and reports whether the mailbox moved. It runs
// on the mailbox's goroutine.
func (m *mailbox) locate(ctx context.Context, refresh bool, cause string) (bool, error) {
	loc, err := m.cfg.Locator.Locate(ctx, m.cfg.Address, refresh)
	if err == nil && loc.Client == nil {
		err = fmt.Errorf("%w: the Locator returned no Client for %s", ErrInvalidConfig, m.cfg.Address)
	}
	if err != nil {
		return false, err
	}
	prev := m.loc
	rep := &LocationReport{Cause: cause, EwsURL: loc.EwsURL, GroupingInformation: loc.GroupingInformation,
		PreviousEwsURL: prev.EwsURL, PreviousGroupingInformation: prev.GroupingInformation}
	first := prev.Client == nil
	moved := !first && (loc.EwsURL != prev.EwsURL || loc.GroupingInformation != prev.GroupingInformation)
	switch {
	case first || moved:
		if moved {
			m.endSubscription(ctx, false)
			m.log.Info("mailbox moved", "from", prev.EwsURL, "to", loc.EwsURL,
				"grouping", loc.GroupingInformation, "cause", cause)
		}
		m.loc = loc
		m.cfg.Client, m.cfg.StreamClient, m.cfg.Group = loc.Client, loc.StreamClient, loc.Group
		m.remote = counted{Remote: loc.Client, mb: &m.calls, all: &m.e.calls}
		m.st.update(func(s *MailboxStatus) { s.EwsURL, s.GroupingInformation = loc.EwsURL, loc.GroupingInformation })
	default:
		m.loc.Expires = loc.Expires
	}
	rep.Moved = moved
	m.armRelocate(loc.Expires)
	m.emit(Event{Kind: EventLocated, Location: rep})
	return moved, nil
}

// armRelocate schedules the lookup of an expired location on the
// engine's clock (replacing the one scheduled before).
func (m *mailbox) armRelocate(expires time.Time) {
	m.locMu.Lock()
	defer m.locMu.Unlock()
	if m.locStop != nil {
		m.locStop()
		m.locStop = nil
	}
	if expires.IsZero() || m.stopping() {
		return
	}
	d := max(expires.Sub(m.e.cfg.Clock.Now()), minRelocateDelay)
	m.locStop = m.e.cfg.Clock.AfterFunc(d, func() {
		select {
		case m.locC <- struct{}{}:
		default:
		}
	})
}

func (m *mailbox) stopRelocate() {
	m.locMu.Lock()
	defer m.locMu.Unlock()
	if m.locStop != nil {
		m.locStop()
		m.locStop = nil
	}
}

// syncOnce is SyncOnce's pass over the mailbox: located first when it has
// a Locator (no expiry timer is left behind).
func (m *mailbox) syncOnce(ctx context.Context) error {
	if m.cfg.Locator != nil && m.loc.Client != nil && !m.loc.Expires.IsZero() && !m.e.cfg.Clock.Now().Before(m.loc.Expires) {
		m.relocate = true // the location a previous SyncOnce found has expired
	}
	if err := m.ensureLocated(ctx); err != nil {
		return err
	}
	defer m.stopRelocate()
	err := m.syncAll(ctx)
	if err != nil && m.cfg.Locator != nil && ctx.Err() == nil && recovery.Classify(err) == recovery.MailboxMoved {
		// The mailbox moved since it was located: ask again, and sync on
		// its new server.
		m.relocate = true
		if lerr := m.ensureLocated(ctx); lerr != nil {
			return errors.Join(err, lerr)
		}
		err = m.syncAll(ctx)
	}
	return err
}

// relocateExpired looks up an expired location; a moved mailbox recovers
// on its new server. A failed lookup keeps the mailbox where it is and asks
// again after a back-off.
func (m *mailbox) relocateExpired(ctx context.Context) {
	moved, err := m.locate(ctx, true, "expired")
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		m.locFailures++
		d := m.e.cfg.Backoff.Delay(m.locFailures, ews.BackOffHint(err))
		m.log.Warn("looking up the mailbox's location failed; staying where it is", "err", err, "retry in", max(d, minRelocateDelay))
		m.armRelocate(m.e.cfg.Clock.Now().Add(d))
		return
	}
	m.locFailures = 0
	if moved {
		m.locFresh = true
		m.recover(ctx, recovery.MailboxMoved, "mailbox moved (location expired)")
		m.locFresh = false
	}
}

// relocateForRecovery is the lookup at the top of a recovery after a
// move: unless the location was just looked up. A failed lookup is logged
// and the recovery goes on where the mailbox is (the old server may still
// serve it); a resubscription failing with a move again brings the next
// attempt back here.
func (m *mailbox) relocateForRecovery(ctx context.Context, cause string) error {
	if m.cfg.Locator == nil {
		return nil
	}
	if m.locFresh {
		m.locFresh = false
		return nil
	}
	if _, err := m.locate(ctx, true, cause); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		m.log.Warn("looking up the moved mailbox's location failed; resubscribing where it is", "err", err)
	}
	return nil
}

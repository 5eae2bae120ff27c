package syncengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// Engine mirrors many mailboxes into one store. Create it with New, add
// mailboxes, Start it and Close it; or call SyncOnce for a single pass
// without subscriptions. All methods are safe for concurrent use.
type Engine struct {
	store Store
	cfg   Config
	log   *slog.Logger

	mu        sync.Mutex
	mailboxes map[string]*mailbox
	started   bool
	closed    bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	initSem *semaphore.Weighted
	subSem  *semaphore.Weighted
	streams streamHub

	pushOnce sync.Once
	push     *pusher
	pushErr  error

	calls   counter
	metrics struct {
		events, batches, commits, items, recoveries, throttles atomic.Int64
		rechecked, recheckRepairs                              atomic.Int64
	}

	recheckMu   sync.Mutex
	recheckNext time.Time // the next free recheck slot (recheckSlot)
}

// New returns an engine over store. It does no I/O.
func New(store Store, cfg Config) (*Engine, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	e := &Engine{
		store:     store,
		cfg:       c,
		log:       c.Logger,
		mailboxes: make(map[string]*mailbox),
		initSem:   semaphore.NewWeighted(int64(c.InitialSyncs)),
		subSem:    semaphore.NewWeighted(int64(c.Subscribes)),
	}
	e.streams.e = e
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

// AddMailbox adds a mailbox to mirror. On a started engine its goroutine
// starts at once (initial sync, or recovery of an existing mirror).
func (e *Engine) AddMailbox(ctx context.Context, mb Mailbox) error {
	mb.Address = strings.ToLower(strings.TrimSpace(mb.Address))
	if err := mb.validate(); err != nil {
		return err
	}
	if mb.Mode == Push && e.cfg.Push.Listen == "" && e.cfg.Push.URL == "" {
		return ErrPushNotConfigured
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if _, ok := e.mailboxes[mb.Address]; ok {
		return fmt.Errorf("%w: %s", ErrDuplicateMailbox, mb.Address)
	}
	m, err := newMailbox(e, mb)
	if err != nil {
		return err
	}
	e.mailboxes[mb.Address] = m
	if e.started {
		e.launch(m)
	}
	return nil
}

func (e *Engine) launch(m *mailbox) {
	ctx, cancel := context.WithCancel(e.ctx)
	m.cancel = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		m.run(ctx)
	}()
}

// RemoveMailbox stops mirroring a mailbox: pending batches are applied
// and its subscription ended. The mirror keeps what it holds; call the
// store's RemoveMailbox to drop it too.
func (e *Engine) RemoveMailbox(ctx context.Context, address string) error {
	address = strings.ToLower(strings.TrimSpace(address))
	e.mu.Lock()
	m, ok := e.mailboxes[address]
	started := e.started
	if ok {
		delete(e.mailboxes, address)
	}
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownMailbox, address)
	}
	if !started {
		return nil
	}
	return m.close(ctx)
}

// close asks the mailbox's goroutine to finish and waits; if ctx ends
// first, the goroutine is cancelled (nothing half-written: the store
// commits whole batches) and waited for.
func (m *mailbox) close(ctx context.Context) error {
	m.requestStop()
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		m.cancel()
		<-m.done
		return ctx.Err()
	}
}

// Start launches every mailbox's goroutine and returns at once. Each
// mailbox subscribes first, then runs its initial sync (a new mirror) or a
// recovery (an existing one), then follows its notifications. The engine
// runs until Close; ctx only bounds Start itself.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if e.started {
		return fmt.Errorf("syncengine: Start called twice")
	}
	e.started = true
	for _, m := range e.sortedLocked() {
		e.launch(m)
	}
	return ctx.Err()
}

func (e *Engine) sortedLocked() []*mailbox {
	ms := make([]*mailbox, 0, len(e.mailboxes))
	for _, m := range e.mailboxes {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].cfg.Address < ms[j].cfg.Address })
	return ms
}

// Close stops every mailbox: pending batches are flushed and applied,
// subscriptions ended (streaming and pull unsubscribed, push ones answered
// Unsubscribe on their next post), then connections and the push listener
// closed. If ctx ends first, the remaining work is cancelled. It returns
// the first error; a second Close returns ErrClosed.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	e.closed = true
	ms := e.sortedLocked()
	started := e.started
	e.mu.Unlock()
	var errs []error
	if started {
		eg := errgroup.Group{}
		for _, m := range ms {
			eg.Go(func() error { return m.close(ctx) })
		}
		errs = append(errs, eg.Wait())
	}
	e.streams.close()
	if e.push != nil {
		e.push.close()
	}
	e.cancel()
	e.wg.Wait()
	return errors.Join(errs...)
}

// SyncOnce brings every mailbox's mirror up to the server's current state
// without subscribing: the hierarchy, then every selected folder from its
// stored SyncState to its end (a first full sync for a new mirror), each
// page committed with its checkpoint. Mailboxes run Config.InitialSyncs at
// a time. It must not be called on a started engine.
func (e *Engine) SyncOnce(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	if e.started {
		e.mu.Unlock()
		return fmt.Errorf("syncengine: SyncOnce on a started engine")
	}
	ms := e.sortedLocked()
	e.mu.Unlock()
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(e.cfg.InitialSyncs)
	for _, m := range ms {
		eg.Go(func() error {
			if err := m.syncOnce(ctx); err != nil {
				return fmt.Errorf("%s: %w", m.cfg.Address, err)
			}
			return nil
		})
	}
	return eg.Wait()
}

// SyncNow cuts every pending batch of the mailbox (all mailboxes for "")
// at once, as a "sync now" button would, and waits until they are handed
// to the mailboxes' goroutines.
func (e *Engine) SyncNow(ctx context.Context, address string) error {
	e.mu.Lock()
	var ms []*mailbox
	for addr, m := range e.mailboxes {
		if address == "" || strings.EqualFold(address, addr) {
			ms = append(ms, m)
		}
	}
	e.mu.Unlock()
	if address != "" && len(ms) == 0 {
		return fmt.Errorf("%w: %s", ErrUnknownMailbox, address)
	}
	for _, m := range ms {
		if err := m.deb.FlushNow(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Status returns a snapshot of every mailbox, ordered by address.
func (e *Engine) Status() []MailboxStatus {
	e.mu.Lock()
	ms := e.sortedLocked()
	e.mu.Unlock()
	out := make([]MailboxStatus, len(ms))
	for i, m := range ms {
		out[i] = m.st.get()
		out[i].Requests = m.calls.total.Load()
	}
	return out
}

// Metrics returns the engine's counters.
func (e *Engine) Metrics() Metrics {
	return Metrics{
		Requests:     e.calls.total.Load(),
		RequestsByOp: e.calls.snapshot(),
		Events:       e.metrics.events.Load(),
		Batches:      e.metrics.batches.Load(),
		Commits:      e.metrics.commits.Load(),
		Items:        e.metrics.items.Load(),
		Recoveries:   e.metrics.recoveries.Load(),
		Throttles:    e.metrics.throttles.Load(),

		Rechecked:      e.metrics.rechecked.Load(),
		RecheckRepairs: e.metrics.recheckRepairs.Load(),
	}
}

// PushHandler returns the push listener's http.Handler, for apps that
// serve it themselves (Config.Push.URL without Listen); mount it at
// PushPath, on a server with timeouts and a connection limit
// (ews.NewPushServer) and, off a trusted network, TLS. It fails with
// ErrPushNotConfigured when Config.Push is empty.
func (e *Engine) PushHandler() (http.Handler, error) {
	p, err := e.pushHub()
	if err != nil {
		return nil, err
	}
	return p.l, nil
}

// PushPath is the path prefix the push listener expects; the callback URL
// of each subscription is Config.Push.URL + PushPath + a secret of its
// own, and a POST on any other path is answered 404 and changes nothing.
const PushPath = pushPathPrefix

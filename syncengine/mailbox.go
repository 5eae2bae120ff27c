package syncengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/recovery"
)

// dirtyKey is what the debouncer coalesces by: one folder, or the
// hierarchy.
type dirtyKey struct {
	hierarchy bool
	folder    localstore.FolderID
}

// hint is a key's accumulated value: how many events, and when the first
// one arrived.
type hint struct {
	n     int
	first time.Time
}

func mergeHint(acc, v hint) hint {
	acc.n += v.n
	if acc.first.IsZero() || (!v.first.IsZero() && v.first.Before(acc.first)) {
		acc.first = v.first
	}
	return acc
}

// loss is a pending request to recover, from a notification source.
type loss struct {
	mu     sync.Mutex
	action recovery.Action
	err    error
	ch     chan struct{}
}

func rank(a recovery.Action) int {
	switch a {
	case recovery.MailboxMoved:
		return 3
	case recovery.Resubscribe:
		return 2
	case recovery.CompareOnly:
		return 1
	}
	return 0
}

func (l *loss) signal(a recovery.Action, err error) {
	l.mu.Lock()
	if rank(a) > rank(l.action) {
		l.action, l.err = a, err
	}
	l.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
	default:
	}
}

func (l *loss) take() (recovery.Action, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, err := l.action, l.err
	l.action, l.err = recovery.None, nil
	return a, err
}

// mailbox is the engine's state for one mailbox. Its run goroutine is the
// only one that syncs and commits for the mailbox (batches are applied in
// order); notification sources only feed the debouncer and signal losses.
type mailbox struct {
	e      *Engine
	cfg    Mailbox
	mb     localstore.Mailbox
	remote Remote
	calls  counter
	log    *slog.Logger
	st     status

	distMu sync.Mutex
	dist   map[string]string

	deb       *debounce.Debouncer[dirtyKey, hint]
	batches   chan debounce.Batch[dirtyKey, hint]
	lost      loss
	pending   map[localstore.FolderID]bool // dirty folders of a batch a loss interrupted (the run goroutine's)
	hierDirty atomic.Bool
	sweepC    chan struct{}
	recheck   []localstore.FolderID // what the last recovery left to its recheck (the run goroutine's)

	stopOnce sync.Once
	stop     chan struct{} // closed to ask run to finish
	done     chan struct{} // closed when run has returned
	cancel   context.CancelFunc

	subMu      sync.Mutex
	sub        *ews.Subscription
	watermark  string
	lastEvent  time.Time
	stopSource func()

	// Where the mailbox lives, with a Locator (locate.go); all but the
	// timer's fields are the run goroutine's.
	loc         Location
	relocate    bool // a start-up failure told of a move: look up again
	locFresh    bool // just looked up: the recovery that follows need not
	locFailures int
	locC        chan struct{} // the location expired
	locMu       sync.Mutex
	locStop     func() bool
}

func newMailbox(e *Engine, cfg Mailbox) (*mailbox, error) {
	m := &mailbox{
		e:       e,
		cfg:     cfg,
		mb:      localstore.Mailbox(cfg.Address),
		log:     e.log.With("mailbox", cfg.Address),
		batches: make(chan debounce.Batch[dirtyKey, hint]),
		sweepC:  make(chan struct{}, 1),
		locC:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	m.lost.ch = make(chan struct{}, 1)
	m.remote = counted{Remote: cfg.Client, mb: &m.calls, all: &e.calls}
	m.st.s = MailboxStatus{Address: cfg.Address, Mode: cfg.Mode, Phase: PhaseStarting}
	deb, err := debounce.New(&debounce.Config{Quiet: e.cfg.Quiet, MaxDelay: e.cfg.MaxDelay, Clock: e.cfg.Clock, Logger: m.log},
		mergeHint, m.deliver)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	m.deb = deb
	return m, nil
}

// deliver hands a batch to the run goroutine; it runs on the debouncer's
// timer goroutine (or Close's) and blocks until the batch is taken, while
// new events keep accumulating in the debouncer.
func (m *mailbox) deliver(b debounce.Batch[dirtyKey, hint]) {
	select {
	case m.batches <- b:
	case <-m.done:
	}
}

func (m *mailbox) requestStop() { m.stopOnce.Do(func() { close(m.stop) }) }

func (m *mailbox) stopping() bool {
	select {
	case <-m.stop:
		return true
	default:
		return false
	}
}

func (m *mailbox) setPhase(p Phase) {
	changed := false
	m.st.update(func(s *MailboxStatus) {
		changed = s.Phase != p
		s.Phase = p
	})
	if changed {
		m.emit(Event{Kind: EventPhase, Phase: p})
	}
}

func (m *mailbox) emit(ev Event) {
	if f := m.e.cfg.OnEvent; f != nil {
		ev.Mailbox = m.cfg.Address
		if ev.Phase == "" {
			ev.Phase = m.st.get().Phase
		}
		f(ev)
	}
}

func (m *mailbox) markHierarchyDirty() { m.hierDirty.Store(true) }

// onEvents feeds a notification's events into the debouncer: item events
// mark their folders (old and new parent) dirty, folder events the
// hierarchy. Events of a subscription other than the current one are
// dropped.
func (m *mailbox) onEvents(subID string, events []ews.Event) {
	m.subMu.Lock()
	if m.sub == nil || m.sub.ID != subID {
		m.subMu.Unlock()
		return
	}
	now := m.e.cfg.Clock.Now()
	m.lastEvent = now
	for i := range events {
		if w := events[i].Watermark; w != "" {
			m.watermark = w
		}
	}
	m.subMu.Unlock()
	h := hint{n: 1, first: now}
	for i := range events {
		ev := &events[i]
		if ev.Type == ews.EventStatus {
			continue
		}
		m.e.metrics.events.Add(1)
		if ev.IsFolder() {
			_ = m.deb.Add(dirtyKey{hierarchy: true}, h)
			continue
		}
		if id := ev.ParentFolderID.ID; id != "" {
			_ = m.deb.Add(dirtyKey{folder: localstore.FolderID(id)}, h)
		}
		if id := ev.OldParentFolderID.ID; id != "" && id != ev.ParentFolderID.ID {
			_ = m.deb.Add(dirtyKey{folder: localstore.FolderID(id)}, h)
		}
	}
}

// onLost asks the run goroutine to recover, if subID is the current
// subscription ("" means whichever is current).
func (m *mailbox) onLost(subID string, a recovery.Action, err error) {
	if subID != "" {
		m.subMu.Lock()
		cur := m.sub != nil && m.sub.ID == subID
		m.subMu.Unlock()
		if !cur {
			return
		}
	}
	m.lost.signal(a, err)
}

// subState is the subscription state to store with a batch.
func (m *mailbox) subState() *localstore.Subscription {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	if m.sub == nil {
		return &localstore.Subscription{}
	}
	return &localstore.Subscription{Kind: kindOf(m.sub.Kind), ID: m.sub.ID, Watermark: m.watermark, LastEvent: m.lastEvent,
		CallbackDigest: m.pushDigest(m.sub)} // push.go
}

// run is the mailbox's owner goroutine: start-up (initial sync, or
// recovery after a restart), then batches, recoveries and sweeps in order,
// then a clean shutdown.
func (m *mailbox) run(ctx context.Context) {
	defer close(m.done)
	defer m.setPhase(PhaseStopped)
	defer m.stopRelocate()
	// A stop request cancels the start-up (a long initial sync, say): what
	// it committed stays, page by page, and the next start resumes there.
	sctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-sctx.Done():
		}
	}()
	ok := m.startup(sctx)
	cancel()
	if !ok {
		m.shutdown(ctx)
		return
	}
	m.setPhase(PhaseLive)
	sw := &sweeper{m: m}
	sw.start()
	sw.addRecheck() // the start-up's recovery, if there was one
	defer sw.cancel()
	for {
		select {
		case <-ctx.Done():
			m.shutdown(ctx)
			return
		case <-m.stop:
			m.shutdown(ctx)
			return
		case b := <-m.batches:
			m.handleBatch(ctx, b)
		case <-m.lost.ch:
			if a, err := m.lost.take(); a != recovery.None {
				m.recover(ctx, a, causeOf(err))
			}
		case <-m.locC:
			m.relocateExpired(ctx)
		case <-m.sweepC:
			sw.step(ctx)
		}
		sw.addRecheck() // what a recovery (in any of the above) left
	}
}

func causeOf(err error) string {
	if err == nil {
		return "unknown"
	}
	var code ews.Code
	if errors.As(err, &code) {
		return string(code)
	}
	switch {
	case errors.Is(err, ews.ErrSubscriptionLost):
		return "push subscription silent"
	case errors.Is(err, ews.ErrWatermarkGap):
		return "watermark gap"
	}
	return err.Error()
}

// backoff waits after a failed attempt (the server's hint when it gave
// one); it reports false when the mailbox must stop instead.
func (m *mailbox) backoff(ctx context.Context, attempt int, err error) bool {
	a := recovery.Classify(err)
	if a == recovery.Stop || ctx.Err() != nil || m.stopping() {
		return false
	}
	if a == recovery.Retry {
		m.e.metrics.throttles.Add(1)
	}
	d := m.e.cfg.Backoff.Delay(attempt, ews.BackOffHint(err))
	prev := m.st.get().Phase
	m.st.update(func(s *MailboxStatus) { s.Err = err })
	m.setPhase(PhaseBackingOff)
	m.emit(Event{Kind: EventError, Err: err})
	m.log.Warn("backing off", "err", err, "delay", d, "attempt", attempt+1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-sctx.Done():
		}
	}()
	if debounce.Sleep(sctx, m.e.cfg.Clock, d) != nil {
		return false
	}
	m.setPhase(prev)
	return true
}

// startup opens a fresh subscription (after dropping a stored one), then
// runs the initial sync on a new mirror or a recovery on an existing one:
// the process was down, so the old subscription's events are not trusted.
// It retries with back-off until it succeeds or the mailbox stops.
func (m *mailbox) startup(ctx context.Context) bool {
	for attempt := 0; ; attempt++ {
		err := m.startOnce(ctx)
		if err == nil {
			m.st.update(func(s *MailboxStatus) { s.Err = nil })
			return true
		}
		m.log.Warn("start failed", "err", err)
		if recovery.Classify(err) == recovery.MailboxMoved {
			m.relocate = true // ask the Locator again (if any) before the next attempt
		}
		if !m.backoff(ctx, attempt, err) {
			return false
		}
	}
}

func (m *mailbox) startOnce(ctx context.Context) error {
	if err := m.ensureLocated(ctx); err != nil {
		return err
	}
	st, err := m.e.store.MailboxState(ctx, m.mb)
	if err != nil && !errors.Is(err, localstore.ErrNotFound) {
		return err
	}
	if m.currentSub() == nil {
		if old := st.Subscription; old.ID != "" {
			m.dropStored(ctx, old)
		}
		if err := m.subscribe(ctx); err != nil {
			return err
		}
	}
	if st.HierarchySyncState == "" {
		return m.initialSync(ctx)
	}
	rep := &recovery.Report{Mailbox: m.cfg.Address, Cause: "restart", Resubscribed: true}
	return m.recoverWith(ctx, recovery.CompareOnly, rep)
}

// dropStored unsubscribes a subscription left by an earlier run, best
// effort, so that restarts never pile up subscriptions on the server. A
// push subscription ends when its next post is answered Unsubscribe.
func (m *mailbox) dropStored(ctx context.Context, old localstore.Subscription) {
	if old.Kind == localstore.Streaming || old.Kind == localstore.Pull {
		m.unsubscribe(ctx, old.ID)
	}
	m.retireStoredPush(old) // push.go
}

func (m *mailbox) eventsOptions() *ews.GetEventsOptions {
	if m.cfg.Group == nil {
		return nil
	}
	return &ews.GetEventsOptions{Group: m.cfg.Group}
}

func (m *mailbox) currentSub() *ews.Subscription {
	m.subMu.Lock()
	defer m.subMu.Unlock()
	return m.sub
}

// handleBatch syncs a debounced batch: the hierarchy when dirty, then each
// dirty mirrored folder from its SyncState, committed in one transaction
// with the subscription state. Failures back off and retry the same batch;
// the events arriving meanwhile accumulate in the debouncer.
func (m *mailbox) handleBatch(ctx context.Context, b debounce.Batch[dirtyKey, hint]) {
	if b.Overflow {
		m.recover(ctx, recovery.CompareOnly, "debouncer overflow")
		return
	}
	rep := &BatchReport{Events: b.Events(), Cut: m.e.cfg.Clock.Now()}
	hier := false
	var dirty []localstore.FolderID
	for _, it := range b.Items {
		if rep.FirstEvent.IsZero() || it.Value.first.Before(rep.FirstEvent) {
			rep.FirstEvent = it.Value.first
		}
		if it.Key.hierarchy {
			hier = true
			continue
		}
		dirty = append(dirty, it.Key.folder)
	}
	for attempt := 0; ; attempt++ {
		calls0 := m.calls.total.Load()
		err := m.applyBatch(ctx, hier || m.hierDirty.Swap(false), dirty, rep)
		rep.Requests += m.calls.total.Load() - calls0
		if err == nil {
			break
		}
		m.log.Warn("batch failed", "err", err)
		if a := recovery.Classify(err); a == recovery.Resubscribe || a == recovery.MailboxMoved {
			m.addPending(dirty)
			m.recover(ctx, a, causeOf(err))
			return
		}
		if !m.backoff(ctx, attempt, err) {
			return
		}
		hier = true // be thorough on the retry
	}
	m.st.update(func(s *MailboxStatus) { s.Err = nil })
	rep.Committed = m.e.cfg.Clock.Now()
	m.e.metrics.batches.Add(1)
	m.emit(Event{Kind: EventBatch, Batch: rep})
}

// addPending records folders whose batch a loss interrupted, for the
// recovery to resync (the run goroutine's).
func (m *mailbox) addPending(ids []localstore.FolderID) {
	if len(ids) == 0 {
		return
	}
	if m.pending == nil {
		m.pending = make(map[localstore.FolderID]bool, len(ids))
	}
	for _, id := range ids {
		m.pending[id] = true
	}
}

func (m *mailbox) applyBatch(ctx context.Context, hier bool, dirty []localstore.FolderID, rep *BatchReport) error {
	var created []localstore.FolderID
	if hier {
		res, err := m.syncHierarchy(ctx)
		if err != nil {
			return err
		}
		created = res.created
		rep.Hierarchy = true
	}
	sel, err := m.selectFolders(ctx)
	if err != nil {
		return err
	}
	want := make(map[localstore.FolderID]bool, len(dirty)+len(created))
	for _, id := range dirty {
		want[id] = true
	}
	for _, id := range created {
		want[id] = true
	}
	var folders []localstore.Folder
	for _, f := range sel.selected {
		if want[f.ID] || f.LastSynced.IsZero() {
			folders = append(folders, f)
		}
	}
	runs, gone, err := m.readRuns(ctx, folders)
	if err != nil {
		return err
	}
	if len(gone) > 0 && !hier {
		// A folder went without its event yet. The props go with each
		// folder's checkpoint (name and parent included), so they are read
		// again after the hierarchy sync: read before it, they would write
		// back a rename that the sync has just recorded.
		if _, err := m.syncHierarchy(ctx); err != nil {
			return err
		}
		rep.Hierarchy = true
		// The records as the sync left them; a folder it removed is not
		// synced (its first page would put it back).
		if sel, err = m.selectFolders(ctx); err != nil {
			return err
		}
		kept := make([]localstore.Folder, 0, len(runs))
		for _, r := range runs {
			if f, ok := sel.byID[r.folder.ID]; ok {
				kept = append(kept, f)
			}
		}
		if runs, _, err = m.readRuns(ctx, kept); err != nil {
			return err
		}
	}
	acc := newAccumulator(m, m.e.cfg.MaxBatchChanges)
	n, err := m.syncFolders(ctx, runs, acc, nil)
	rep.add(n)
	for _, r := range runs {
		rep.Folders = append(rep.Folders, displayName(r.folder))
	}
	if err != nil {
		return err
	}
	// Item events in folders that are not item-synced: record their props.
	if err := m.refreshUnselected(ctx, sel, dirty, acc); err != nil {
		return err
	}
	if err := acc.add(ctx, localstore.Batch{Subscription: m.subState()}); err != nil {
		return err
	}
	return acc.flush(ctx)
}

func displayName(f localstore.Folder) string {
	if f.DisplayName != "" {
		return f.DisplayName
	}
	return fmt.Sprintf("(folder %.8s…)", f.ID)
}

// shutdown flushes the debouncer, applies what it delivers, and ends the
// subscription (streaming and pull are unsubscribed; a push subscription is
// unregistered, so its next post is answered Unsubscribe).
func (m *mailbox) shutdown(ctx context.Context) {
	if ctx.Err() == nil {
		flushed := make(chan struct{})
		go func() {
			_ = m.deb.Close(ctx)
			close(flushed)
		}()
	drain:
		for {
			select {
			case b := <-m.batches:
				m.handleBatch(ctx, b)
			case <-flushed:
				break drain
			case <-ctx.Done():
				break drain
			}
		}
	} else {
		_ = m.deb.Close(context.WithoutCancel(ctx))
	}
	m.endSubscription(context.WithoutCancel(ctx), true)
}

// endSubscription detaches the current subscription from its source and
// ends it on the server (streaming and pull are unsubscribed; a push one is
// answered Unsubscribe on its next post). With clear, the stored state is
// cleared too once that succeeded.
func (m *mailbox) endSubscription(ctx context.Context, clear bool) {
	m.subMu.Lock()
	sub, stop := m.sub, m.stopSource
	m.sub, m.stopSource = nil, nil
	m.subMu.Unlock()
	if stop != nil {
		stop()
	}
	if sub == nil {
		return
	}
	if sub.Kind == ews.Push || !m.unsubscribe(ctx, sub.ID) {
		// Keep the stored id: the next start tries again (a push
		// subscription lives on until the next run answers it
		// Unsubscribe, by its stored callback digest).
		return
	}
	if !clear {
		return
	}
	if err := m.e.store.Apply(ctx, localstore.Batch{Mailbox: m.mb, Subscription: &localstore.Subscription{}}); err != nil {
		m.log.Debug("clearing the subscription state failed", "err", err)
	}
}

// unsubscribe ends a pull or streaming subscription, best effort, and
// reports whether the server confirmed it.
func (m *mailbox) unsubscribe(ctx context.Context, id string) bool {
	uctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var opts *ews.UnsubscribeOptions
	if m.cfg.Group != nil {
		opts = &ews.UnsubscribeOptions{Group: m.cfg.Group}
	}
	if err := m.remote.Unsubscribe(uctx, id, opts); err != nil {
		m.log.Debug("unsubscribe failed (the subscription may have expired)", "err", err)
		return false
	}
	return true
}

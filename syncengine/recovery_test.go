package syncengine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/recovery"
)

// startEngine starts an engine over f's store with one mailbox.
func startEngine(t *testing.T, f *fixture, mb Mailbox, cfg Config) *Engine {
	t.Helper()
	eng, err := New(f.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if mb.Address == "" {
		mb.Address = testAddr
	}
	if mb.Client == nil {
		mb.Client = f.client()
	}
	if err := eng.AddMailbox(context.Background(), mb); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	return eng
}

// changeOneFolder makes n new messages in the Inbox and marks one other
// message read, touching exactly one folder.
func (f *fixture) changeInbox(n int) {
	f.t.Helper()
	inbox, err := f.box.FolderID("inbox")
	if err != nil {
		f.t.Fatal(err)
	}
	for i := range n {
		if _, err := f.box.Deliver(inbox, testMessage(i)); err != nil {
			f.t.Fatal(err)
		}
	}
}

func TestEngine_RecoversAfterServerRestart(t *testing.T) {
	for _, mode := range []Mode{Streaming, Pull} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, 400, 12)
			f.outOfCommitSecond()
			events := make(chan Event, 1024)
			eng := startEngine(t, f, Mailbox{Mode: mode}, testConfig(events))
			waitEvent(t, events, EventInitialSync, 20*time.Second)
			f.srv.Restart()
			f.changeInbox(5)
			ev := waitEvent(t, events, EventRecovery, 20*time.Second)
			r := ev.Recovery
			if !r.Resubscribed || r.Compared < 10 {
				t.Fatalf("report %+v", r)
			}
			if r.Resynced > 2 {
				t.Fatalf("resynced %d folders (%v) after a change to one folder", r.Resynced, r.Reasons)
			}
			f.converge(ctx, 20*time.Second)
			if n := f.srv.NotificationStats().Subscriptions; n != 1 {
				t.Fatalf("%d live subscriptions on the server, want 1", n)
			}
			if eng.Status()[0].Recoveries != 1 {
				t.Fatalf("status %+v", eng.Status()[0])
			}
		})
	}
}

func TestEngine_RestartResumesByComparison(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 400, 10)
	initialSyncThenStop(t, f)
	if n := f.srv.NotificationStats().Subscriptions; n != 0 {
		t.Fatalf("Close left %d subscriptions", n)
	}
	// While the process is down.
	f.changeInbox(3)
	f.reopen()
	events2 := make(chan Event, 1024)
	startEngine(t, f, Mailbox{}, testConfig(events2))
	ev := waitEvent(t, events2, EventRecovery, 20*time.Second)
	if ev.Recovery.Cause != "restart" || ev.Recovery.Resynced > 2 {
		t.Fatalf("restart recovery %+v", ev.Recovery)
	}
	f.converge(ctx, 20*time.Second)
}

func TestEngine_NoSubscriptionLeakAcrossCrashes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 50, 2)
	for range 5 {
		events := make(chan Event, 256)
		eng, err := New(f.store, testConfig(events))
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.AddMailbox(ctx, Mailbox{Address: testAddr, Client: f.client(), Mode: Pull}); err != nil {
			t.Fatal(err)
		}
		if err := eng.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, events, EventPhase, 10*time.Second)
		for st := eng.Status()[0]; st.Phase != PhaseLive; st = eng.Status()[0] {
			waitEvent(t, events, EventPhase, 10*time.Second)
		}
		// A crash: the engine goes away without unsubscribing.
		crash(eng)
		f.reopen()
	}
	if n := f.srv.NotificationStats().Subscriptions; n > 1 {
		t.Fatalf("%d subscriptions after 5 crashes, want at most 1", n)
	}
}

// crash stops an engine's goroutines without a clean shutdown (as SIGKILL
// would leave the server side).
func crash(e *Engine) {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	e.streams.close()
}

func TestEngine_InvalidSyncStateRebuildsFolder(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 4)
	events := make(chan Event, 1024)
	startEngine(t, f, Mailbox{}, testConfig(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	inbox, _ := f.box.FolderID("inbox")
	items, _ := f.box.Items(inbox)
	f.srv.Faults().InvalidSyncState(1)
	// Deleted while the next sync's state is rejected: the rebuild must
	// remove it from the mirror.
	if err := f.box.DeleteItem(items[0].ID, ewstest.HardDelete); err != nil {
		t.Fatal(err)
	}
	f.converge(ctx, 20*time.Second)
	if _, err := f.store.Item(ctx, localstore.Mailbox(testAddr), localstore.ItemID(items[0].ID)); !errors.Is(err, localstore.ErrNotFound) {
		t.Fatalf("deleted item still mirrored: %v", err)
	}
}

func TestEngine_ThrottlingBacksOffAndConverges(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 4)
	events := make(chan Event, 1024)
	eng := startEngine(t, f, Mailbox{}, testConfig(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	f.srv.Faults().ServerBusy(12, 5*time.Millisecond) // past the client's own retries
	f.step(60, 5)
	f.converge(ctx, 20*time.Second)
	if m := eng.Metrics(); m.Throttles == 0 {
		t.Fatalf("no back-off recorded: %+v", m)
	}
}

func TestEngine_MailboxMoveRecovers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 200, 4)
	events := make(chan Event, 1024)
	startEngine(t, f, Mailbox{Mode: Pull}, testConfig(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	if err := f.srv.MoveMailbox(testAddr, "DB02"); err != nil {
		t.Fatal(err)
	}
	f.changeInbox(2)
	ev := waitEvent(t, events, EventRecovery, 20*time.Second)
	if !ev.Recovery.Resubscribed {
		t.Fatalf("report %+v", ev.Recovery)
	}
	f.converge(ctx, 20*time.Second)
}

func TestEngine_WatermarkExpiryRecovers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 200, 4)
	events := make(chan Event, 1024)
	startEngine(t, f, Mailbox{Mode: Pull}, testConfig(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	f.changeInbox(1)
	if err := f.srv.ExpireWatermarks(testAddr); err != nil {
		t.Fatal(err)
	}
	f.changeInbox(2)
	waitEvent(t, events, EventRecovery, 20*time.Second)
	f.converge(ctx, 20*time.Second)
}

// subscribeHook runs fn after the first successful Subscribe, before the
// engine reads any folder: a change made then must not be lost.
type subscribeHook struct {
	Remote
	once atomic.Bool
	fn   func()
}

func (h *subscribeHook) Subscribe(ctx context.Context, req *ews.SubscribeRequest) (*ews.Subscription, error) {
	s, err := h.Remote.Subscribe(ctx, req)
	if err == nil && h.once.CompareAndSwap(false, true) {
		h.fn()
	}
	return s, err
}

func TestEngine_SubscribeBeforeYouLook(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 200, 4)
	events := make(chan Event, 1024)
	var delivered atomic.Int32
	hook := &subscribeHook{Remote: f.client()}
	hook.fn = func() {
		// Between Subscribe and the first read of the folders.
		f.changeInbox(1)
		delivered.Add(1)
	}
	startEngine(t, f, Mailbox{Client: hook}, testConfig(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	if delivered.Load() != 1 {
		t.Fatal("hook did not run")
	}
	f.converge(ctx, 20*time.Second)
}

// failingRemote fails every SyncFolderItems call after the first n.
type failingRemote struct {
	Remote
	n     atomic.Int64
	after int64
}

var errInjected = errors.New("injected failure")

func (r *failingRemote) SyncFolderItems(ctx context.Context, req ews.SyncFolderItemsRequest) (*ews.SyncFolderItemsResult, error) {
	if r.n.Add(1) > r.after {
		return nil, errInjected
	}
	return r.Remote.SyncFolderItems(ctx, req)
}

func TestEngine_SyncOnceResumesFromLastCommittedPage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 3000, 2)
	full := &failingRemote{Remote: f.client(), after: 1 << 40}
	// A whole first pass, for the number of calls it takes.
	probe := newFixture(t, 3000, 2)
	probeRemote := &failingRemote{Remote: probe.client(), after: 1 << 40}
	if err := syncOnceWith(t, probe.store, probeRemote); err != nil {
		t.Fatal(err)
	}
	total := probeRemote.n.Load()

	broken := &failingRemote{Remote: f.client(), after: total / 2}
	if err := syncOnceWith(t, f.store, broken); !errors.Is(err, errInjected) {
		t.Fatalf("first pass: %v", err)
	}
	if err := syncOnceWith(t, f.store, full); err != nil {
		t.Fatal(err)
	}
	// The second pass continued from the committed pages: together the two
	// passes made about one pass's calls (plus one per folder to close the
	// interrupted ones), not one and a half.
	if got := broken.n.Load() + full.n.Load(); got > total+total/4+10 {
		t.Fatalf("%d SyncFolderItems calls over both passes, a full pass takes %d", got, total)
	}
	if d := f.diff(ctx); len(d) != 0 {
		t.Fatalf("after resume:\n%v", first(d, 10))
	}
}

func TestEngine_ClassifiedLossesReachRecovery(t *testing.T) {
	// The stream hub's rule: a removed subscription is Resubscribe, a
	// missed-events error is a comparison only.
	if a := recovery.Classify(&ews.ResponseError{Code: ews.ErrMissedNotificationEvents}); a != recovery.CompareOnly {
		t.Fatalf("missed events: %v", a)
	}
	var l loss
	l.ch = make(chan struct{}, 1)
	l.signal(recovery.CompareOnly, nil)
	l.signal(recovery.Resubscribe, errInjected)
	l.signal(recovery.CompareOnly, nil)
	if a, err := l.take(); a != recovery.Resubscribe || err != errInjected {
		t.Fatalf("coalesced loss %v %v", a, err)
	}
	if a, _ := l.take(); a != recovery.None {
		t.Fatalf("second take %v", a)
	}
}

// A folder renamed after the recovery read its props but before it synced
// the hierarchy: the hierarchy sync reports the new name, and the folder's
// resync that follows must not write back the name its props had.
func TestEngine_RecoveryKeepsRenameSeenByHierarchy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 200, 6)
	var target ewstest.FolderInfo
	for _, sf := range f.box.Folders() {
		if sf.DistinguishedID == "" && IsMailFolder(sf.FolderClass) {
			target = sf
			break
		}
	}
	if target.ID == "" {
		t.Fatal("no user mail folder seeded")
	}
	hook := &opsHook{Remote: f.client()} // blindspot_test.go
	events := make(chan Event, 1024)
	cfg := testConfig(events)
	// The delivery's batch waits until after the recovery, so that the
	// recovery's hierarchy sync is the first one after the hook is armed.
	cfg.Quiet, cfg.MaxDelay = 10*time.Second, 20*time.Second
	startEngine(t, f, Mailbox{Mode: Pull, Client: hook}, cfg)
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	// The folder moves, so that the recovery's comparison resyncs it.
	if _, err := f.box.Deliver(target.ID, testMessage(1)); err != nil {
		t.Fatal(err)
	}
	arm(&hook.beforeHierarchy, func() {
		if _, err := f.box.RenameFolder(target.ID, "Renamed during recovery"); err != nil {
			t.Error(err)
		}
	})
	f.srv.Restart()
	ev := waitEvent(t, events, EventRecovery, 20*time.Second)
	if hook.beforeHierarchy.Load() != nil {
		t.Fatal("the recovery synced no hierarchy")
	}
	if ev.Recovery.Resynced == 0 {
		t.Fatalf("recovery resynced nothing: %+v", ev.Recovery)
	}
	f.converge(ctx, 5*time.Second)
}

// batchHook drops every folder event (so that batches are item events
// only), deletes a folder while a batch reads the props of its dirty
// folders (so the batch finds it gone), then renames another when the
// batch syncs the hierarchy for it.
type batchHook struct {
	Remote
	want       [2]string // the folders the armed GetFolder must ask for
	armed      atomic.Bool
	hierArmed  atomic.Bool
	onGet      func()
	onHier     func()
	hierCalled atomic.Bool
}

func (h *batchHook) GetFolder(ctx context.Context, req ews.GetFolderRequest) ([]ews.FolderResult, error) {
	asked := map[string]bool{}
	for _, r := range req.Folders {
		asked[r.ID] = true
	}
	if asked[h.want[0]] && asked[h.want[1]] && h.armed.CompareAndSwap(true, false) {
		h.onGet()
		h.hierArmed.Store(true)
	}
	return h.Remote.GetFolder(ctx, req)
}

func (h *batchHook) GetEvents(ctx context.Context, id, wm string, opts *ews.GetEventsOptions) (*ews.Notification, error) {
	n, err := h.Remote.GetEvents(ctx, id, wm, opts)
	if err == nil {
		kept := n.Events[:0:0]
		for _, ev := range n.Events {
			if !ev.IsFolder() {
				kept = append(kept, ev)
			}
		}
		n.Events = kept
	}
	return n, err
}

func (h *batchHook) SyncFolderHierarchy(ctx context.Context, req ews.SyncFolderHierarchyRequest) (*ews.SyncFolderHierarchyResult, error) {
	if h.hierArmed.CompareAndSwap(true, false) {
		h.onHier()
		h.hierCalled.Store(true)
	}
	return h.Remote.SyncFolderHierarchy(ctx, req)
}

func TestEngine_BatchKeepsRenameSeenByHierarchy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 200, 6)
	var users []ewstest.FolderInfo
	for _, sf := range f.box.Folders() {
		if sf.DistinguishedID == "" && IsMailFolder(sf.FolderClass) {
			users = append(users, sf)
		}
	}
	if len(users) < 2 {
		t.Fatalf("%d user mail folders seeded, want 2", len(users))
	}
	keep, doomed := users[0], users[1]
	hook := &batchHook{Remote: f.client(), want: [2]string{keep.ID, doomed.ID}}
	hook.onGet = func() {
		if err := f.box.DeleteFolder(doomed.ID, ewstest.HardDelete); err != nil {
			t.Error(err)
		}
	}
	hook.onHier = func() {
		if _, err := f.box.RenameFolder(keep.ID, "Renamed during the batch"); err != nil {
			t.Error(err)
		}
	}
	events := make(chan Event, 1024)
	cfg := testConfig(events)
	cfg.Quiet, cfg.MaxDelay = time.Second, 2*time.Second // one batch for both deliveries
	startEngine(t, f, Mailbox{Mode: Pull, Client: hook}, cfg)
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	hook.armed.Store(true)
	for _, sf := range []ewstest.FolderInfo{keep, doomed} {
		if _, err := f.box.Deliver(sf.ID, testMessage(1)); err != nil {
			t.Fatal(err)
		}
	}
	f.converge(ctx, 10*time.Second)
	if !hook.hierCalled.Load() {
		t.Fatal("no batch found a dirty folder gone and synced the hierarchy for it")
	}
}

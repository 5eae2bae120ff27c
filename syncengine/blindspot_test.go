package syncengine

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/recovery"
)

// Changes the recovery's comparison of stored props cannot see, and the
// engine's answers to each.

// opsHook runs a function, once, around chosen operations.
type opsHook struct {
	Remote
	beforeGetFolder atomic.Pointer[func()]
	beforeSync      atomic.Pointer[func()] // before a SyncFolderItems call
	afterSync       atomic.Pointer[func()] // after a SyncFolderItems call returns
	syncErr         atomic.Pointer[error]  // the next SyncFolderItems fails with it
	beforeHierarchy atomic.Pointer[func()]
}

func take(p *atomic.Pointer[func()]) {
	if fn := p.Swap(nil); fn != nil {
		(*fn)()
	}
}

func (h *opsHook) GetFolder(ctx context.Context, req ews.GetFolderRequest) ([]ews.FolderResult, error) {
	take(&h.beforeGetFolder)
	return h.Remote.GetFolder(ctx, req)
}

func (h *opsHook) SyncFolderItems(ctx context.Context, req ews.SyncFolderItemsRequest) (*ews.SyncFolderItemsResult, error) {
	if err := h.syncErr.Swap(nil); err != nil {
		return nil, *err
	}
	take(&h.beforeSync)
	r, err := h.Remote.SyncFolderItems(ctx, req)
	take(&h.afterSync)
	return r, err
}

func (h *opsHook) SyncFolderHierarchy(ctx context.Context, req ews.SyncFolderHierarchyRequest) (*ews.SyncFolderHierarchyResult, error) {
	take(&h.beforeHierarchy)
	return h.Remote.SyncFolderHierarchy(ctx, req)
}

func arm(p *atomic.Pointer[func()], fn func()) { p.Store(&fn) }

// userMailFolder returns a seeded user mail folder holding read and unread
// messages: its id and one item of each.
func userMailFolder(t *testing.T, f *fixture) (folder string, read, unread string) {
	t.Helper()
	for _, sf := range f.box.Folders() {
		if sf.DistinguishedID != "" || !IsMailFolder(sf.FolderClass) {
			continue
		}
		items, err := f.box.Items(sf.ID)
		if err != nil {
			t.Fatal(err)
		}
		read, unread = "", ""
		for _, it := range items {
			if it.Message.IsRead && read == "" {
				read = it.ID
			}
			if !it.Message.IsRead && unread == "" {
				unread = it.ID
			}
		}
		if read != "" && unread != "" {
			return sf.ID, read, unread
		}
	}
	t.Fatal("no user mail folder with read and unread messages")
	return "", "", ""
}

func setRead(t *testing.T, f *fixture, id string, read bool) {
	t.Helper()
	if _, err := f.box.SetRead(id, read); err != nil {
		t.Error(err)
	}
}

// A batch's sync picks up a read flag that its props (read just before)
// do not count; the subscription is then lost and another message is
// marked unread. The server's UnreadCount is back to the stored one and
// no read flip moves PR_LOCAL_COMMIT_TIME_MAX, so only the mirror's own
// counts show that the folder moved.
func TestEngine_RecoveryComparesMirroredCounts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 4)
	folder, a, b := userMailFolder(t, f)
	items, _ := f.box.Items(folder)
	var c string // a second unread message, whose flip starts the batch
	for _, it := range items {
		if !it.Message.IsRead && it.ID != b {
			c = it.ID
			break
		}
	}
	if c == "" {
		t.Fatal("no second unread message")
	}
	hook := &opsHook{Remote: f.client()}
	events := make(chan Event, 1024)
	f.outOfCommitSecond() // the initial sync's pairs are certain
	startEngine(t, f, Mailbox{Mode: Pull, Client: hook}, testConfig(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	arm(&hook.beforeGetFolder, func() {
		f.srv.Restart() // no subscription sees what follows
		// After the props are read, before the sync: b read.
		arm(&hook.beforeSync, func() {
			setRead(t, f, b, true)
			// After the sync: a unread, which brings the server's
			// UnreadCount back to the props stored with the sync.
			arm(&hook.afterSync, func() { setRead(t, f, a, false) })
		})
	})
	setRead(t, f, c, true)
	ev := waitEvent(t, events, EventRecovery, 20*time.Second)
	if hook.afterSync.Load() != nil || hook.beforeSync.Load() != nil {
		t.Fatal("the batch's hooks did not run")
	}
	if n := ev.Recovery.Reasons[recovery.ReasonMirrorCount]; n != 1 {
		t.Fatalf("recovery reasons %v, want one %s", ev.Recovery.Reasons, recovery.ReasonMirrorCount)
	}
	f.converge(ctx, 5*time.Second)
}

// A batch fails with a lost-subscription code after its events arrived:
// the recovery resyncs the batch's folders even when their props and
// counts are where they were (two opposite read flips).
func TestEngine_RecoveryResyncsInterruptedBatch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 4)
	_, read, unread := userMailFolder(t, f)
	hook := &opsHook{Remote: f.client()}
	events := make(chan Event, 1024)
	f.outOfCommitSecond() // the initial sync's pairs are certain
	startEngine(t, f, Mailbox{Mode: Pull, Client: hook}, testConfig(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	lost := error(&ews.ResponseError{Op: "SyncFolderItems", Class: "Error", Code: ews.ErrInvalidSubscription})
	hook.syncErr.Store(&lost)
	setRead(t, f, read, false)
	setRead(t, f, unread, true)
	ev := waitEvent(t, events, EventRecovery, 20*time.Second)
	if n := ev.Recovery.Reasons[recovery.ReasonPending]; n != 1 {
		t.Fatalf("recovery reasons %v, want one %s", ev.Recovery.Reasons, recovery.ReasonPending)
	}
	if hook.syncErr.Load() != nil {
		t.Fatal("no SyncFolderItems call failed")
	}
	f.converge(ctx, 5*time.Second)
}

// A folder that leaves the synced subtree while GetFolder still finds it
// (moved out of msgfolderroot, as into Recoverable Items): the hierarchy
// sync removes it, and the recovery's resync must not put it back.
func TestEngine_RecoveryKeepsFolderTheHierarchyRemoved(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 4)
	folder, read, _ := userMailFolder(t, f)
	root, err := f.box.FolderID("root")
	if err != nil {
		t.Fatal(err)
	}
	hook := &opsHook{Remote: f.client()}
	events := make(chan Event, 1024)
	startEngine(t, f, Mailbox{Mode: Pull, Client: hook}, testConfig(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	moved := atomic.Bool{}
	// Just before the recovery syncs the hierarchy, the folder changes
	// (so that the comparison resyncs it) and leaves the subtree.
	arm(&hook.beforeHierarchy, func() {
		if _, err := f.box.Deliver(folder, testMessage(1)); err != nil {
			t.Error(err)
		}
		setRead(t, f, read, false)
		if _, err := f.box.MoveFolder(folder, root); err != nil {
			t.Error(err)
		}
		moved.Store(true)
	})
	f.srv.Restart()
	waitEvent(t, events, EventRecovery, 20*time.Second)
	if !moved.Load() {
		t.Fatal("the recovery synced no hierarchy")
	}
	if _, err := f.store.Folder(ctx, localstore.Mailbox(testAddr), localstore.FolderID(folder)); err == nil {
		t.Fatal("the folder moved out of msgfolderroot is mirrored again")
	}
	f.converge(ctx, 5*time.Second)
}

// pagedHierarchy makes a from-scratch SyncFolderHierarchy answer in two
// pages and fails the second one once: a rebuild interrupted half way.
type pagedHierarchy struct {
	Remote
	rejectStored atomic.Bool // the next call with a stored state gets ErrorInvalidSyncStateData
	split        atomic.Bool // the next from-scratch call is split
	rest         []ews.FolderChange
	restState    string
	failedSecond atomic.Bool
}

func (p *pagedHierarchy) SyncFolderHierarchy(ctx context.Context, req ews.SyncFolderHierarchyRequest) (*ews.SyncFolderHierarchyResult, error) {
	if req.SyncState != "" && p.rejectStored.CompareAndSwap(true, false) {
		return nil, &ews.ResponseError{Op: "SyncFolderHierarchy", Class: "Error", Code: ews.ErrInvalidSyncStateData}
	}
	if req.SyncState == "" && p.split.CompareAndSwap(true, false) {
		r, err := p.Remote.SyncFolderHierarchy(ctx, req)
		if err != nil {
			return r, err
		}
		half := len(r.Changes) / 2
		p.rest, p.restState = r.Changes[half:], r.SyncState
		return &ews.SyncFolderHierarchyResult{SyncState: "page-1-" + r.SyncState, Changes: r.Changes[:half]}, nil
	}
	if p.rest != nil && req.SyncState == "page-1-"+p.restState {
		if p.failedSecond.CompareAndSwap(false, true) {
			return nil, &ews.ResponseError{Op: "SyncFolderHierarchy", Class: "Error", Code: ews.ErrServerBusy}
		}
		return &ews.SyncFolderHierarchyResult{SyncState: p.restState, IncludesLastFolderInRange: true, Changes: p.rest}, nil
	}
	return p.Remote.SyncFolderHierarchy(ctx, req)
}

// A hierarchy rebuild (the stored state rejected) interrupted between its
// pages must still remove the folders the server no longer has: it keeps
// the rejected state until its last page, so the retry rebuilds again.
func TestEngine_InterruptedHierarchyRebuildStillPrunes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 6)
	folder, _, _ := userMailFolder(t, f)
	if err := syncOnceWith(t, f.store, f.client()); err != nil {
		t.Fatal(err)
	}
	// Deleted while the engine is down; the next start finds its stored
	// hierarchy state rejected and rebuilds the tree.
	if err := f.box.DeleteFolder(folder, ewstest.HardDelete); err != nil {
		t.Fatal(err)
	}
	paged := &pagedHierarchy{Remote: f.client()}
	paged.rejectStored.Store(true)
	paged.split.Store(true)
	e2, err := New(f.store, testConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	e2.AddMailbox(ctx, Mailbox{Address: testAddr, Client: paged})
	err = e2.SyncOnce(ctx) // may fail: its hierarchy's second page does
	if !paged.failedSecond.Load() {
		t.Fatalf("the rebuild's second page was never asked for (SyncOnce: %v)", err)
	}
	if err := e2.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	e2.Close(ctx)
	if _, err := f.store.Folder(ctx, localstore.Mailbox(testAddr), localstore.FolderID(folder)); err == nil {
		t.Fatal("a folder deleted on the server is still mirrored after the rebuild")
	}
	if d := f.diff(ctx); len(d) != 0 {
		t.Fatalf("mirror differs:\n%v", first(d, 10))
	}
}

// folderCalls hands every SyncFolderItems call on one folder to on, with
// its number (from 1): on may change the request, or fail the call.
type folderCalls struct {
	Remote
	folder string
	calls  atomic.Int32
	on     func(n int32, req *ews.SyncFolderItemsRequest) error
}

func (c *folderCalls) SyncFolderItems(ctx context.Context, req ews.SyncFolderItemsRequest) (*ews.SyncFolderItemsResult, error) {
	if req.Folder.ID == c.folder {
		if err := c.on(c.calls.Add(1), &req); err != nil {
			return nil, err
		}
	}
	return c.Remote.SyncFolderItems(ctx, req)
}

// errStateRejected is the server's answer to a SyncState it no longer
// accepts.
var errStateRejected = &ews.ResponseError{Op: "SyncFolderItems", Class: "Error", Code: ews.ErrInvalidSyncStateData}

// A folder rebuilt from scratch (its SyncState rejected) and interrupted
// after its first page has had its counters replaced by that page: it must
// count as incomplete, so that no comparison takes those counters for a
// finished sync's.
func TestEngine_InterruptedItemRebuildIsIncomplete(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 3000, 1)
	var big ewstest.FolderInfo
	for _, sf := range f.box.Folders() {
		if IsMailFolder(sf.FolderClass) && sf.TotalCount > big.TotalCount {
			big = sf
		}
	}
	if big.TotalCount <= ews.MaxSyncChanges {
		t.Fatalf("largest folder holds %d items, want more than one page", big.TotalCount)
	}
	if err := syncOnceWith(t, f.store, f.client()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // something to sync, so that the folder is visited
		if _, err := f.box.Deliver(big.ID, testMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The stored state rejected, the rebuild's first page let through, the
	// next call failed.
	cut := &folderCalls{Remote: f.client(), folder: big.ID, on: func(n int32, _ *ews.SyncFolderItemsRequest) error {
		switch n {
		case 1:
			return errStateRejected
		case 3:
			return errInjected
		}
		return nil
	}}
	if err := syncOnceWith(t, f.store, cut); !errors.Is(err, errInjected) {
		t.Fatalf("interrupted rebuild: %v", err)
	}
	lf, err := f.store.Folder(ctx, localstore.Mailbox(testAddr), localstore.FolderID(big.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !lf.LastSynced.IsZero() || lf.SyncState != "" {
		t.Fatalf("after an interrupted rebuild the folder looks complete (last synced %v, state %d bytes)", lf.LastSynced, len(lf.SyncState))
	}
	if err := syncOnceWith(t, f.store, f.client()); err != nil {
		t.Fatal(err)
	}
	if d := f.diff(ctx); len(d) != 0 {
		t.Fatalf("mirror differs:\n%v", first(d, 10))
	}
}

// A folder empty in the mirror gets its first page of two new messages,
// then its state is rejected: the rebuild must prune what that page
// brought in and the server deleted meanwhile, though the folder counted
// no items when its sync began.
func TestEngine_RebuildAfterPartialSyncOfEmptyFolderPrunes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 100, 3)
	inbox, _ := f.box.FolderID("inbox")
	empty, err := f.box.CreateFolder(inbox, "Empty", "IPF.Note")
	if err != nil {
		t.Fatal(err)
	}
	if err := syncOnceWith(t, f.store, f.client()); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := f.box.Deliver(empty.ID, ewstest.Message{Subject: fmt.Sprintf("m%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	mb := localstore.Mailbox(testAddr)
	var deleted string
	// The incremental sync paged one change at a time, its second page's
	// state rejected, a message of the first deleted before the rebuild.
	cut := &folderCalls{Remote: f.client(), folder: empty.ID, on: func(n int32, req *ews.SyncFolderItemsRequest) error {
		switch n {
		case 1:
			req.MaxChangesReturned = 1
		case 2:
			return errStateRejected
		case 3:
			for it, err := range f.store.Items(ctx, mb, localstore.FolderID(empty.ID), localstore.Query{}) {
				if err == nil && deleted == "" {
					deleted = string(it.ID)
				}
			}
			if deleted == "" {
				t.Error("the first page was not committed before the rebuild")
				return nil
			}
			if err := f.box.DeleteItem(deleted, ewstest.HardDelete); err != nil {
				t.Error(err)
			}
		}
		return nil
	}}
	if err := syncOnceWith(t, f.store, cut); err != nil {
		t.Fatal(err)
	}
	if n := cut.calls.Load(); n < 3 {
		t.Fatalf("%d SyncFolderItems calls on the folder, want the cut and a rebuild", n)
	}
	if _, err := f.store.Item(ctx, mb, localstore.ItemID(deleted)); err == nil {
		t.Fatal("the message deleted before the rebuild is still mirrored")
	}
	// The counters stored with the rebuild were read before the delete; a
	// pass with no changes on the server brings them level.
	if err := syncOnceWith(t, f.store, f.client()); err != nil {
		t.Fatal(err)
	}
	if d := f.diff(ctx); len(d) != 0 {
		t.Fatalf("mirror differs:\n%v", first(d, 10))
	}
}

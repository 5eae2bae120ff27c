package syncengine

import (
	"context"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
)

// TestEngine_SweepCatchesNetZeroReadFlips: read flips that leave a
// folder's unread count where it was, made while the engine was down, move
// none of the props recovery compares (read flags do not move
// PR_LOCAL_COMMIT_TIME_MAX on the fake, as on Exchange), so the restart's
// recovery leaves them unseen; the background sweep finds them within
// SweepInterval plus a pause per folder.
func TestEngine_SweepCatchesNetZeroReadFlips(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 4)
	initialSyncThenStop(t, f)
	read := netZeroInbox(t, f)

	f.reopen()
	clk := debouncetest.NewClock(time.Now())
	events2 := make(chan Event, 1024)
	cfg := testConfig(events2)
	cfg.Clock = clk
	cfg.SweepInterval = time.Hour
	cfg.SweepPause = time.Second
	cfg.RecheckPause = -1 // the recheck would find them first (recheck_test.go)
	startEngine(t, f, Mailbox{Mode: Pull}, cfg)
	stop := accelerate(clk, cfg.Quiet)
	ev := waitEvent(t, events2, EventRecovery, 20*time.Second)
	stop()
	if ev.Recovery.Resynced != 0 {
		t.Fatalf("recovery resynced %d folders (%v); the flips should be invisible to it", ev.Recovery.Resynced, ev.Recovery.Reasons)
	}
	mb := localstore.Mailbox(testAddr)
	if it, _ := f.store.Item(ctx, mb, localstore.ItemID(read)); !it.IsRead {
		t.Fatal("the mirror saw the flip without a sweep")
	}
	// The sweep: within SweepInterval plus one pause per folder.
	clk.Advance(time.Hour)
	stop = accelerate(clk, cfg.SweepPause/4)
	defer stop()
	f.converge(ctx, 20*time.Second)
}

// TestEngine_SweepCatchesMissedFolderChange: a new folder whose event the
// engine never sees (here: a pull subscription not polled before the
// sweep) is found by the sweep, which starts each cycle with a
// SyncFolderHierarchy (the per-folder syncs only visit known folders).
func TestEngine_SweepCatchesMissedFolderChange(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 100, 3)
	clk := debouncetest.NewClock(time.Now())
	events := make(chan Event, 1024)
	cfg := testConfig(events)
	cfg.Clock = clk
	cfg.PullInterval = 20 * time.Hour
	cfg.PullTimeout = 24 * time.Hour
	cfg.SweepInterval = time.Hour
	cfg.SweepPause = time.Second
	startEngine(t, f, Mailbox{Mode: Pull}, cfg)
	stop := accelerate(clk, cfg.Quiet)
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	stop()
	all := map[string]ewstest.FolderInfo{}
	for _, sf := range f.box.Folders() {
		all[sf.ID] = sf
	}
	var target string
	for _, sf := range f.box.Folders() {
		if sf.DistinguishedID == "" && IsMailFolder(sf.FolderClass) && f.underMsgFolderRoot(sf, all) {
			target = sf.ID
			break
		}
	}
	if target == "" {
		t.Fatal("the fixture has no user mail folder")
	}
	nf, err := f.box.CreateFolder(target, "Created while unseen", "IPF.Note")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.box.Deliver(nf.ID, testMessage(1)); err != nil {
		t.Fatal(err)
	}
	if d := f.diff(ctx); len(d) == 0 {
		t.Fatal("the mirror saw the new folder without the sweep")
	}
	polls := f.srv.RequestStats().Requests["GetEvents"]
	clk.Advance(time.Hour)
	stop = accelerate(clk, cfg.SweepPause/4)
	defer stop()
	f.converge(ctx, 20*time.Second)
	if n := f.srv.RequestStats().Requests["GetEvents"]; n != polls {
		t.Fatalf("%d GetEvents polls meanwhile: the subscription, not the sweep, saw the new folder", n-polls)
	}
}

// netZeroInbox flips two Inbox messages the opposite ways (one read
// message becomes unread, one unread becomes read), which leaves the
// folder's counts where they were, and returns the one now unread.
func netZeroInbox(t *testing.T, f *fixture) (read string) {
	t.Helper()
	inbox, _ := f.box.FolderID("inbox")
	items, _ := f.box.Items(inbox)
	var unread string
	for _, it := range items {
		switch {
		case it.Message.IsRead && read == "":
			read = it.ID
		case !it.Message.IsRead && unread == "":
			unread = it.ID
		}
	}
	if read == "" || unread == "" {
		t.Fatal("the seeded Inbox lacks a read and an unread message")
	}
	setRead(t, f, read, false)
	setRead(t, f, unread, true)
	return read
}

package syncengine

import (
	"context"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
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
	f.outOfCommitSecond()
	events := make(chan Event, 1024)
	eng := startEngine(t, f, Mailbox{}, testConfig(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Net zero: one read message becomes unread, one unread becomes read.
	inbox, _ := f.box.FolderID("inbox")
	items, _ := f.box.Items(inbox)
	var read, unread string
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
	f.box.SetRead(read, false)
	f.box.SetRead(unread, true)

	f.reopen()
	clk := debouncetest.NewClock(time.Now())
	events2 := make(chan Event, 1024)
	cfg := testConfig(events2)
	cfg.Clock = clk
	cfg.SweepInterval = time.Hour
	cfg.SweepPause = time.Second
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

package syncengine

import (
	"context"
	"strings"
	"testing"
	"time"
)

// netZeroOutage runs the engine in pull mode and, while a live batch is
// syncing another folder, loses the subscription and flips two messages of
// a user folder the opposite ways: its counts end where they were and no
// read flip moves PR_LOCAL_COMMIT_TIME_MAX, so the recovery's comparison
// finds the folder unchanged. It returns the engine, the recovery's event
// and the folder.
func netZeroOutage(t *testing.T, f *fixture, cfg Config, events chan Event) (*Engine, Event, string) {
	t.Helper()
	folder, read, unread := userMailFolder(t, f)
	inbox, err := f.box.FolderID("inbox")
	if err != nil {
		t.Fatal(err)
	}
	items, err := f.box.Items(inbox)
	if err != nil || len(items) == 0 {
		t.Fatalf("inbox items: %v (%d)", err, len(items))
	}
	hook := &opsHook{Remote: f.client()}
	f.outOfCommitSecond() // the initial sync's pairs are certain
	eng := startEngine(t, f, Mailbox{Mode: Pull, Client: hook}, cfg)
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	arm(&hook.beforeSync, func() {
		f.srv.Restart() // no subscription sees what follows
		setRead(t, f, read, false)
		setRead(t, f, unread, true)
	})
	setRead(t, f, items[0].ID, !items[0].Message.IsRead) // starts the batch
	ev := waitEvent(t, events, EventRecovery, 20*time.Second)
	if hook.beforeSync.Load() != nil {
		t.Fatal("the batch's hook did not run")
	}
	return eng, ev, folder
}

// The comparison cannot see the two flips; the recheck that follows the
// recovery finds them.
func TestEngine_RecheckFindsNetZeroReadFlips(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 4)
	events := make(chan Event, 1024)
	cfg := testConfig(events)
	cfg.RecheckPause = 5 * time.Millisecond
	eng, ev, _ := netZeroOutage(t, f, cfg, events)
	if ev.Recovery.Recheck == 0 {
		t.Fatalf("recovery %v left nothing to recheck", ev.Recovery)
	}
	f.converge(ctx, 10*time.Second)
	eng.Close(ctx) // the metrics are counted after the commit
	if m := eng.Metrics(); m.RecheckRepairs < 1 || m.Rechecked < 1 {
		t.Fatalf("metrics: %d folders rechecked, %d repaired; want the flips' folder repaired", m.Rechecked, m.RecheckRepairs)
	}
}

// Without the recheck the flips stay stale after the recovery: the
// scenario is one the comparison misses.
func TestEngine_RecoveryMissesNetZeroReadFlipsWithoutRecheck(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 4)
	events := make(chan Event, 1024)
	cfg := testConfig(events)
	cfg.RecheckPause = -1
	_, ev, folder := netZeroOutage(t, f, cfg, events)
	if ev.Recovery.Recheck != 0 {
		t.Fatalf("recovery %v has a recheck though it is disabled", ev.Recovery)
	}
	sf, err := f.box.Folder(folder)
	if err != nil {
		t.Fatal(err)
	}
	d := f.diff(ctx)
	if len(d) == 0 || !strings.Contains(strings.Join(d, "\n"), sf.DisplayName) {
		t.Fatalf("after the recovery the mirror differs by %q, want the flips in %s", d, sf.DisplayName)
	}
}

// Flips made while the engine was down: the start-up's recovery compares
// and resyncs nothing, and its recheck finds them (no sweep runs).
func TestEngine_RecheckAfterRestart(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 300, 4)
	initialSyncThenStop(t, f)
	netZeroInbox(t, f)
	f.reopen()
	events2 := make(chan Event, 1024)
	cfg := testConfig(events2)
	cfg.SweepInterval = -1
	cfg.RecheckPause = 5 * time.Millisecond
	eng := startEngine(t, f, Mailbox{Mode: Pull}, cfg)
	ev := waitEvent(t, events2, EventRecovery, 20*time.Second)
	if ev.Recovery.Resynced != 0 || ev.Recovery.Recheck == 0 {
		t.Fatalf("recovery %v: want nothing resynced and the folders left to the recheck", ev.Recovery)
	}
	f.converge(ctx, 10*time.Second)
	eng.Close(ctx) // the metrics are counted after the commit
	if m := eng.Metrics(); m.RecheckRepairs != 1 {
		t.Fatalf("%d folders repaired by the recheck, want 1 (Inbox)", m.RecheckRepairs)
	}
}

// The rechecks of all mailboxes share one pace.
func TestEngine_RecheckSlotsShareOnePace(t *testing.T) {
	e := &Engine{cfg: Config{RecheckPause: 100 * time.Millisecond}}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, c := range []struct{ now, want time.Time }{
		{t0, t0},
		{t0, t0.Add(100 * time.Millisecond)},
		{t0.Add(50 * time.Millisecond), t0.Add(200 * time.Millisecond)},
		{t0.Add(time.Second), t0.Add(time.Second)},
	} {
		if got := e.recheckSlot(c.now); !got.Equal(c.want) {
			t.Errorf("slot %d at %v: %v, want %v", i, c.now.Sub(t0), got.Sub(t0), c.want.Sub(t0))
		}
	}
}

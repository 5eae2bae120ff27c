package syncengine

import (
	"context"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
)

// Folders that are not item-synced still carry the server's
// PR_LOCAL_COMMIT_TIME_MAX and PR_DELETED_COUNT_TOTAL, from the hierarchy
// sync, so a mirror's folder tree can be compared with the server's; they
// never get a SyncState.
func TestEngine_UnselectedFoldersCarryServerProps(t *testing.T) {
	f := newFixture(t, 60, 2)
	ctx := context.Background()
	mb := localstore.Mailbox(testAddr)
	check := func(when string) int {
		t.Helper()
		n := 0
		for lf, err := range f.store.Folders(ctx, mb) {
			if err != nil {
				t.Fatal(err)
			}
			if IsMailFolder(lf.FolderClass) {
				continue
			}
			n++
			sf, err := f.box.Folder(string(lf.ID))
			if err != nil {
				t.Fatal(err)
			}
			if lf.SyncState != "" || !lf.LastSynced.IsZero() {
				t.Errorf("%s: unselected %q was item-synced", when, lf.DisplayName)
			}
			if !lf.LocalCommitTimeMax.Equal(sf.LocalCommitTimeMax) || lf.DeletedCountTotal != sf.DeletedCountTotal {
				t.Errorf("%s: %q props %v/%d, server %v/%d", when, lf.DisplayName,
					lf.LocalCommitTimeMax, lf.DeletedCountTotal, sf.LocalCommitTimeMax, sf.DeletedCountTotal)
			}
		}
		return n
	}
	syncOnce := func() {
		t.Helper()
		eng, err := New(f.store, testConfig(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close(ctx)
		if err := eng.AddMailbox(ctx, Mailbox{Address: testAddr, Client: f.client()}); err != nil {
			t.Fatal(err)
		}
		if err := eng.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	syncOnce()
	if n := check("after the initial sync"); n == 0 {
		t.Fatal("the fixture has no non-mail folders")
	}
	// A new item in the calendar changes the folder (its count and props);
	// the next hierarchy sync returns it and its props are recorded.
	cal, err := f.box.FolderID("calendar")
	if err != nil {
		t.Fatal(err)
	}
	f.outOfCommitSecond()
	if _, err := f.box.CreateItem(cal, ewstest.Message{Subject: "meeting"}); err != nil {
		t.Fatal(err)
	}
	syncOnce()
	check("after a change in the calendar")
	if d := f.diff(ctx); len(d) > 0 {
		t.Fatalf("mirror differs:\n%v", d)
	}

	// Live: an item event in the calendar records its new props with the
	// batch.
	events := make(chan Event, 1024)
	eng, err := New(f.store, testConfig(events))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	if err := eng.AddMailbox(ctx, Mailbox{Address: testAddr, Client: f.client()}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, EventRecovery, 20*time.Second) // the restart's comparison
	f.outOfCommitSecond()
	if _, err := f.box.CreateItem(cal, ewstest.Message{Subject: "another meeting"}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, EventBatch, 20*time.Second)
	check("after a live event in the calendar")
}

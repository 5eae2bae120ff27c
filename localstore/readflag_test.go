package localstore

import (
	"context"
	"testing"
)

func TestStore_ApplyReadFlagChangeKey(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	mb := Mailbox("a@example.com")
	f := FolderID("F1")
	it := testItem(f, 1)
	it.IsRead = false
	it.ChangeKey = "ck1"
	mustApply(t, s, Batch{Mailbox: mb, Folders: []FolderInfo{{ID: f, DisplayName: "Inbox"}}, Items: []Item{it}})
	w := s.Watch(ctx, 16)
	defer w.Close()

	// The flag and the change key move together.
	mustApply(t, s, Batch{Mailbox: mb, ReadFlags: []ReadFlag{{ID: it.ID, IsRead: true, ChangeKey: "ck2"}}})
	got, err := s.Item(ctx, mb, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.IsRead || got.ChangeKey != "ck2" || got.Subject != it.Subject || !got.Received.Equal(it.Received) {
		t.Fatalf("after read flag: %+v", got)
	}
	fo, _ := s.Folder(ctx, mb, f)
	if fo.LocalUnread != 0 {
		t.Fatalf("LocalUnread %d, want 0", fo.LocalUnread)
	}
	ev, err := w.Next(ctx)
	if err != nil || len(ev.Changes) != 1 || ev.Changes[0].Kind != ItemReadChanged {
		t.Fatalf("event %+v, %v", ev, err)
	}

	// Only the change key: an update, counters untouched.
	mustApply(t, s, Batch{Mailbox: mb, ReadFlags: []ReadFlag{{ID: it.ID, IsRead: true, ChangeKey: "ck3"}}})
	got, _ = s.Item(ctx, mb, it.ID)
	if !got.IsRead || got.ChangeKey != "ck3" {
		t.Fatalf("after change key: %+v", got)
	}
	ev, err = w.Next(ctx)
	if err != nil || len(ev.Changes) != 1 || ev.Changes[0].Kind != ItemUpdated {
		t.Fatalf("event %+v, %v", ev, err)
	}

	// The same again changes nothing; without a change key the old rule holds.
	mustApply(t, s, Batch{Mailbox: mb, ReadFlags: []ReadFlag{{ID: it.ID, IsRead: true, ChangeKey: "ck3"}}})
	mustApply(t, s, Batch{Mailbox: mb, ReadFlags: []ReadFlag{{ID: it.ID, IsRead: false}}})
	got, _ = s.Item(ctx, mb, it.ID)
	if got.IsRead || got.ChangeKey != "ck3" {
		t.Fatalf("after flag without change key: %+v", got)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

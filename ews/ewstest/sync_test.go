package ewstest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// syncAll drains SyncItems from state and returns the changes and the
// final state.
func syncAll(t *testing.T, m *Mailbox, folder, state string, page int) ([]SyncChange, string) {
	t.Helper()
	var all []SyncChange
	for range 10000 {
		res, err := m.SyncItems(folder, state, page)
		chs, next, last := res.Changes, res.State, res.IncludesLast
		if err != nil {
			t.Fatal(err)
		}
		if len(chs) > page {
			t.Fatalf("page of %d changes exceeds MaxChangesReturned %d", len(chs), page)
		}
		all = append(all, chs...)
		state = next
		if last {
			return all, state
		}
	}
	t.Fatal("sync never reached the last change")
	return nil, ""
}

func kinds(chs []SyncChange) map[string][]string {
	out := map[string][]string{}
	for _, c := range chs {
		out[c.Kind] = append(out[c.Kind], c.ItemID)
	}
	return out
}

func TestSyncItems_NetChangeRules(t *testing.T) {
	srv, clk := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	keep := mustDeliver(t, m, "inbox", testMessage("keep"))
	modified := mustDeliver(t, m, "inbox", testMessage("modified"))
	readOnly := mustDeliver(t, m, "inbox", testMessage("read only"))
	deleted := mustDeliver(t, m, "inbox", testMessage("deleted"))
	initial, state := syncAll(t, m, "inbox", "", 512)
	if len(initial) != 4 || len(kinds(initial)["Create"]) != 4 {
		t.Fatalf("initial sync = %v", initial)
	}
	if initial[0].ItemID != deleted.ID || initial[3].ItemID != keep.ID {
		t.Errorf("initial sync is not newest first: %v", initial)
	}

	clk.Advance(time.Second)
	// Created then deleted since the state: nothing.
	ghost := mustDeliver(t, m, "inbox", testMessage("ghost"))
	if err := m.DeleteItem(ghost.ID, HardDelete); err != nil {
		t.Fatal(err)
	}
	// Modified ten times: one Update.
	for i := range 10 {
		s := fmt.Sprintf("modified %d", i)
		if _, err := m.UpdateItem(modified.ID, ItemUpdate{Subject: &s}); err != nil {
			t.Fatal(err)
		}
	}
	// Only the read flag: ReadFlagChange.
	if _, err := m.SetRead(readOnly.ID, true); err != nil {
		t.Fatal(err)
	}
	// Created and modified since the state: one Create.
	fresh := mustDeliver(t, m, "inbox", testMessage("fresh"))
	if _, err := m.SetRead(fresh.ID, true); err != nil {
		t.Fatal(err)
	}
	cats := []string{"Blue"}
	if _, err := m.UpdateItem(fresh.ID, ItemUpdate{Categories: &cats}); err != nil {
		t.Fatal(err)
	}
	// Deleted since the state: Delete.
	if err := m.DeleteItem(deleted.ID, SoftDelete); err != nil {
		t.Fatal(err)
	}
	chs, state := syncAll(t, m, "inbox", state, 512)
	got := kinds(chs)
	want := map[string][]string{
		"Create":         {fresh.ID},
		"Update":         {modified.ID},
		"ReadFlagChange": {readOnly.ID},
		"Delete":         {deleted.ID},
	}
	if len(chs) != 4 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("net changes = %v, want %v", got, want)
	}
	for _, c := range chs {
		if c.Kind == "ReadFlagChange" && !c.IsRead {
			t.Error("ReadFlagChange does not carry IsRead=true")
		}
	}
	if again, _ := syncAll(t, m, "inbox", state, 512); len(again) != 0 {
		t.Fatalf("second sync = %v, want nothing", again)
	}
	// A read flag flipped and flipped back is still reported (the state
	// cannot know it is net zero), as a ReadFlagChange only.
	if _, err := m.SetRead(keep.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetRead(keep.ID, false); err != nil {
		t.Fatal(err)
	}
	chs, _ = syncAll(t, m, "inbox", state, 512)
	if len(chs) != 1 || chs[0].Kind != "ReadFlagChange" || chs[0].IsRead {
		t.Fatalf("flip-flop read flag = %v", chs)
	}
}

func TestSyncItems_MoveAndCopy(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	a := mustDeliver(t, m, "inbox", testMessage("a"))
	b := mustDeliver(t, m, "inbox", testMessage("b"))
	_, inState := syncAll(t, m, "inbox", "", 10)
	_, arState := syncAll(t, m, "archive", "", 10)
	moved, err := m.MoveItem(a.ID, "archive")
	if err != nil {
		t.Fatal(err)
	}
	if moved.ID == a.ID {
		t.Error("a moved item keeps its ItemId; Exchange gives it a new one")
	}
	if _, err := m.Item(a.ID); !errors.Is(err, ErrItemNotFound) {
		t.Errorf("old id after move: %v", err)
	}
	cp, err := m.CopyItem(b.ID, "archive")
	if err != nil {
		t.Fatal(err)
	}
	in, _ := syncAll(t, m, "inbox", inState, 10)
	if fmt.Sprint(kinds(in)) != fmt.Sprint(map[string][]string{"Delete": {a.ID}}) {
		t.Errorf("inbox after move = %v", in)
	}
	ar, _ := syncAll(t, m, "archive", arState, 10)
	if fmt.Sprint(kinds(ar)) != fmt.Sprint(map[string][]string{"Create": {cp.ID, moved.ID}}) {
		t.Errorf("archive after move+copy = %v", ar)
	}
}

// TestSyncItems_PagingAcrossChanges changes the folder between every page
// of a multi-page sync and checks that the client's mirror, built only from
// the reported changes, ends equal to the server, with no item created
// twice and no change lost.
func TestSyncItems_PagingAcrossChanges(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			srv, clk := newTestServer(t, nil)
			m := srv.Mailbox("alice@example.com")
			r := rand.New(rand.NewPCG(seed, 7))
			for i := range 60 {
				mustDeliver(t, m, "inbox", testMessage(fmt.Sprintf("seed %d", i)))
			}
			type entry struct{ read bool }
			mirror := map[string]entry{}
			state := ""
			mutate := func() {
				items, _ := m.Items("inbox")
				switch op := r.IntN(5); {
				case op == 0 || len(items) == 0:
					mustDeliver(t, m, "inbox", testMessage(fmt.Sprintf("new %d", r.IntN(1000))))
				case op == 1:
					it := items[r.IntN(len(items))]
					if _, err := m.SetRead(it.ID, !it.Message.IsRead); err != nil {
						t.Fatal(err)
					}
				case op == 2:
					it := items[r.IntN(len(items))]
					s := fmt.Sprintf("edit %d", r.IntN(1000))
					if _, err := m.UpdateItem(it.ID, ItemUpdate{Subject: &s}); err != nil {
						t.Fatal(err)
					}
				case op == 3:
					if err := m.DeleteItem(items[r.IntN(len(items))].ID, HardDelete); err != nil {
						t.Fatal(err)
					}
				default:
					if _, err := m.MoveItem(items[r.IntN(len(items))].ID, "archive"); err != nil {
						t.Fatal(err)
					}
				}
			}
			for round := range 4 {
				for range 200 {
					res, err := m.SyncItems("inbox", state, 1+r.IntN(9))
					chs, next, last := res.Changes, res.State, res.IncludesLast
					if err != nil {
						t.Fatal(err)
					}
					state = next
					for _, c := range chs {
						switch c.Kind {
						case "Create":
							if _, dup := mirror[c.ItemID]; dup {
								t.Fatalf("round %d: Create for an item the client has: %s", round, c.ItemID)
							}
							mirror[c.ItemID] = entry{c.IsRead}
						case "Update", "ReadFlagChange":
							if _, ok := mirror[c.ItemID]; !ok {
								t.Fatalf("round %d: %s for an item the client never got", round, c.Kind)
							}
							mirror[c.ItemID] = entry{c.IsRead}
						case "Delete":
							if _, ok := mirror[c.ItemID]; !ok {
								t.Fatalf("round %d: Delete for an item the client never got", round)
							}
							delete(mirror, c.ItemID)
						}
					}
					if last {
						break
					}
					for range r.IntN(3) {
						mutate()
					}
					clk.Advance(time.Second)
				}
				items, _ := m.Items("inbox")
				// Drain: after the last page the mirror must match.
				chs, st := syncAll(t, m, "inbox", state, 512)
				state = st
				for _, c := range chs {
					switch c.Kind {
					case "Delete":
						delete(mirror, c.ItemID)
					default:
						mirror[c.ItemID] = entry{c.IsRead}
					}
				}
				if len(mirror) != len(items) {
					t.Fatalf("round %d: mirror has %d items, server %d", round, len(mirror), len(items))
				}
				for _, it := range items {
					e, ok := mirror[it.ID]
					if !ok || e.read != it.Message.IsRead {
						t.Fatalf("round %d: item %s missing or stale in the mirror", round, it.ID)
					}
				}
			}
		})
	}
}

func TestSyncItems_InvalidStates(t *testing.T) {
	srv, clk := newTestServer(t, func(o *Options) { o.TombstoneRetention = 24 * time.Hour })
	m := srv.Mailbox("alice@example.com")
	bob := srv.Mailbox("bob@example.com")
	mustDeliver(t, m, "inbox", testMessage("x"))
	_, inbox := syncAll(t, m, "inbox", "", 5)
	_, bobInbox := syncAll(t, bob, "inbox", "", 5)
	// A hierarchy state, from the SOAP layer's point of view, is of
	// another kind.
	m.mu.Lock()
	hst, err := m.folderState("", "")
	if err != nil {
		t.Fatal(err)
	}
	m.syncFoldersLocked(m.root, hst)
	m.mu.Unlock()
	bad := []string{
		"garbage!!", "", "AAAA", inbox[:len(inbox)-4] + "AAA=", hst.encode(), bobInbox,
	}
	for i, s := range bad {
		if s == "" {
			continue
		}
		if _, err := m.SyncItems("inbox", s, 5); !errors.Is(err, ErrInvalidSyncState) {
			t.Errorf("bad state %d: err = %v", i, err)
		}
	}
	if _, err := m.SyncItems("sentitems", inbox, 5); !errors.Is(err, ErrInvalidSyncState) {
		t.Errorf("state of another folder: err = %v", err)
	}
	// Within retention the state works; past it, it is invalid.
	clk.Advance(23 * time.Hour)
	if _, err := m.SyncItems("inbox", inbox, 5); err != nil {
		t.Fatalf("state within retention: %v", err)
	}
	clk.Advance(2 * time.Hour)
	if _, err := m.SyncItems("inbox", inbox, 5); !errors.Is(err, ErrInvalidSyncState) {
		t.Errorf("state older than retention: err = %v", err)
	}
}

// A sync state names the server instance that issued it: the same mailbox
// (same address and seed) on another Server, as after a restart of
// "syncdemo serve", whose change numbers start over, rejects it rather than
// read it against change numbers it never saw.
func TestSyncItems_StateOfAnotherInstance(t *testing.T) {
	a, _ := newTestServer(t, nil)
	b, _ := newTestServer(t, nil)
	ma, mb := a.Mailbox("alice@example.com"), b.Mailbox("alice@example.com")
	mustDeliver(t, ma, "inbox", testMessage("x"))
	mustDeliver(t, mb, "inbox", testMessage("x"))
	inboxA, _ := ma.FolderID("inbox")
	inboxB, _ := mb.FolderID("inbox")
	if inboxA != inboxB {
		t.Fatalf("the same mailbox on two servers has inbox ids %q and %q", inboxA, inboxB)
	}
	_, st := syncAll(t, ma, "inbox", "", 5)
	for i := range 20 { // b's change numbers pass a's
		mustDeliver(t, mb, "inbox", testMessage(fmt.Sprint("y", i)))
	}
	if _, err := mb.SyncItems("inbox", st, 5); !errors.Is(err, ErrInvalidSyncState) {
		t.Fatalf("a state of another server instance: err = %v", err)
	}
	if _, err := ma.SyncItems("inbox", st, 5); err != nil {
		t.Fatalf("the state on its own server: %v", err)
	}
}

func FuzzDecodeSyncState(f *testing.F) {
	st := &syncState{kind: syncKindItems, mbKey: 42, folderID: "F"}
	st.cover(1, 10, 12, 1000)
	st.cover(11, 20, 25, 1001)
	f.Add(st.encode())
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decodeSyncState(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidSyncState) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if again, err := decodeSyncState(got.encode()); err != nil || !slices.Equal(again.segs, got.segs) {
			t.Fatalf("re-encoding a valid state changed it: %v", err)
		}
	})
}

func TestSyncState_Cover(t *testing.T) {
	st := &syncState{}
	st.cover(50, 100, 100, 1)
	st.cover(20, 49, 120, 2)
	st.cover(1, 19, 130, 3)
	st.cover(30, 60, 140, 4) // overlaps two segments
	want := []segment{{61, 100, 100, 1}, {30, 60, 140, 4}, {20, 29, 120, 2}, {1, 19, 130, 3}}
	if !slices.Equal(st.segs, want) {
		t.Fatalf("segments = %v, want %v", st.segs, want)
	}
	i := 0
	for _, k := range []struct {
		key  uint64
		cn   uint64
		know bool
	}{{150, 0, false}, {70, 100, true}, {45, 140, true}, {25, 120, true}, {5, 130, true}} {
		cn, ok := st.baseline(k.key, &i)
		if cn != k.cn || ok != k.know {
			t.Errorf("baseline(%d) = %d,%v want %d,%v", k.key, cn, ok, k.cn, k.know)
		}
	}
}

// TestSyncState_CoverCapKeepsGaps fills a state past maxSegments with one
// gap below the new pages: merging must never bridge the gap.
func TestSyncState_CoverCapKeepsGaps(t *testing.T) {
	st := &syncState{}
	st.cover(1, 100, 100, 1) // the previous pass
	// A new pass from key 10_000 down, one page per 10 keys, each served
	// at a different change number; it stops above the old top (100), so
	// keys 101..(cursor-1) are a gap of unknown keys.
	cn := uint64(10_000)
	for hi := uint64(10_000); hi > 5_000; hi -= 10 {
		cn++
		st.cover(hi-9, hi, cn, int64(cn))
	}
	if len(st.segs) > maxSegments {
		t.Fatalf("%d segments, cap %d", len(st.segs), maxSegments)
	}
	i := 0
	if _, known := st.baseline(3_000, &i); known {
		t.Fatal("a key in the gap became known: its new items would be reported as Updates")
	}
	i = 0
	if c, known := st.baseline(50, &i); !known || c != 100 {
		t.Fatalf("old range baseline = %d,%v", c, known)
	}
	if dec, err := decodeSyncState((&syncState{kind: syncKindItems, segs: st.segs}).encode()); err != nil || len(dec.segs) != len(st.segs) {
		t.Fatalf("capped state does not round-trip: %v", err)
	}
}

// TestSyncItems_ManyPagesWithChanges runs a pass of more pages than a
// state keeps segments for, changing the folder between pages.
func TestSyncItems_ManyPagesWithChanges(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	msgs := make([]Message, 700)
	for i := range msgs {
		msgs[i] = testMessage(fmt.Sprint("m", i))
	}
	if _, err := m.DeliverBatch("inbox", msgs); err != nil {
		t.Fatal(err)
	}
	_, state := syncAll(t, m, "inbox", "", 512) // the previous pass
	mirror := map[string]bool{}
	for _, it := range mustItems(t, m) {
		mirror[it.ID] = it.Message.IsRead
	}
	apply := func(chs []SyncChange) {
		for _, c := range chs {
			_, have := mirror[c.ItemID]
			switch {
			case c.Kind == "Create" && have:
				t.Fatalf("Create for a known item")
			case (c.Kind == "Update" || c.Kind == "ReadFlagChange" || c.Kind == "Delete") && !have:
				t.Fatalf("%s for an unknown item", c.Kind)
			}
			if c.Kind == "Delete" {
				delete(mirror, c.ItemID)
			} else {
				mirror[c.ItemID] = c.IsRead
			}
		}
	}
	// New mail, then a long pass of 2-change pages with more mail and
	// read flips in between.
	for i := range 600 {
		mustDeliver(t, m, "inbox", testMessage(fmt.Sprint("n", i)))
	}
	done := false
	for page := 0; page < 5000 && !done; page++ {
		res, err := m.SyncItems("inbox", state, 2)
		chs, next, last := res.Changes, res.State, res.IncludesLast
		if err != nil {
			t.Fatal(err)
		}
		apply(chs)
		state = next
		if done = last; done {
			break
		}
		// A change between every page gives every page its own change
		// number, so the state needs more segments than it keeps.
		mustDeliver(t, m, "inbox", testMessage(fmt.Sprint("p", page)))
		if page%25 == 0 {
			items := mustItems(t, m)
			if _, err := m.SetRead(items[len(items)/2].ID, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !done {
		t.Fatal("sync never caught up with one change per page")
	}
	chs, _ := syncAll(t, m, "inbox", state, 512)
	apply(chs)
	items := mustItems(t, m)
	if len(mirror) != len(items) {
		t.Fatalf("mirror %d items, server %d", len(mirror), len(items))
	}
	for _, it := range items {
		if r, ok := mirror[it.ID]; !ok || r != it.Message.IsRead {
			t.Fatalf("item missing or stale in the mirror")
		}
	}
}

func mustItems(t *testing.T, m *Mailbox) []ItemInfo {
	t.Helper()
	items, err := m.Items("inbox")
	if err != nil {
		t.Fatal(err)
	}
	return items
}

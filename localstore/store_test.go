package localstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var ctx0 = context.Background()

func inboxBatch(mb Mailbox, items ...Item) Batch {
	return Batch{Mailbox: mb, Folders: []FolderInfo{{ID: "inbox", DisplayName: "Inbox"}}, Items: items}
}

func TestStore_GroupCommit(t *testing.T) {
	s := MustOpenStore(t)
	const n = 8
	// Mailboxes 0..n-1 get their folders first, one commit each.
	for i := range n {
		mustApply(t, s, inboxBatch(Mailbox(fmt.Sprintf("m%d@x", i))))
	}
	before := s.WriterStats()

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.testHookFill = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	batches := make([]Batch, n)
	for i := range n {
		mb := Mailbox(fmt.Sprintf("m%d@x", i))
		batches[i] = Batch{Mailbox: mb, Items: []Item{testItem("inbox", i)}}
	}
	// Batches 2 and 5 fail inside the transaction: an unknown folder, and
	// MIME for an unknown item.
	batches[2].Items[0].FolderID = "nope"
	batches[5].MIME = []MIME{{ID: "ghost", Data: []byte("x")}}
	wantErr := map[int]error{2: ErrUnknownFolder, 5: ErrUnknownItem}

	errs := make([]error, n)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = s.Apply(ctx0, batches[0]) })
	<-entered // the writer holds batch 0 and waits
	for i := 1; i < n; i++ {
		wg.Go(func() { errs[i] = s.Apply(ctx0, batches[i]) })
	}
	for len(s.reqs) < n-1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()

	for i, err := range errs {
		if want := wantErr[i]; want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("batch %d: %v, want %v", i, err, want)
		}
	}
	st := s.WriterStats()
	if got := st.Commits - before.Commits; got != 1 {
		t.Errorf("%d commits for one group, want 1 (stats %+v)", got, st)
	}
	if got := st.Batches - before.Batches; got != n-2 {
		t.Errorf("%d batches committed, want %d", got, n-2)
	}
	if got := st.Retries - before.Retries; got != 2 {
		t.Errorf("%d retries, want 2", got)
	}
	for i, b := range batches {
		_, err := s.Item(ctx0, b.Mailbox, b.Items[0].ID)
		if _, failed := wantErr[i]; failed != errors.Is(err, ErrNotFound) {
			t.Errorf("batch %d: item lookup %v (failed batch: %v)", i, err, failed)
		}
	}
}

func TestStore_ApplyErrors(t *testing.T) {
	s := MustOpenStore(t)
	mb := Mailbox("a@x")
	mustApply(t, s, inboxBatch(mb, testItem("inbox", 1)))
	long := string(bytes.Repeat([]byte("x"), MaxIDLen+1))
	tests := []struct {
		name string
		b    Batch
		want error
		part string
	}{
		{"empty mailbox", Batch{}, ErrInvalidBatch, "Mailbox"},
		{"empty item id", Batch{Mailbox: mb, Items: []Item{{FolderID: "inbox"}}}, ErrInvalidBatch, "Items"},
		{"long folder id", Batch{Mailbox: mb, Folders: []FolderInfo{{ID: FolderID(long)}}}, ErrInvalidBatch, "Folders"},
		{"invalid utf8", Batch{Mailbox: mb, ItemDeletes: []ItemID{"\xff"}}, ErrInvalidBatch, "ItemDeletes"},
		{"negative size", Batch{Mailbox: mb, Items: []Item{{ID: "i", FolderID: "inbox", Size: -1}}}, ErrInvalidBatch, "Items"},
		{"bad importance", Batch{Mailbox: mb, Items: []Item{{ID: "i", FolderID: "inbox", Importance: 7}}}, ErrInvalidBatch, "Items"},
		{"bad kind", Batch{Mailbox: mb, Subscription: &Subscription{Kind: 9}}, ErrInvalidBatch, "Subscription"},
		{"self parent", Batch{Mailbox: mb, FolderMoves: []FolderMove{{ID: "inbox", NewParent: "inbox"}}}, ErrFolderCycle, "FolderMoves"},
		{"unknown folder", Batch{Mailbox: mb, Items: []Item{testItem("outbox", 2)}}, ErrUnknownFolder, "Items"},
		{"checkpoint unknown", Batch{Mailbox: mb, Checkpoints: []Checkpoint{{ID: "outbox"}}}, ErrUnknownFolder, "Checkpoints"},
		{"move unknown", Batch{Mailbox: mb, FolderMoves: []FolderMove{{ID: "outbox"}}}, ErrUnknownFolder, "FolderMoves"},
		{"mime unknown", Batch{Mailbox: mb, MIME: []MIME{{ID: "ghost"}}}, ErrUnknownItem, "MIME"},
		{"cycle", Batch{Mailbox: mb, Folders: []FolderInfo{{ID: "sub", ParentID: "inbox"}}, FolderMoves: []FolderMove{{ID: "inbox", NewParent: "sub"}}}, ErrFolderCycle, "FolderMoves"},
		{"unknown mailbox, unknown folder", Batch{Mailbox: "new@x", Items: []Item{testItem("inbox", 3)}}, ErrUnknownFolder, "Items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every failing batch also carries a valid change that must not
			// be written.
			tt.b.ItemDeletes = append([]ItemID{testItem("", 1).ID}, tt.b.ItemDeletes...)
			if tt.part == "ItemDeletes" {
				tt.b.ItemDeletes = tt.b.ItemDeletes[1:]
			}
			err := s.Apply(ctx0, tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
			var be *BatchError
			if !errors.As(err, &be) || be.Part != tt.part {
				t.Fatalf("Apply = %#v, want a *BatchError for %s", err, tt.part)
			}
			if _, err := s.Item(ctx0, mb, testItem("", 1).ID); err != nil {
				t.Fatalf("the failed batch deleted an item: %v", err)
			}
			if _, err := s.MailboxState(ctx0, "new@x"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the failed batch created a mailbox: %v", err)
			}
		})
	}
}

func TestStore_ApplySeq(t *testing.T) {
	s := MustOpenStore(t)
	mb := Mailbox("a@x")
	b := inboxBatch(mb, testItem("inbox", 1))
	b.Seq = 5
	mustApply(t, s, b)
	// An older batch is skipped, even though it would change things.
	old := Batch{Mailbox: mb, Seq: 4, ItemDeletes: []ItemID{testItem("", 1).ID}}
	mustApply(t, s, old)
	if _, err := s.Item(ctx0, mb, testItem("", 1).ID); err != nil {
		t.Fatalf("stale batch was applied: %v", err)
	}
	mustApply(t, s, b) // the same batch again: skipped
	st, _ := s.MailboxState(ctx0, mb)
	if st.Seq != 5 {
		t.Fatalf("seq %d", st.Seq)
	}
	old.Seq = 6
	mustApply(t, s, old)
	if _, err := s.Item(ctx0, mb, testItem("", 1).ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("newer batch not applied: %v", err)
	}
}

func TestStore_FolderDeleteRemovesTree(t *testing.T) {
	s := MustOpenStore(t)
	mb := Mailbox("a@x")
	b := Batch{Mailbox: mb, Folders: []FolderInfo{
		{ID: "root", DisplayName: "Top"}, {ID: "a", ParentID: "root"}, {ID: "b", ParentID: "a"}, {ID: "c", ParentID: "root"},
	}}
	for i := range 30 {
		b.Items = append(b.Items, testItem([]FolderID{"a", "b", "c"}[i%3], i))
	}
	b.MIME = []MIME{{ID: b.Items[0].ID, Data: []byte("mime a")}, {ID: b.Items[1].ID, Data: []byte("mime b")}}
	mustApply(t, s, b)
	w := s.Watch(ctx0, 0)
	defer w.Close()
	mustApply(t, s, Batch{Mailbox: mb, FolderDeletes: []FolderID{"a", "a"}})
	ev, err := w.Next(ctx0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{{Kind: FolderDeleted, Mailbox: mb, Folder: "a"}, {Kind: FolderDeleted, Mailbox: mb, Folder: "b"}}
	eq(t, "changes", ev.Changes, want)
	st, err := s.Stats(ctx0, mb)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "stats", st, Stats{Folders: 2, Items: 10, Unread: 10}) // folder c: items 2, 5, …, 29, none read
	var ids []FolderID
	for _, f := range collect(t, s.Folders(ctx0, mb)) {
		ids = append(ids, f.ID)
	}
	eq(t, "tree", ids, []FolderID{"root", "c"})
}

func TestStore_Watch(t *testing.T) {
	s := MustOpenStore(t)
	mb := Mailbox("a@x")
	w := s.Watch(ctx0, 0)
	mustApply(t, s, inboxBatch(mb, testItem("inbox", 1)))
	if err := s.Apply(ctx0, Batch{Mailbox: mb, Items: []Item{testItem("nope", 2)}}); !errors.Is(err, ErrUnknownFolder) {
		t.Fatal(err)
	}
	mustApply(t, s, Batch{Mailbox: mb, ReadFlags: []ReadFlag{{ID: testItem("", 1).ID, IsRead: true}}, Items: []Item{testItem("inbox", 1)}})

	ev, err := w.Next(ctx0)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "first commit", ev, Event{Commit: 1, Changes: []Change{
		{Kind: MailboxCreated, Mailbox: mb},
		{Kind: FolderCreated, Mailbox: mb, Folder: "inbox"},
		{Kind: ItemCreated, Mailbox: mb, Folder: "inbox", Item: testItem("", 1).ID},
	}})
	// The failed batch fired nothing: the next event is the next commit,
	// and what it reports is already visible to readers.
	ev, err = w.Next(ctx0)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "second commit", ev, Event{Commit: 2, Changes: []Change{
		{Kind: ItemUpdated, Mailbox: mb, Folder: "inbox", Item: testItem("", 1).ID},
		{Kind: ItemReadChanged, Mailbox: mb, Folder: "inbox", Item: testItem("", 1).ID},
	}})
	if it, err := s.Item(ctx0, mb, testItem("", 1).ID); err != nil || !it.IsRead {
		t.Fatalf("change announced but not visible: %+v %v", it, err)
	}
	// Nothing more: Next waits until ctx ends.
	short, cancel := context.WithCancel(ctx0)
	cancel()
	if _, err := w.Next(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(ctx0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
}

func TestStore_WatchSlowSubscriber(t *testing.T) {
	s := MustOpenStore(t)
	mb := Mailbox("a@x")
	w := s.Watch(ctx0, 2)
	defer w.Close()
	mustApply(t, s, inboxBatch(mb))
	for i := range 4 { // commits 2..5; the watcher reads nothing
		mustApply(t, s, Batch{Mailbox: mb, Items: []Item{testItem("inbox", i)}})
	}
	// Commit 3 found the buffer (1, 2) full: 1, 2 and 3 were dropped.
	if got := w.Dropped(); got != 3 {
		t.Fatalf("dropped %d, want 3", got)
	}
	var got []Event
	for range 3 {
		ev, err := w.Next(ctx0)
		if err != nil {
			t.Fatal(err)
		}
		ev.Changes = nil
		got = append(got, ev)
	}
	eq(t, "events", got, []Event{{Resync: true}, {Commit: 4}, {Commit: 5}})
}

func TestStore_WatchChangeCap(t *testing.T) {
	s := MustOpenStore(t)
	mb := Mailbox("a@x")
	mustApply(t, s, inboxBatch(mb))
	w := s.Watch(ctx0, 0)
	defer w.Close()
	w.maxChg = 10 // MaxWatchChanges, scaled down
	small := Batch{Mailbox: mb, Items: []Item{testItem("inbox", 0)}}
	mustApply(t, s, small) // commit 2: 1 change, buffered
	big := Batch{Mailbox: mb, ItemDeletes: []ItemID{testItem("", 0).ID}}
	for i := range w.maxChg {
		big.Items = append(big.Items, Item{ID: ItemID(fmt.Sprint("b", i)), FolderID: "inbox"})
	}
	mustApply(t, s, big)   // commit 3: too many changes with what is buffered
	mustApply(t, s, small) // commit 4
	if got := w.Dropped(); got != 2 {
		t.Fatalf("dropped %d, want 2", got)
	}
	var got []Event
	for range 2 {
		ev, err := w.Next(ctx0)
		if err != nil {
			t.Fatal(err)
		}
		ev.Changes = nil
		got = append(got, ev)
	}
	eq(t, "events", got, []Event{{Resync: true}, {Commit: 4}})
}

func TestStore_WatchEnds(t *testing.T) {
	s := MustOpenStore(t)
	ctx, cancel := context.WithCancel(ctx0)
	w1 := s.Watch(ctx, 0)
	w2 := s.Watch(ctx0, 0)
	mustApply(t, s, inboxBatch("a@x"))
	cancel()
	// A cancelled watcher still hands out what it buffered, then ends.
	if ev, err := w1.Next(ctx0); err != nil || ev.Commit != 1 {
		t.Fatalf("w1 first: %+v %v", ev, err)
	}
	if _, err := w1.Next(ctx0); !errors.Is(err, ErrClosed) {
		t.Fatalf("w1 after cancel: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ev, err := w2.Next(ctx0); err != nil || ev.Commit != 1 {
		t.Fatalf("w2 first: %+v %v", ev, err)
	}
	if _, err := w2.Next(ctx0); !errors.Is(err, ErrClosed) {
		t.Fatalf("w2 after store Close: %v", err)
	}
	if w3 := s.Watch(ctx0, 0); w3 != nil {
		if _, err := w3.Next(ctx0); !errors.Is(err, ErrClosed) {
			t.Fatalf("watch after Close: %v", err)
		}
	}
}

func TestOpen_Locked(t *testing.T) {
	s := MustOpenStore(t)
	_, err := Open(s.Path(), &Options{LockTimeout: 10 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, want 0600", fi.Mode().Perm())
	}
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_SchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, inboxBatch("a@x", testItem("inbox", 1)))
	s.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error { return writeSchema(tx, SchemaVersion+1) })
	h := fileHash(t, path)
	for _, ro := range []bool{false, true} {
		_, err = Open(path, &Options{ReadOnly: ro})
		var se *SchemaError
		if !errors.Is(err, ErrSchemaTooNew) || !errors.As(err, &se) || se.Found != SchemaVersion+1 || se.Supported != SchemaVersion {
			t.Fatalf("Open(readOnly=%v) = %v, want ErrSchemaTooNew", ro, err)
		}
	}
	if fileHash(t, path) != h {
		t.Fatal("a failed Open changed the file")
	}
}

func TestOpen_NotStore(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	rawUpdate(t, foreign, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
	if _, err := Open(foreign, nil); !errors.Is(err, ErrNotStore) {
		t.Fatalf("foreign bbolt file: %v", err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(garbage, nil); !errors.Is(err, ErrNotStore) {
		t.Fatalf("garbage file: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "x.db"), &Options{LockTimeout: -1}); err == nil {
		t.Fatal("negative option accepted")
	}
}

// writeLegacyFile writes a store file of schema 1 or 2 the way those
// versions did, from the given mailbox content.
func writeLegacyFile(t *testing.T, path string, schema uint32, mb Mailbox, st stateRecord, folders []Folder, items []Item, mime map[ItemID][]byte) {
	t.Helper()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := writeSchema(tx, schema); err != nil {
			return err
		}
		root, err := tx.CreateBucket(bucketMailboxes)
		if err != nil {
			return err
		}
		m, err := root.CreateBucket([]byte(mb))
		if err != nil {
			return err
		}
		names := [][]byte{bucketFolders, bucketItems, bucketIndex, bucketMIME}
		if schema == 2 {
			names = append(names, bucketUnread)
		}
		for _, n := range names {
			if _, err := m.CreateBucket(n); err != nil {
				return err
			}
		}
		if err := m.Put(keyState, appendStateV1(nil, &st)); err != nil {
			return err
		}
		format := byte(folderFormat1)
		if schema == 2 {
			format = folderFormat2
		}
		for _, f := range folders {
			if err := m.Bucket(bucketFolders).Put([]byte(f.ID), appendFolderLegacy(nil, &f, format)); err != nil {
				return err
			}
		}
		for _, it := range items {
			if err := m.Bucket(bucketItems).Put([]byte(it.ID), appendItemV1(nil, &it)); err != nil {
				return err
			}
			key := appendIndexKeyV1(nil, it.FolderID, it.Received, it.ID)
			if err := m.Bucket(bucketIndex).Put(key, nil); err != nil {
				return err
			}
			if schema == 2 && !it.IsRead {
				if err := m.Bucket(bucketUnread).Put(key, nil); err != nil {
					return err
				}
			}
		}
		for id, data := range mime {
			if err := m.Bucket(bucketMIME).Put([]byte(id), data); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestOpen_Migrate opens files of schemas 1 and 2 and compares every query
// with a store that got the same content through Apply.
func TestOpen_Migrate(t *testing.T) {
	mb := Mailbox("a@x")
	g := newGen(9)
	g.nItems = 3000
	b := Batch{Mailbox: mb, Seq: 7, Folders: []FolderInfo{{ID: "inbox", DisplayName: "Inbox"}, {ID: "arch", ParentID: "inbox", DisplayName: "Archive"}}}
	for i := range 2500 { // more than one migration chunk
		it := g.item(nil)
		it.FolderID = []FolderID{"inbox", "arch"}[i%2]
		b.Items = append(b.Items, it)
	}
	b.MIME = []MIME{{ID: b.Items[0].ID, Data: []byte("mime 0")}, {ID: b.Items[1].ID, Data: []byte("mime one")}}
	b.Checkpoints = []Checkpoint{{ID: "arch", FolderSync: FolderSync{SyncState: "ss", DeletedCountTotal: 4, LastSynced: baseTime}}}
	h := "hier"
	b.Hierarchy = &HierarchySync{SyncState: h}
	b.Subscription = &Subscription{Kind: Push, ID: "sub", Watermark: "wm"}
	ref := MustOpenStore(t)
	mustApply(t, ref, b)
	md := newModel()
	if err := md.apply(b); err != nil {
		t.Fatal(err)
	}
	m := md.mbs[mb]

	for _, schema := range []uint32{1, 2} {
		t.Run(fmt.Sprint("schema", schema), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			var folders []Folder
			for id := range m.folders {
				folders = append(folders, m.folder(id))
			}
			var items []Item
			for _, it := range m.items {
				items = append(items, it)
			}
			st := stateRecord{MailboxState: m.state, MIMEItems: 2, MIMEBytes: int64(len("mime 0") + len("mime one"))}
			writeLegacyFile(t, path, schema, mb, st, folders, items, m.mime)
			if _, err := Open(path, &Options{ReadOnly: true}); !errors.Is(err, ErrNeedsMigration) {
				t.Fatalf("read-only Open of schema %d: %v", schema, err)
			}
			s, err := Open(path, &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Check(ctx0); err != nil {
				t.Fatal(err)
			}
			compare(t, s, md, rand.New(rand.NewPCG(1, 2)), g.words)
			_ = s.db.View(func(tx *bolt.Tx) error {
				if v, _ := readSchema(tx); v != SchemaVersion {
					t.Errorf("schema %d after migration", v)
				}
				return nil
			})
			// The migrated store takes new batches like any other.
			mustApply(t, s, Batch{Mailbox: mb, Folders: []FolderInfo{{ID: "new"}}, Items: []Item{testItem("new", 1)}})
			if err := s.Check(ctx0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestStore_Backup(t *testing.T) {
	s := MustOpenStore(t)
	mb := Mailbox("a@x")
	mustApply(t, s, inboxBatch(mb))
	done := make(chan error)
	go func() { // writes go on during the backup
		for i := range 50 {
			if err := s.Apply(ctx0, Batch{Mailbox: mb, Items: []Item{testItem("inbox", i)}}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var buf bytes.Buffer
	n, err := s.Backup(ctx0, &buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup = %d, %v (buffer %d)", n, err, buf.Len())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Check(ctx0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Folder(ctx0, mb, "inbox"); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(ctx0, inboxBatch(mb)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Apply on read-only store: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx0)
	cancel()
	if _, err := s.Backup(cctx, &buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Backup: %v", err)
	}
}

func TestStore_Close(t *testing.T) {
	s := MustOpenStore(t)
	mustApply(t, s, inboxBatch("a@x", testItem("inbox", 1)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Apply(ctx0, inboxBatch("a@x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
	if _, err := s.Item(ctx0, "a@x", testItem("", 1).ID); !errors.Is(err, ErrClosed) {
		t.Fatalf("Item after Close: %v", err)
	}
	for _, err := range s.Items(ctx0, "a@x", "inbox", Query{}) {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Items after Close: %v", err)
		}
	}
	if _, err := s.Backup(ctx0, &bytes.Buffer{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Backup after Close: %v", err)
	}
}

func TestStore_ApplyCancelled(t *testing.T) {
	s := MustOpenStore(t)
	ctx, cancel := context.WithCancel(ctx0)
	cancel()
	if err := s.Apply(ctx, inboxBatch("a@x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply = %v", err)
	}
	if _, err := s.MailboxState(ctx0, "a@x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancelled batch was written: %v", err)
	}
}

func TestStore_RemoveMailbox(t *testing.T) {
	s := MustOpenStore(t)
	mustApply(t, s, inboxBatch("a@x", testItem("inbox", 1)))
	mustApply(t, s, inboxBatch("b@x", testItem("inbox", 1)))
	if err := s.RemoveMailbox(ctx0, "a@x"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveMailbox(ctx0, "a@x"); err != nil {
		t.Fatalf("removing again: %v", err)
	}
	mbs, err := s.Mailboxes(ctx0)
	if err != nil || len(mbs) != 1 || mbs[0].Mailbox != "b@x" {
		t.Fatalf("Mailboxes = %+v, %v", mbs, err)
	}
}

// TestStore_Corrupt damages records behind the store's back: reads and
// writes that meet them fail with ErrCorrupt, and nothing is half-written.
func TestStore_Corrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mb := Mailbox("a@x")
	mustApply(t, s, inboxBatch(mb, testItem("inbox", 1), testItem("inbox", 2)))
	s.Close()
	bad := testItem("", 1).ID
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMailboxes).Bucket([]byte(mb)).Bucket(bucketItems).Put([]byte(bad), []byte{itemFormat, 0, 0xff})
	})
	s, err = Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ce *CorruptError
	if _, err := s.Item(ctx0, mb, bad); !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Item = %v", err)
	}
	for _, err := range s.Items(ctx0, mb, "inbox", Query{}) {
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Items = %v", err)
		}
	}
	err = s.Apply(ctx0, Batch{Mailbox: mb, Items: []Item{testItem("inbox", 3)}, ItemDeletes: []ItemID{bad}})
	var be *BatchError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &be) || be.Part != "ItemDeletes" {
		t.Fatalf("Apply over a corrupt item = %v", err)
	}
	if _, err := s.Item(ctx0, mb, testItem("", 3).ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed batch half-written: %v", err)
	}
	if err := s.Check(ctx0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Check = %v", err)
	}
	// The writer survives: other mailboxes still commit.
	mustApply(t, s, inboxBatch("b@x", testItem("inbox", 1)))
}

func TestStore_CheckFindsDamage(t *testing.T) {
	mb := Mailbox("a@x")
	it1, it2 := testItem("inbox", 3), testItem("inbox", 2) // it1 is read, it2 unread
	bucket := func(tx *bolt.Tx, name []byte) *bolt.Bucket {
		return tx.Bucket(bucketMailboxes).Bucket([]byte(mb)).Bucket(name)
	}
	damages := map[string]func(tx *bolt.Tx) error{
		"missing index entry": func(tx *bolt.Tx) error {
			return bucket(tx, bucketIndex).Delete(appendIndexKey(nil, 1, it2.Received, it2.ID)) // inbox is folder 1
		},
		"stray index entry": func(tx *bolt.Tx) error {
			return bucket(tx, bucketIndex).Put(appendIndexKey(nil, 1, it2.Received, "ghost"), nil)
		},
		"read item in unread index": func(tx *bolt.Tx) error {
			return bucket(tx, bucketUnread).Put(appendIndexKey(nil, 1, it1.Received, it1.ID), nil)
		},
		"missing unread entry": func(tx *bolt.Tx) error {
			return bucket(tx, bucketUnread).Delete(appendIndexKey(nil, 1, it2.Received, it2.ID))
		},
		"MIME without item": func(tx *bolt.Tx) error {
			return bucket(tx, bucketMIME).Put([]byte("ghost"), []byte("x"))
		},
		"folder number without folder": func(tx *bolt.Tx) error {
			return bucket(tx, bucketFolderNums).Put(appendFolderKey(nil, 9), []byte("ghost"))
		},
		"counter off": func(tx *bolt.Tx) error {
			b := bucket(tx, bucketFolders)
			f, num, _ := decodeFolder("inbox", b.Get([]byte("inbox")))
			f.LocalItems++
			return b.Put([]byte("inbox"), appendFolder(nil, &f, num))
		},
		"undecodable item": func(tx *bolt.Tx) error {
			return bucket(tx, bucketItems).Put([]byte(it1.ID), []byte{itemFormat, 0})
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := Open(path, &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			mustApply(t, s, inboxBatch(mb, it1, it2))
			if err := s.Check(ctx0); err != nil {
				t.Fatal(err)
			}
			s.Close()
			rawUpdate(t, path, damage)
			s, err = Open(path, &Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var ce *CorruptError
			if err := s.Check(ctx0); !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
				t.Fatalf("Check = %v", err)
			}
		})
	}
}

func TestStore_MIMEReader(t *testing.T) {
	s := MustOpenStore(t)
	mb := Mailbox("a@x")
	b := inboxBatch(mb, testItem("inbox", 1))
	b.MIME = []MIME{{ID: testItem("", 1).ID, Data: []byte("From: a\r\n\r\nhello")}}
	mustApply(t, s, b)
	r, err := s.MIME(ctx0, mb, testItem("", 1).ID)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 4)
	if n, err := r.Read(p); n != 4 || err != nil || string(p) != "From" {
		t.Fatalf("Read = %d %v %q", n, err, p)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(p); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := s.MIME(ctx0, mb, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("MIME(nope) = %v", err)
	}
	if _, err := s.MIME(ctx0, "z@x", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("MIME(unknown mailbox) = %v", err)
	}
	for _, err := range s.Search(ctx0, mb, SearchQuery{}) {
		if !errors.Is(err, ErrInvalidQuery) {
			t.Fatalf("empty search: %v", err)
		}
	}
}

func TestOpen_ReopenWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, inboxBatch("a@x", testItem("inbox", 1)))
	s.Close()
	h := fileHash(t, path)
	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Item(ctx0, "a@x", testItem("", 1).ID); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if fileHash(t, path) != h {
		t.Fatal("opening and reading changed the file")
	}
}

func TestStore_Notify(t *testing.T) {
	s := MustOpenStore(t)
	ch := s.Notify()
	if err := s.Apply(ctx0, Batch{Mailbox: "a@x", Items: []Item{testItem("nope", 1)}}); err == nil {
		t.Fatal("bad batch applied")
	}
	select {
	case <-ch:
		t.Fatal("Notify fired for a failed batch")
	default:
	}
	mustApply(t, s, inboxBatch("a@x"))
	select {
	case <-ch:
	default:
		t.Fatal("Notify did not fire after a commit")
	}
	ch = s.Notify()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-ch // closed by Close
}

package ews_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"golang.org/x/sync/errgroup"
)

// End-to-end proofs of the sync operations against the fake server.

// TestE2E_SyncFolderHierarchy syncs the whole hierarchy, changes it
// (create, rename, nested create, move in and out of the sync root,
// delete) and checks that an incremental sync brings the mirror back to
// the mailbox's state.
func TestE2E_SyncFolderHierarchy(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthNone, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	seeded, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 200, Folders: 25, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	c := e2eClient(t, srv, nil, nil)
	root := ews.DistinguishedFolder("msgfolderroot")
	rootID, _ := mb.FolderID("msgfolderroot")

	var m hierarchyMirror
	m.sync(ctx, t, c, &root)
	if want := realHierarchy(t, mb, rootID); !maps.Equal(m.folders, want) {
		t.Fatalf("initial hierarchy: mirror %d folders, mailbox %d", len(m.folders), len(want))
	}
	if len(m.folders) < 25 {
		t.Fatalf("only %d folders mirrored", len(m.folders))
	}

	clk.Advance(time.Minute)
	p, err := mb.CreateFolder("inbox", "Projects", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.CreateFolder(p.ID, "Alpha", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.RenameFolder(seeded.Folders[0], "Renamed"); err != nil {
		t.Fatal(err)
	}
	if err := mb.DeleteFolder(seeded.Folders[len(seeded.Folders)-1], ewstest.HardDelete); err != nil {
		t.Fatal(err)
	}
	// Out of the sync root (to the hidden root) and back in elsewhere.
	mailRoot, _ := mb.FolderID("root")
	if _, err := mb.MoveFolder(seeded.Folders[1], mailRoot); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.MoveFolder(seeded.Folders[2], p.ID); err != nil {
		t.Fatal(err)
	}
	m.sync(ctx, t, c, &root)
	if want := realHierarchy(t, mb, rootID); !maps.Equal(m.folders, want) {
		t.Fatalf("after changes: mirror %v\nmailbox %v", m.folders, want)
	}
	// Nothing changed since: an empty page with the same meaning.
	before := maps.Clone(m.folders)
	m.sync(ctx, t, c, &root)
	if !maps.Equal(before, m.folders) {
		t.Fatal("an idle sync changed the mirror")
	}
}

// TestE2E_SyncFolderItemsUnderActivity mirrors every mail folder of a
// seeded mailbox with small pages while the activity generator changes
// the mailbox between pages, then catches up once the activity stops and
// checks that the mirror equals the mailbox item for item (ids, change
// keys, subjects, read flags).
func TestE2E_SyncFolderItemsUnderActivity(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthNone, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	seeded, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 3000, Folders: 8, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	act, err := srv.NewActivity(ewstest.ActivityOptions{Seed: 5, Mix: map[ewstest.ActivityKind]int{
		ewstest.ActNewMail: 30, ewstest.ActMarkRead: 20, ewstest.ActMarkUnread: 10,
		ewstest.ActFlag: 10, ewstest.ActMove: 15, ewstest.ActDelete: 15,
	}})
	if err != nil {
		t.Fatal(err)
	}
	c := e2eClient(t, srv, nil, nil)

	var folders []string
	for _, f := range []string{"inbox", "sentitems", "deleteditems", "junkemail"} {
		id, err := mb.FolderID(f)
		if err != nil {
			t.Fatal(err)
		}
		folders = append(folders, id)
	}
	folders = append(folders, seeded.Folders...)
	mirrors := make([]*itemMirror, len(folders))
	for i, f := range folders {
		mirrors[i] = &itemMirror{folder: f}
	}

	const pageSize = 37
	for _, m := range mirrors {
		for {
			last := m.page(ctx, t, c, pageSize)
			// Between pages: a few changes anywhere in the mailbox,
			// one second apart on the server's clock.
			for range 4 {
				clk.Advance(time.Second)
				if _, err := act.Step(); err != nil {
					t.Fatalf("activity: %v", err)
				}
			}
			if last {
				break
			}
		}
	}
	if act.Total() < 100 {
		t.Fatalf("only %d activity changes", act.Total())
	}
	// Catch up: the activity kept changing folders already synced.
	for _, m := range mirrors {
		for !m.page(ctx, t, c, pageSize) {
		}
	}
	total := 0
	for _, m := range mirrors {
		real := realItems(t, mb, m.folder)
		if d := diffItems(m.items, real); d != "" {
			t.Errorf("folder %s after %d pages differs:%s", m.folder, m.pages, d)
		}
		total += len(real)
	}
	if total < 3000 {
		t.Fatalf("mirrored %d items", total)
	}
	t.Logf("%d items in %d folders, %d activity changes %v", total, len(folders), act.Total(), act.Counts())
}

// TestE2E_FolderRecoveryProperties checks, through GetFolder with
// FolderSyncShape, that PR_LOCAL_COMMIT_TIME_MAX (0x670A) and
// PR_DELETED_COUNT_TOTAL (0x670B) move as Exchange's store moves them:
// create, modify and move-in set the commit time to the change's time
// at one-second granularity; delete and move-out grow the deleted count;
// a read-flag-only change leaves the commit time alone unless the server
// is told otherwise.
func TestE2E_FolderRecoveryProperties(t *testing.T) {
	for _, readMoves := range []bool{false, true} {
		t.Run(fmt.Sprintf("ReadFlagMovesCommitTime=%v", readMoves), func(t *testing.T) {
			srv, clk := e2eServer(t, ewstest.AuthNone, func(o *ewstest.Options) { o.ReadFlagMovesCommitTime = readMoves })
			ctx := context.Background()
			mb := srv.Mailbox(e2eAddress)
			c := e2eClient(t, srv, nil, nil)
			a, err := mb.CreateFolder("inbox", "A", "")
			if err != nil {
				t.Fatal(err)
			}
			b, err := mb.CreateFolder("inbox", "B", "")
			if err != nil {
				t.Fatal(err)
			}
			check := func(step, folder string, wantTime time.Time, wantDeleted int64) {
				t.Helper()
				gotTime, gotDeleted := folderProps(ctx, t, c, folder)
				if !gotTime.Equal(wantTime) || gotDeleted != wantDeleted {
					t.Errorf("%s: 0x670A %v 0x670B %d, want %v %d", step, gotTime, gotDeleted, wantTime, wantDeleted)
				}
				fi, _ := mb.Folder(folder)
				if !fi.LocalCommitTimeMax.Equal(gotTime) || fi.DeletedCountTotal != gotDeleted {
					t.Errorf("%s: client read %v/%d, mailbox holds %v/%d", step, gotTime, gotDeleted, fi.LocalCommitTimeMax, fi.DeletedCountTotal)
				}
			}
			sec := func() time.Time { return clk.Now().Truncate(time.Second) }

			clk.Advance(1500 * time.Millisecond) // 09:00:01.5
			it, err := mb.CreateItem(a.ID, e2eMsg("one"))
			if err != nil {
				t.Fatal(err)
			}
			created := sec()
			check("create", a.ID, created, 0)

			clk.Advance(300 * time.Millisecond) // same second
			if _, err := mb.Deliver(a.ID, e2eMsg("two")); err != nil {
				t.Fatal(err)
			}
			check("create in the same second", a.ID, created, 0)

			clk.Advance(time.Second)
			subj := "one, edited"
			if it, err = mb.UpdateItem(it.ID, ewstest.ItemUpdate{Subject: &subj}); err != nil {
				t.Fatal(err)
			}
			modified := sec()
			if !modified.After(created) {
				t.Fatalf("clock did not cross a second: %v", modified)
			}
			check("modify", a.ID, modified, 0)

			clk.Advance(time.Second)
			if it, err = mb.SetRead(it.ID, true); err != nil {
				t.Fatal(err)
			}
			afterRead := modified
			if readMoves {
				afterRead = sec()
			}
			check("read flag", a.ID, afterRead, 0)

			x, err := mb.CreateItem(b.ID, e2eMsg("in B"))
			if err != nil {
				t.Fatal(err)
			}
			bCreated := sec()
			check("create in B", b.ID, bCreated, 0)
			clk.Advance(time.Second)
			if _, err := mb.MoveItem(x.ID, a.ID); err != nil {
				t.Fatal(err)
			}
			movedIn := sec()
			check("move in", a.ID, movedIn, 0)
			_, bDeleted := folderProps(ctx, t, c, b.ID)
			if bDeleted != 1 {
				t.Errorf("move out: 0x670B of the source = %d, want 1", bDeleted)
			}

			clk.Advance(time.Second)
			if err := mb.DeleteItem(it.ID, ewstest.HardDelete); err != nil {
				t.Fatal(err)
			}
			if _, del := folderProps(ctx, t, c, a.ID); del != 1 {
				t.Errorf("hard delete: 0x670B = %d, want 1", del)
			}
			its, _ := mb.Items(a.ID)
			if err := mb.DeleteItem(its[0].ID, ewstest.MoveToDeletedItems); err != nil {
				t.Fatal(err)
			}
			if _, del := folderProps(ctx, t, c, a.ID); del != 2 {
				t.Errorf("move to Deleted Items: 0x670B = %d, want 2", del)
			}
		})
	}
}

// TestE2E_GetItemMIME gets a batch of messages with their MIME content,
// one of them deleted: the deleted one fails alone with ErrorItemNotFound
// and every other MIME stream parses with net/mail and matches the item.
func TestE2E_GetItemMIME(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthNTLM, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthNTLM, false), nil)
	var ids []ews.ItemID
	for i := range 6 {
		clk.Advance(time.Minute)
		it, err := mb.Deliver("inbox", e2eMsg(fmt.Sprintf("batch message %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ews.ItemID{ID: it.ID, ChangeKey: it.ChangeKey})
	}
	const gone = 3
	if err := mb.DeleteItem(ids[gone].ID, ewstest.HardDelete); err != nil {
		t.Fatal(err)
	}
	res, err := c.GetItem(ctx, ews.GetItemRequest{Items: ids, Shape: ews.MessageMetadataShape(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(ids) {
		t.Fatalf("%d results for %d ids", len(res), len(ids))
	}
	for i, r := range res {
		if i == gone {
			var re *ews.ResponseError
			if !errors.Is(r.Err, ews.ErrItemNotFound) || !errors.As(r.Err, &re) || re.Op != "GetItem" {
				t.Errorf("deleted item: %v", r.Err)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("item %d: %v", i, r.Err)
			continue
		}
		want := fmt.Sprintf("batch message %d", i)
		if r.Item.ID.ID != ids[i].ID || r.Item.Subject != want {
			t.Errorf("item %d: id %s subject %q", i, r.Item.ID.ID, r.Item.Subject)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(r.Item.MimeContent))
		if err != nil {
			t.Errorf("item %d: MIME does not parse: %v", i, err)
			continue
		}
		if got := msg.Header.Get("Subject"); got != want {
			t.Errorf("item %d: MIME Subject %q", i, got)
		}
		if from, err := msg.Header.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != "bob@example.org" {
			t.Errorf("item %d: MIME From %v %v", i, from, err)
		}
		if mid := msg.Header.Get("Message-Id"); mid == "" || mid != r.Item.InternetMessageID {
			t.Errorf("item %d: Message-ID %q, InternetMessageId %q", i, mid, r.Item.InternetMessageID)
		}
		body, _ := io.ReadAll(msg.Body)
		if !bytes.Contains(body, []byte("Body of "+want)) {
			t.Errorf("item %d: body %q", i, body)
		}
		if r.Item.Size != int64(len(r.Item.MimeContent)) {
			t.Errorf("item %d: Size %d, MIME %d bytes", i, r.Item.Size, len(r.Item.MimeContent))
		}
	}
}

// TestE2E_SyncStateExpires checks that a sync state older than the
// tombstone retention is refused with ErrorInvalidSyncStateData, which
// the client classifies as needing a resync, and that starting over from
// an empty state rebuilds the mirror.
func TestE2E_SyncStateExpires(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthBasic, func(o *ewstest.Options) { o.TombstoneRetention = time.Hour })
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	if _, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 400, Folders: 2, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthBasic, false), nil)
	inbox, _ := mb.FolderID("inbox")
	m := &itemMirror{folder: inbox}
	if err := syncAll(ctx, t, c, m, 100); err != nil {
		t.Fatal(err)
	}
	its, _ := mb.Items(inbox)
	if err := mb.DeleteItem(its[0].ID, ewstest.HardDelete); err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Minute)
	young := *m
	young.items = maps.Clone(m.items)
	if err := syncAll(ctx, t, c, &young, 100); err != nil {
		t.Fatalf("state within retention: %v", err)
	}
	if d := diffItems(young.items, realItems(t, mb, inbox)); d != "" {
		t.Fatalf("incremental sync within retention:%s", d)
	}

	clk.Advance(2 * time.Hour)
	err := syncAll(ctx, t, c, m, 100)
	var re *ews.ResponseError
	if !errors.Is(err, ews.ErrInvalidSyncStateData) || !errors.As(err, &re) || !re.NeedsResync() || re.IsTransient() {
		t.Fatalf("expired state: %v", err)
	}
	fresh := &itemMirror{folder: inbox}
	if err := syncAll(ctx, t, c, fresh, 100); err != nil {
		t.Fatalf("resync from scratch: %v", err)
	}
	if d := diffItems(fresh.items, realItems(t, mb, inbox)); d != "" {
		t.Fatalf("resync:%s", d)
	}

	// The injected fault reads the same.
	srv.Faults().InvalidSyncState(1)
	if err := syncAll(ctx, t, c, fresh, 100); !errors.Is(err, ews.ErrInvalidSyncStateData) {
		t.Fatalf("injected: %v", err)
	}
}

// BenchmarkInitialSync measures the client mirroring a seeded mailbox
// (20,000 messages in 20 user folders plus the distinguished ones) from
// the fake over loopback: SyncFolderItems from an empty state, 512
// changes a page, message metadata shape. It reports items/s for the
// whole pipeline (server encode, HTTP, client decode, map insert), one
// folder at a time and with four folders in flight.
func BenchmarkInitialSync(b *testing.B) {
	for _, bc := range []struct {
		name     string
		mode     string
		parallel int
	}{
		{"auth=none/folders=1", ewstest.AuthNone, 1},
		{"auth=ntlm/folders=1", ewstest.AuthNTLM, 1},
		{"auth=none/folders=4", ewstest.AuthNone, 4},
		{"auth=ntlm/folders=4", ewstest.AuthNTLM, 4},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var wire atomic.Int64
			count := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					next.ServeHTTP(countingWriter{w, &wire}, r)
				})
			}
			srv, _ := e2eServer(b, bc.mode, func(o *ewstest.Options) { o.Middleware = append(o.Middleware, count) })
			seeded, err := ewstest.Seed(srv.Mailbox(e2eAddress), ewstest.SeedOptions{Messages: 20_000, Folders: 20, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			folders := slices.Sorted(maps.Keys(seeded.Counts))
			c := e2eClient(b, srv, e2eAuth(bc.mode, false), nil)
			ctx := context.Background()
			var total int
			b.ReportAllocs()
			wire.Store(0)
			for b.Loop() {
				var n atomic.Int64
				g, gctx := errgroup.WithContext(ctx)
				g.SetLimit(bc.parallel)
				for _, f := range folders {
					g.Go(func() error {
						k, err := mirrorFolderItems(gctx, c, f)
						n.Add(int64(k))
						return err
					})
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
				if int(n.Load()) != seeded.Messages {
					b.Fatalf("mirrored %d of %d messages", n.Load(), seeded.Messages)
				}
				total += int(n.Load())
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "items/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/item")
			b.ReportMetric(float64(wire.Load())/float64(total), "wireB/item")
		})
	}
}

// TestE2E_SeededMIME gets seeded messages (threads, non-ASCII names and
// subjects, attachments) with their MIME content in batches of ten,
// compressed by the server as IIS does, and checks each stream against
// the item's own properties: it parses, its decoded Subject is the
// item's Subject, its Message-ID the InternetMessageId, and Size its
// length.
func TestE2E_SeededMIME(t *testing.T) {
	var gzipped atomic.Int32
	sawGzip := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if w.Header().Get("Content-Encoding") == "gzip" {
				gzipped.Add(1)
			}
		})
	}
	srv, _ := e2eServer(t, ewstest.AuthNTLM, func(o *ewstest.Options) {
		o.Compression = true
		o.Middleware = append(o.Middleware, sawGzip)
	})
	defer func() {
		if gzipped.Load() == 0 {
			t.Error("no response was compressed: the client does not send Accept-Encoding: gzip")
		}
	}()
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	seeded, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 300, Folders: 3, Seed: 21})
	if err != nil {
		t.Fatal(err)
	}
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthNTLM, false), nil)
	var ids []ews.ItemID
	for f := range seeded.Counts {
		its, err := mb.Items(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range its {
			ids = append(ids, ews.ItemID{ID: it.ID, ChangeKey: it.ChangeKey})
		}
	}
	if len(ids) != 300 {
		t.Fatalf("%d seeded items", len(ids))
	}
	var dec mime.WordDecoder
	attachments := 0
	for batch := range slices.Chunk(ids, 10) {
		res, err := c.GetItem(ctx, ews.GetItemRequest{Items: batch, Shape: ews.MessageMetadataShape(true)})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("item %s: %v", batch[i].ID, r.Err)
			}
			want, _ := mb.Item(batch[i].ID)
			it := r.Item
			if it.Subject != want.Message.Subject || it.IsRead != want.Message.IsRead || it.ID.ChangeKey != want.ChangeKey {
				t.Errorf("item %q: decoded %q read=%v ck=%s", want.Message.Subject, it.Subject, it.IsRead, it.ID.ChangeKey)
			}
			if it.HasAttachments != (len(want.Message.Attachments) > 0) {
				t.Errorf("item %q: HasAttachments %v with %d attachments", it.Subject, it.HasAttachments, len(want.Message.Attachments))
			}
			if it.HasAttachments {
				attachments++
			}
			msg, err := mail.ReadMessage(bytes.NewReader(it.MimeContent))
			if err != nil {
				t.Errorf("item %q: MIME: %v", it.Subject, err)
				continue
			}
			subj, err := dec.DecodeHeader(msg.Header.Get("Subject"))
			if err != nil || subj != it.Subject {
				t.Errorf("MIME Subject %q (%v), item %q", subj, err, it.Subject)
			}
			if mid := msg.Header.Get("Message-Id"); mid != it.InternetMessageID {
				t.Errorf("item %q: Message-ID %q, InternetMessageId %q", it.Subject, mid, it.InternetMessageID)
			}
			if it.Size != int64(len(it.MimeContent)) || it.Size != int64(want.Size) {
				t.Errorf("item %q: Size %d, MIME %d bytes, mailbox %d", it.Subject, it.Size, len(it.MimeContent), want.Size)
			}
			if it.From == nil || it.From.EmailAddress != want.Message.From.Email || it.From.Name != want.Message.From.Name {
				t.Errorf("item %q: From %+v, want %+v", it.Subject, it.From, want.Message.From)
			}
			if !it.DateTimeReceived.Equal(want.Message.DateTimeReceived.Truncate(time.Second)) {
				t.Errorf("item %q: received %v, want %v", it.Subject, it.DateTimeReceived, want.Message.DateTimeReceived)
			}
		}
	}
	if attachments == 0 {
		t.Error("no seeded message with attachments was checked")
	}
}

// TestE2E_FolderErrors checks the per-folder errors of a GetFolder batch
// (a deleted folder, a malformed id) next to good folders, and that
// syncing a deleted folder's items asks for a resync.
func TestE2E_FolderErrors(t *testing.T) {
	srv, _ := e2eServer(t, ewstest.AuthBearer, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthBearer, false), nil)
	f, err := mb.CreateFolder("inbox", "Doomed", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.CreateItem(f.ID, e2eMsg("in doomed")); err != nil {
		t.Fatal(err)
	}
	m := &itemMirror{folder: f.ID}
	if err := syncAll(ctx, t, c, m, 10); err != nil || len(m.items) != 1 {
		t.Fatalf("sync before delete: %v, %d items", err, len(m.items))
	}
	if err := mb.DeleteFolder(f.ID, ewstest.HardDelete); err != nil {
		t.Fatal(err)
	}
	res, err := c.GetFolder(ctx, ews.GetFolderRequest{Folders: []ews.FolderRef{
		ews.DistinguishedFolder("inbox"), {ID: f.ID}, {ID: "not-an-id"}, ews.DistinguishedFolder("sentitems"),
	}, Shape: ews.FolderSyncShape()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 || res[0].Err != nil || res[3].Err != nil || res[0].Folder.DisplayName != "Inbox" || res[3].Folder.DisplayName != "Sent Items" {
		t.Fatalf("good folders: %+v", res)
	}
	if !errors.Is(res[1].Err, ews.ErrFolderNotFound) {
		t.Errorf("deleted folder: %v", res[1].Err)
	}
	if !errors.Is(res[2].Err, ews.ErrInvalidIDMalformed) {
		t.Errorf("malformed id: %v", res[2].Err)
	}
	err = syncAll(ctx, t, c, m, 10)
	var re *ews.ResponseError
	if !errors.As(err, &re) || !re.NeedsResync() || !(errors.Is(err, ews.ErrSyncFolderNotFound) || errors.Is(err, ews.ErrFolderNotFound)) {
		t.Fatalf("sync of a deleted folder: %v", err)
	}
}

// TestE2E_AllFoldersDeep lists the seeded hierarchy with FindFolder Deep
// in small pages and checks it equals the mailbox's folders under
// msgfolderroot, with the counters.
func TestE2E_AllFoldersDeep(t *testing.T) {
	srv, _ := e2eServer(t, ewstest.AuthNone, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	if _, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 500, Folders: 30, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	c := e2eClient(t, srv, nil, nil)
	rootID, _ := mb.FolderID("msgfolderroot")
	want := realHierarchy(t, mb, rootID)
	got := map[string]mirrorFolder{}
	shape := ews.FolderSyncShape()
	for f, err := range c.AllFolders(ctx, ews.FindFolderRequest{Parent: ews.DistinguishedFolder("msgfolderroot"), Traversal: ews.Deep, Shape: shape}, 7) {
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := got[f.ID.ID]; dup {
			t.Errorf("folder %q listed twice", f.DisplayName)
		}
		got[f.ID.ID] = mirrorFolder{Parent: f.ParentID.ID, Name: f.DisplayName, Class: f.FolderClass}
		info, err := mb.Folder(f.ID.ID)
		if err != nil {
			t.Errorf("listed folder %q: %v", f.DisplayName, err)
			continue
		}
		// Calendar and contacts folders have no UnreadCount in the
		// EWS schema (CalendarFolderType, ContactsFolderType).
		unread := info.UnreadCount
		if f.Kind == "CalendarFolder" || f.Kind == "ContactsFolder" {
			unread = -1
		}
		if f.TotalCount != info.TotalCount || f.UnreadCount != unread || f.ChildFolderCount != info.ChildFolderCount ||
			!f.LocalCommitTimeMax.Equal(info.LocalCommitTimeMax) || f.DeletedCountTotal != info.DeletedCountTotal {
			t.Errorf("folder %q: listed %+v, mailbox %+v", f.DisplayName, f, info)
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("FindFolder Deep: %d folders, mailbox %d", len(got), len(want))
	}
}

// TestE2E_EngineLoopUnderActivity runs the loop a sync engine runs —
// hierarchy sync, then every folder's items page by page — for several
// rounds while the activity generator, with its default mix (folder
// creates, renames and deletes included), changes the mailbox between
// pages. A folder deleted under the loop answers with a resync error and
// leaves the mirror; once the activity stops, one more round makes the
// hierarchy and every folder's items equal the mailbox.
func TestE2E_EngineLoopUnderActivity(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthNTLM, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	if _, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 2000, Folders: 12, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	act, err := srv.NewActivity(ewstest.ActivityOptions{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthNTLM, false), nil)
	root := ews.DistinguishedFolder("msgfolderroot")
	rootID, _ := mb.FolderID("msgfolderroot")
	var hm hierarchyMirror
	mirrors := map[string]*itemMirror{}
	lost := 0
	round := func(active bool) {
		t.Helper()
		hm.sync(ctx, t, c, &root)
		for id := range mirrors {
			if _, ok := hm.folders[id]; !ok {
				delete(mirrors, id)
			}
		}
		for _, id := range slices.Sorted(maps.Keys(hm.folders)) {
			m := mirrors[id]
			if m == nil {
				m = &itemMirror{folder: id}
				mirrors[id] = m
			}
			for {
				last, err := m.tryPage(ctx, t, c, 50)
				if err != nil {
					var re *ews.ResponseError
					if !active || !errors.As(err, &re) || !re.NeedsResync() {
						t.Fatalf("folder %q: %v", hm.folders[id].Name, err)
					}
					delete(mirrors, id) // gone: the next hierarchy sync says so
					lost++
					break
				}
				if active {
					for range 3 {
						clk.Advance(time.Second)
						if _, err := act.Step(); err != nil && !errors.Is(err, ewstest.ErrFolderExists) {
							t.Fatalf("activity: %v", err)
						}
					}
				}
				if last {
					break
				}
			}
		}
	}
	for range 3 {
		round(true)
	}
	round(false)
	if want := realHierarchy(t, mb, rootID); !maps.Equal(hm.folders, want) {
		t.Fatalf("hierarchy: mirror %d folders, mailbox %d", len(hm.folders), len(want))
	}
	for id, f := range hm.folders {
		m := mirrors[id]
		if m == nil {
			t.Errorf("folder %q not mirrored", f.Name)
			continue
		}
		if d := diffItems(m.items, realItems(t, mb, id)); d != "" {
			t.Errorf("folder %q:%s", f.Name, d)
		}
	}
	counts := act.Counts()
	if counts[ewstest.ActCreateFolder] == 0 || counts[ewstest.ActDeleteFolder] == 0 || counts[ewstest.ActMove] == 0 {
		t.Errorf("activity lacked folder changes or moves: %v", counts)
	}
	t.Logf("%d activity changes %v; %d folders lost under the loop", act.Total(), counts, lost)
}

// TestE2E_ControlCharacterReferences checks the client against what
// Exchange writes for a control character stored in a property: a
// numeric character reference such as &#x1A;, which XML 1.0 forbids
// (OfficeDev/ews-java-api#233 shows <t:Subject>...&#x1A;...</t:Subject>).
// The fake writes them too (in lower case); a middleware also turns a
// marker into Exchange's upper-case form. The page must decode, with each
// such character read as U+FFFD, instead of failing the folder's sync on
// every retry.
func TestE2E_ControlCharacterReferences(t *testing.T) {
	rewrite := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := bytes.ReplaceAll(rec.Body.Bytes(), []byte("CTRL-1A"), []byte("&#x1A;"))
			maps.Copy(w.Header(), rec.Header())
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
	srv, _ := e2eServer(t, ewstest.AuthNone, func(o *ewstest.Options) { o.Middleware = append(o.Middleware, rewrite) })
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, nil, nil)
	plain, _ := mb.CreateItem("inbox", e2eMsg("plain & simple"))
	marked, _ := mb.CreateItem("inbox", e2eMsg("CASEBRCTRL-1AS CAIXA"))
	stored, _ := mb.CreateItem("inbox", e2eMsg("nul\x00 and sub\x1a stored"))
	inbox, _ := mb.FolderID("inbox")
	m := &itemMirror{folder: inbox}
	if err := syncAll(ctx, t, c, m, 10); err != nil {
		t.Fatalf("SyncFolderItems with control character references: %v", err)
	}
	for id, want := range map[string]string{
		plain.ID:  "plain & simple",
		marked.ID: "CASEBR\uFFFDS CAIXA",
		stored.ID: "nul\uFFFD and sub\uFFFD stored",
	} {
		if got := m.items[id].Subject; got != want {
			t.Errorf("subject %q, want %q", got, want)
		}
	}
	res, err := c.GetItem(ctx, ews.GetItemRequest{Items: []ews.ItemID{{ID: marked.ID}, {ID: stored.ID}}, Shape: ews.MessageMetadataShape(false)})
	if err != nil || res[0].Err != nil || res[1].Err != nil || res[1].Item.Subject != m.items[stored.ID].Subject {
		t.Fatalf("GetItem: %v %+v", err, res)
	}
}

// TestE2E_RecoverySignals proves, through the client, the gap detection
// recovery relies on: after an outage, comparing each folder's commit
// time, deleted count, TotalCount and UnreadCount with the values stored
// at the last good sync finds exactly the folders that changed — new
// mail, a delete, both ends of a move, a read-flag-only change — while a
// net-zero read flip stays invisible, as DESIGN.md says.
func TestE2E_RecoverySignals(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthNTLM, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	seeded, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 1500, Folders: 10, Seed: 12})
	if err != nil {
		t.Fatal(err)
	}
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthNTLM, false), nil)
	ids := slices.Sorted(maps.Keys(seeded.Counts))
	if len(ids) < 7 {
		t.Fatalf("only %d folders with mail", len(ids))
	}
	before := folderSignals(ctx, t, c, ids)
	clk.Advance(2 * time.Second) // the stored values are not from the current second

	first := func(folder string) ewstest.ItemInfo {
		its, err := mb.Items(folder)
		if err != nil || len(its) == 0 {
			t.Fatalf("Items(%s): %v", folder, err)
		}
		return its[0]
	}
	unreadIn := func(folder string, read bool) ewstest.ItemInfo {
		its, _ := mb.Items(folder)
		for _, it := range its {
			if it.Message.IsRead == read {
				return it
			}
		}
		t.Fatalf("no item with IsRead=%v in %s", read, folder)
		return ewstest.ItemInfo{}
	}
	// Two folders with unread mail for the read-flag changes, four
	// others for the rest.
	var withUnread, others []string
	for _, id := range ids {
		if before[id].Unread > 0 && len(withUnread) < 2 {
			withUnread = append(withUnread, id)
		} else {
			others = append(others, id)
		}
	}
	if len(withUnread) < 2 || len(others) < 4 {
		t.Fatalf("seeded folders: %d with unread mail, %d others", len(withUnread), len(others))
	}
	readFlag, flipped := withUnread[0], withUnread[1]
	newMail, deleted, moveFrom, moveTo := others[0], others[1], others[2], others[3]
	if _, err := mb.Deliver(newMail, e2eMsg("during the outage")); err != nil {
		t.Fatal(err)
	}
	if err := mb.DeleteItem(first(deleted).ID, ewstest.HardDelete); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.MoveItem(first(moveFrom).ID, moveTo); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.SetRead(unreadIn(readFlag, false).ID, true); err != nil {
		t.Fatal(err)
	}
	flip := unreadIn(flipped, false)
	if _, err := mb.SetRead(flip.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := mb.SetRead(flip.ID, false); err != nil {
		t.Fatal(err)
	}

	after := folderSignals(ctx, t, c, ids)
	var changed []string
	for _, id := range ids {
		if before[id] != after[id] {
			changed = append(changed, id)
		}
	}
	want := []string{newMail, deleted, moveFrom, moveTo, readFlag}
	slices.Sort(want)
	if !slices.Equal(changed, want) {
		t.Fatalf("changed folders %v, want %v (net-zero flip in %s)", changed, want, flipped)
	}
	if !after[readFlag].Commit.Equal(before[readFlag].Commit) || after[readFlag].Unread != before[readFlag].Unread-1 {
		t.Errorf("read-flag-only change: %+v -> %+v", before[readFlag], after[readFlag])
	}
	if after[moveFrom].Deleted != before[moveFrom].Deleted+1 || !after[moveTo].Commit.After(before[moveTo].Commit) {
		t.Errorf("move: source %+v -> %+v, target %+v -> %+v", before[moveFrom], after[moveFrom], before[moveTo], after[moveTo])
	}
}

// TestE2E_SyncIgnore checks SyncFolderItems' Ignore list end to end: a
// change the client made itself and names in Ignore is not reported back,
// while other changes in the same window are.
func TestE2E_SyncIgnore(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthNone, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, nil, nil)
	inbox, _ := mb.FolderID("inbox")
	a, _ := mb.Deliver(inbox, e2eMsg("a"))
	b, _ := mb.Deliver(inbox, e2eMsg("b"))
	m := &itemMirror{folder: inbox}
	if err := syncAll(ctx, t, c, m, 10); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	subj := "a, edited here"
	a2, err := mb.UpdateItem(a.ID, ewstest.ItemUpdate{Subject: &subj})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.SetRead(b.ID, true); err != nil {
		t.Fatal(err)
	}
	res, err := c.SyncFolderItems(ctx, ews.SyncFolderItemsRequest{Folder: ews.FolderRef{ID: inbox}, SyncState: m.state,
		Ignore: []ews.ItemID{{ID: a2.ID, ChangeKey: a2.ChangeKey}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Item.ID.ID != b.ID || res.Changes[0].Kind != ews.ChangeReadFlag || !res.Changes[0].IsRead {
		t.Fatalf("changes with a ignored: %+v", res.Changes)
	}
}

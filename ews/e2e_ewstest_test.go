package ews_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"golang.org/x/sync/errgroup"
)

// End-to-end proof of the client against the fake server: every test
// runs the real ews.Client over loopback HTTP against ewstest.NewServer
// and checks what the client decoded against the fake mailbox's own
// state, read through the server's Go handle.

const (
	e2eUser     = "alice"
	e2ePassword = "s3cret!"
	e2eAddress  = "alice@example.com"
	e2eToken    = "tok-alice-1"
)

var e2eStart = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

// e2eServer starts a fake with one user on a fake clock, authenticating
// with mode.
func e2eServer(t testing.TB, mode string, tweak func(*ewstest.Options)) (*ewstest.Server, *debouncetest.Clock) {
	t.Helper()
	clk := debouncetest.NewClock(e2eStart)
	opts := ewstest.Options{
		Users:  []ewstest.User{{Name: e2eUser, Password: e2ePassword, Address: e2eAddress}},
		Clock:  clk,
		Logger: slog.New(slog.DiscardHandler),
		Auth:   ewstest.AuthOptions{Mode: mode, Tokens: map[string]string{e2eToken: e2eUser}},
	}
	if tweak != nil {
		tweak(&opts)
	}
	srv := ewstest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv, clk
}

// e2eAuth returns the client Auth matching the server's mode, with the
// right credentials or, when wrong is set, a bad password (token).
func e2eAuth(mode string, wrong bool) ews.Auth {
	pw, tok := e2ePassword, e2eToken
	if wrong {
		pw, tok = "not-the-password", "tok-forged"
	}
	switch mode {
	case ewstest.AuthNTLM:
		return ews.NTLM(`EXAMPLE\`+e2eUser, pw)
	case ewstest.AuthBasic:
		return ews.Basic(e2eUser, pw)
	case ewstest.AuthBearer:
		return ews.Bearer(ews.TokenSourceFunc(func(context.Context) (string, error) { return tok, nil }))
	}
	return nil
}

// e2eClient returns a client for srv; sleeps, when non-nil, records the
// retry waits, which end at once on a fake clock of the client's own.
func e2eClient(t testing.TB, srv *ewstest.Server, auth ews.Auth, sleeps *[]time.Duration) *ews.Client {
	t.Helper()
	opts := &ews.Options{Auth: auth, Logger: slog.New(slog.DiscardHandler)}
	if sleeps != nil {
		clk := debouncetest.NewClock(e2eStart)
		t.Cleanup(clk.AutoAdvance(func(d time.Duration) bool {
			*sleeps = append(*sleeps, d)
			return true
		}))
		opts.Clock = clk
	}
	c, err := ews.New(srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// e2eMsg is a plain ASCII message addressed to the test user.
func e2eMsg(subject string) ewstest.Message {
	return ewstest.Message{
		Subject: subject,
		From:    ewstest.Address{Name: "Bob Sender", Email: "bob@example.org"},
		To:      []ewstest.Address{{Name: "Alice", Email: e2eAddress}},
		Body:    "Body of " + subject + ".\r\n",
	}
}

// mirrorFolder is the hierarchy mirror's record of one folder.
type mirrorFolder struct {
	Parent, Name, Class string
}

// hierarchyMirror applies SyncFolderHierarchy pages to a map.
type hierarchyMirror struct {
	state   string
	folders map[string]mirrorFolder
}

// sync runs SyncFolderHierarchy from the mirror's state to the last page.
func (m *hierarchyMirror) sync(ctx context.Context, t testing.TB, c *ews.Client, root *ews.FolderRef) {
	t.Helper()
	if m.folders == nil {
		m.folders = map[string]mirrorFolder{}
	}
	req := ews.SyncFolderHierarchyRequest{SyncFolder: root, SyncState: m.state, Shape: ews.FolderSyncShape()}
	pages := 0
	for page, err := range c.SyncFolderHierarchyPages(ctx, req) {
		if err != nil {
			t.Fatalf("SyncFolderHierarchy page %d: %v", pages, err)
		}
		pages++
		for _, ch := range page.Changes {
			id := ch.Folder.ID.ID
			switch ch.Kind {
			case ews.ChangeCreate, ews.ChangeUpdate:
				if ch.Kind == ews.ChangeCreate {
					if _, dup := m.folders[id]; dup {
						t.Errorf("Create for folder %s already mirrored", ch.Folder.DisplayName)
					}
				} else if _, ok := m.folders[id]; !ok {
					t.Errorf("Update for unknown folder %s", ch.Folder.DisplayName)
				}
				m.folders[id] = mirrorFolder{Parent: ch.Folder.ParentID.ID, Name: ch.Folder.DisplayName, Class: ch.Folder.FolderClass}
			case ews.ChangeDelete:
				if _, ok := m.folders[id]; !ok {
					t.Errorf("Delete for unknown folder %s", id)
				}
				delete(m.folders, id)
			default:
				t.Errorf("hierarchy change of kind %v", ch.Kind)
			}
		}
		m.state = page.SyncState
	}
	if pages == 0 {
		t.Fatal("SyncFolderHierarchy yielded no page")
	}
}

// realHierarchy returns the fake's folders below rootID (excluded).
func realHierarchy(t testing.TB, mb *ewstest.Mailbox, rootID string) map[string]mirrorFolder {
	t.Helper()
	under := map[string]bool{rootID: true}
	out := map[string]mirrorFolder{}
	for _, f := range mb.Folders() { // parents before children
		if under[f.ParentID] {
			under[f.ID] = true
			out[f.ID] = mirrorFolder{Parent: f.ParentID, Name: f.DisplayName, Class: f.FolderClass}
		}
	}
	return out
}

// mirrorItem is the item mirror's record of one item.
type mirrorItem struct {
	ChangeKey string
	Subject   string
	IsRead    bool
}

// itemMirror applies SyncFolderItems pages of one folder to a map,
// checking that every change makes sense against what it already holds.
type itemMirror struct {
	folder string
	state  string
	items  map[string]mirrorItem
	pages  int
}

// page fetches and applies one page; it reports whether it was the last.
func (m *itemMirror) page(ctx context.Context, t testing.TB, c *ews.Client, max int) bool {
	t.Helper()
	last, err := m.tryPage(ctx, t, c, max)
	if err != nil {
		t.Fatalf("SyncFolderItems %s page %d: %v", m.folder, m.pages, err)
	}
	return last
}

// tryPage is page returning the call's error instead of failing.
func (m *itemMirror) tryPage(ctx context.Context, t testing.TB, c *ews.Client, max int) (bool, error) {
	t.Helper()
	if m.items == nil {
		m.items = map[string]mirrorItem{}
	}
	res, err := c.SyncFolderItems(ctx, ews.SyncFolderItemsRequest{
		Folder: ews.FolderRef{ID: m.folder}, SyncState: m.state,
		Shape: ews.MessageMetadataShape(false), MaxChangesReturned: max,
	})
	if err != nil {
		return false, err
	}
	if len(res.Changes) > max {
		t.Fatalf("page of %d changes with MaxChangesReturned %d", len(res.Changes), max)
	}
	m.pages++
	for _, ch := range res.Changes {
		id := ch.Item.ID.ID
		old, known := m.items[id]
		switch ch.Kind {
		case ews.ChangeCreate:
			if known {
				t.Errorf("Create for mirrored item %s (%q)", id, old.Subject)
			}
			m.items[id] = mirrorItem{ChangeKey: ch.Item.ID.ChangeKey, Subject: ch.Item.Subject, IsRead: ch.Item.IsRead}
		case ews.ChangeUpdate:
			if !known {
				t.Errorf("Update for unknown item %s", id)
			}
			m.items[id] = mirrorItem{ChangeKey: ch.Item.ID.ChangeKey, Subject: ch.Item.Subject, IsRead: ch.Item.IsRead}
		case ews.ChangeReadFlag:
			if !known {
				t.Errorf("ReadFlagChange for unknown item %s", id)
			}
			old.IsRead = ch.IsRead
			if ch.Item.ID.ChangeKey != "" {
				old.ChangeKey = ch.Item.ID.ChangeKey
			}
			m.items[id] = old
		case ews.ChangeDelete:
			if !known {
				t.Errorf("Delete for unknown item %s", id)
			}
			delete(m.items, id)
		}
	}
	m.state = res.SyncState
	return res.IncludesLastItemInRange, nil
}

// realItems returns the fake folder's items as the mirror records them.
func realItems(t testing.TB, mb *ewstest.Mailbox, folder string) map[string]mirrorItem {
	t.Helper()
	its, err := mb.Items(folder)
	if err != nil {
		t.Fatalf("Items(%s): %v", folder, err)
	}
	out := make(map[string]mirrorItem, len(its))
	for _, it := range its {
		out[it.ID] = mirrorItem{ChangeKey: it.ChangeKey, Subject: it.Message.Subject, IsRead: it.Message.IsRead}
	}
	return out
}

// diffItems describes how the mirror differs from the real folder.
func diffItems(mirror, real map[string]mirrorItem) string {
	var b strings.Builder
	n := 0
	for _, id := range slices.Sorted(maps.Keys(real)) {
		if got, ok := mirror[id]; !ok {
			fmt.Fprintf(&b, "\n  missing %q", real[id].Subject)
			n++
		} else if got != real[id] {
			fmt.Fprintf(&b, "\n  %q: mirror %+v, real %+v", real[id].Subject, got, real[id])
			n++
		}
		if n > 10 {
			return b.String() + "\n  ..."
		}
	}
	for _, id := range slices.Sorted(maps.Keys(mirror)) {
		if _, ok := real[id]; !ok {
			fmt.Fprintf(&b, "\n  extra %q", mirror[id].Subject)
			if n++; n > 10 {
				return b.String() + "\n  ..."
			}
		}
	}
	return b.String()
}

// TestE2E_Auth runs a hierarchy sync and a GetFolder under every
// authentication mode the fake offers, and checks that wrong credentials
// give the typed unauthorized error and change nothing.
func TestE2E_Auth(t *testing.T) {
	for _, mode := range []string{ewstest.AuthNTLM, ewstest.AuthBasic, ewstest.AuthBearer} {
		t.Run(mode, func(t *testing.T) {
			srv, _ := e2eServer(t, mode, nil)
			ctx := context.Background()
			mb := srv.Mailbox(e2eAddress)
			if _, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 300, Folders: 6, Seed: 7}); err != nil {
				t.Fatal(err)
			}

			bad := e2eClient(t, srv, e2eAuth(mode, true), nil)
			_, err := bad.GetFolder(ctx, ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}})
			var he *ews.HTTPError
			if !errors.Is(err, ews.ErrUnauthorized) || !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong credentials: %v", err)
			}
			if he.IsTransient() {
				t.Error("401 classified as transient")
			}
			if strings.Contains(err.Error(), "not-the-password") || strings.Contains(err.Error(), "tok-forged") {
				t.Errorf("credentials in the error: %v", err)
			}

			c := e2eClient(t, srv, e2eAuth(mode, false), nil)
			var m hierarchyMirror
			root := ews.DistinguishedFolder("msgfolderroot")
			m.sync(ctx, t, c, &root)
			rootID, err := mb.FolderID("msgfolderroot")
			if err != nil {
				t.Fatal(err)
			}
			if want := realHierarchy(t, mb, rootID); !maps.Equal(m.folders, want) {
				t.Fatalf("hierarchy mirror has %d folders, the mailbox %d:\n%v\n%v", len(m.folders), len(want), m.folders, want)
			}
			res, err := c.GetFolder(ctx, ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}, Shape: ews.FolderSyncShape()})
			if err != nil || res[0].Err != nil {
				t.Fatalf("GetFolder inbox: %v %v", err, res)
			}
			inbox, _ := mb.Folder("inbox")
			if f := res[0].Folder; f.ID.ID != inbox.ID || f.TotalCount != inbox.TotalCount || f.UnreadCount != inbox.UnreadCount {
				t.Fatalf("GetFolder inbox = %+v, mailbox %+v", f, inbox)
			}
		})
	}
}

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

// folderProps reads PR_LOCAL_COMMIT_TIME_MAX and PR_DELETED_COUNT_TOTAL
// of one folder through the client.
func folderProps(ctx context.Context, t testing.TB, c *ews.Client, id string) (time.Time, int64) {
	t.Helper()
	res, err := c.GetFolder(ctx, ews.GetFolderRequest{Folders: []ews.FolderRef{{ID: id}}, Shape: ews.FolderSyncShape()})
	if err != nil {
		t.Fatalf("GetFolder: %v", err)
	}
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("GetFolder: %+v", res)
	}
	f := res[0].Folder
	if f.LocalCommitTimeMax.IsZero() || f.DeletedCountTotal < 0 {
		t.Fatalf("GetFolder with FolderSyncShape lacks 0x670A/0x670B: %+v", f)
	}
	return f.LocalCommitTimeMax, f.DeletedCountTotal
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

// syncAll pages one folder from state to the last page.
func syncAll(ctx context.Context, t testing.TB, c *ews.Client, m *itemMirror, max int) error {
	t.Helper()
	for {
		res, err := c.SyncFolderItems(ctx, ews.SyncFolderItemsRequest{Folder: ews.FolderRef{ID: m.folder}, SyncState: m.state, MaxChangesReturned: max, Shape: ews.MessageMetadataShape(false)})
		if err != nil {
			return err
		}
		if m.items == nil {
			m.items = map[string]mirrorItem{}
		}
		for _, ch := range res.Changes {
			id := ch.Item.ID.ID
			switch ch.Kind {
			case ews.ChangeCreate, ews.ChangeUpdate:
				m.items[id] = mirrorItem{ChangeKey: ch.Item.ID.ChangeKey, Subject: ch.Item.Subject, IsRead: ch.Item.IsRead}
			case ews.ChangeReadFlag:
				old := m.items[id]
				old.IsRead, old.ChangeKey = ch.IsRead, ch.Item.ID.ChangeKey
				m.items[id] = old
			case ews.ChangeDelete:
				delete(m.items, id)
			}
		}
		m.state = res.SyncState
		if res.IncludesLastItemInRange {
			return nil
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

// TestE2E_ServerBusy checks that the fake's ErrorServerBusy faults make
// the client wait exactly the advised BackOffMilliseconds before each
// retry, under NTLM and without authentication, and that a call busy past
// the retry budget fails with a transient, typed error.
func TestE2E_ServerBusy(t *testing.T) {
	for _, mode := range []string{ewstest.AuthNone, ewstest.AuthNTLM} {
		t.Run(mode, func(t *testing.T) {
			srv, _ := e2eServer(t, mode, nil)
			ctx := context.Background()
			var sleeps []time.Duration
			c := e2eClient(t, srv, e2eAuth(mode, false), &sleeps)
			req := ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}}

			srv.Faults().ServerBusy(2, 1500*time.Millisecond)
			if res, err := c.GetFolder(ctx, req); err != nil || res[0].Err != nil {
				t.Fatalf("after two busy answers: %v %+v", err, res)
			}
			if want := []time.Duration{1500 * time.Millisecond, 1500 * time.Millisecond}; !slices.Equal(sleeps, want) {
				t.Fatalf("waits %v, want %v", sleeps, want)
			}

			sleeps = nil
			srv.Faults().ServerBusy(5, 2*time.Second)
			_, err := c.GetFolder(ctx, req)
			var fe *ews.FaultError
			if !errors.Is(err, ews.ErrServerBusy) || !errors.As(err, &fe) || !fe.IsTransient() || fe.BackOff != 2*time.Second {
				t.Fatalf("busy past the budget: %v", err)
			}
			if len(sleeps) != 3 { // default MaxAttempts 4
				t.Fatalf("waits %v for four attempts", sleeps)
			}
			sleeps = nil
			if res, err := c.GetFolder(ctx, req); err != nil || res[0].Err != nil {
				t.Fatalf("last busy answer then success: %v %+v", err, res)
			}
			if !slices.Equal(sleeps, []time.Duration{2 * time.Second}) {
				t.Fatalf("waits %v", sleeps)
			}
		})
	}
}

// newMailIDs returns the ids of the NewMailEvents of n.
func newMailIDs(n *ews.Notification) []string {
	var ids []string
	for _, e := range n.Events {
		if e.Type == ews.EventNewMail {
			ids = append(ids, e.ID.ID)
		}
	}
	return ids
}

// TestE2E_PullWatermarks follows a pull subscription through several
// GetEvents calls: each notification continues from the watermark asked
// for, an idle call gives one StatusEvent carrying a watermark, and a
// burst of more than 50 events arrives over several calls (MoreEvents)
// with every new mail seen exactly once.
func TestE2E_PullWatermarks(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthNTLM, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthNTLM, false), nil)
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, DistinguishedFolders: []string{"inbox"}, Timeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if sub.ID == "" || sub.Watermark == "" || sub.Kind != ews.Pull {
		t.Fatalf("subscription %+v", sub)
	}
	wm := sub.Watermark
	get := func(step string) *ews.Notification {
		t.Helper()
		n, err := c.GetEvents(ctx, sub.ID, wm, nil)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if n.SubscriptionID != sub.ID || n.PreviousWatermark != wm {
			t.Fatalf("%s: subscription %q previous watermark %q, asked from %q", step, n.SubscriptionID, n.PreviousWatermark, wm)
		}
		if n.LastWatermark() == "" {
			t.Fatalf("%s: no watermark", step)
		}
		wm = n.LastWatermark()
		return n
	}

	clk.Advance(time.Minute)
	it1, err := mb.Deliver("inbox", e2eMsg("first"))
	if err != nil {
		t.Fatal(err)
	}
	n := get("after one mail")
	if ids := newMailIDs(n); !slices.Equal(ids, []string{it1.ID}) {
		t.Fatalf("NewMailEvents %v, want [%s]", ids, it1.ID)
	}
	for _, e := range n.Events {
		if e.Watermark == "" || !e.TimeStamp.Equal(clk.Now()) {
			t.Errorf("event %+v: watermark or time stamp (%v)", e, clk.Now())
		}
	}

	n = get("idle")
	if !n.StatusOnly() || len(n.Events) != 1 {
		t.Fatalf("idle GetEvents: %+v", n)
	}

	clk.Advance(time.Minute)
	it2, err := mb.Deliver("inbox", e2eMsg("second"))
	if err != nil {
		t.Fatal(err)
	}
	if ids := newMailIDs(get("after the second mail")); !slices.Equal(ids, []string{it2.ID}) {
		t.Fatalf("NewMailEvents %v, want [%s]", ids, it2.ID)
	}

	// A burst: 40 mails raise 40 × 3 events (Created, NewMail, folder
	// Modified), more than one GetEvents returns.
	want := map[string]bool{}
	for i := range 40 {
		it, err := mb.Deliver("inbox", e2eMsg(fmt.Sprintf("burst %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		want[it.ID] = true
	}
	calls, seen := 0, map[string]int{}
	for n, err := range c.AllEvents(ctx, sub.ID, wm, nil) {
		if err != nil {
			t.Fatalf("AllEvents: %v", err)
		}
		calls++
		if len(n.Events) > 50 {
			t.Fatalf("%d events in one notification", len(n.Events))
		}
		for _, id := range newMailIDs(n) {
			seen[id]++
		}
		wm = n.LastWatermark()
	}
	if calls < 3 {
		t.Errorf("burst drained in %d calls", calls)
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("NewMailEvent for %s seen %d times", id, seen[id])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d NewMailEvents, want %d", len(seen), len(want))
	}
	if n := get("drained"); !n.StatusOnly() {
		t.Fatalf("after draining: %+v", n)
	}
}

// TestE2E_StreamingAcrossConnectionTimeout runs a streaming subscription
// through the client's StreamingConnection with a one-minute
// ConnectionTimeout. Advancing the fake's clock ends the request with
// ConnectionStatus Closed; the client reopens it at once, and an item
// created while the new request is held back at the server's door is
// delivered on it. No error reaches the application.
func TestE2E_StreamingAcrossConnectionTimeout(t *testing.T) {
	var streams atomic.Int32
	reconnecting, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hold := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte("GetStreamingEvents")) && streams.Add(1) == 2 {
				close(reconnecting)
				<-release
			}
			next.ServeHTTP(w, r)
		})
	}
	srv, clk := e2eServer(t, ewstest.AuthNone, func(o *ewstest.Options) { o.Middleware = append(o.Middleware, hold) })
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before srv.Close
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, nil, nil)
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, DistinguishedFolders: []string{"inbox"}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.NewStreamingConnection(&ews.StreamingOptions{ConnectionTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Add(sub.ID); err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitItem := func(id string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case ev, ok := <-sc.Events():
				if !ok {
					t.Fatal("events closed")
				}
				if ev.Err != nil {
					t.Fatalf("stream error: %+v", ev)
				}
				if ev.Notification.SubscriptionID != sub.ID {
					t.Fatalf("notification for %q", ev.Notification.SubscriptionID)
				}
				if slices.Contains(newMailIDs(ev.Notification), id) {
					return
				}
			case <-deadline:
				t.Fatalf("no NewMailEvent for %s", id)
			}
		}
	}
	it1, err := mb.Deliver("inbox", e2eMsg("before the timeout"))
	if err != nil {
		t.Fatal(err)
	}
	waitItem(it1.ID) // the first request is open and registered

	clk.Advance(time.Minute) // ConnectionTimeout: Closed
	select {
	case <-reconnecting:
	case <-time.After(20 * time.Second):
		t.Fatal("no reconnect after ConnectionStatus Closed")
	}
	it2, err := mb.Deliver("inbox", e2eMsg("across the reconnect"))
	if err != nil {
		t.Fatal(err)
	}
	once.Do(func() { close(release) })
	waitItem(it2.ID)
	if n := sc.Reconnects(); n != 1 {
		t.Errorf("Reconnects = %d, want 1", n)
	}
}

// nextEvent returns the next value received from events while it drives
// clk: whenever a timer is due within horizon it moves clk to that timer
// (running it), and otherwise it waits for a value or for the code under
// test to arm a timer. It never polls on real time; 20 s without progress
// fails the test.
func nextEvent[E any](t testing.TB, clk *debouncetest.Clock, horizon time.Duration, events <-chan E) E {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		armed := clk.Armed()
		if due, ok := clk.NextDue(); ok && !due.After(clk.Now().Add(horizon)) {
			clk.Set(due)
		}
		select {
		case ev := <-events:
			return ev
		case <-armed:
		case <-deadline:
			var zero E
			t.Fatalf("no event and no timer due within %v", horizon)
			return zero
		}
	}
}

// TestE2E_Push subscribes the client's PushListener, served by
// httptest, and sees the fake's first StatusEvent, a new mail, and an
// idle StatusEvent after StatusFrequency, with continuous watermarks.
func TestE2E_Push(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthBasic, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthBasic, false), nil)
	l, hs := e2eListener(t, nil)
	sub := e2ePushSubscribe(ctx, t, c, l, hs.URL)

	first := recvPushEvent(t, l)
	if !first.Notification.StatusOnly() || first.Notification.PreviousWatermark != sub.Watermark {
		t.Fatalf("first POST: %+v", first.Notification)
	}
	clk.Advance(10 * time.Second)
	it, err := mb.Deliver("inbox", e2eMsg("pushed"))
	if err != nil {
		t.Fatal(err)
	}
	ev := recvPushEvent(t, l)
	if ids := newMailIDs(ev.Notification); !slices.Equal(ids, []string{it.ID}) {
		t.Fatalf("pushed NewMailEvents %v, want [%s]", ids, it.ID)
	}
	if wm, ok := l.Watermark(sub.ID); !ok || wm != ev.Notification.LastWatermark() {
		t.Fatalf("listener watermark %q %v, last pushed %q", wm, ok, ev.Notification.LastWatermark())
	}
	// StatusFrequency of quiet gives a StatusEvent. The fake re-arms its
	// status timer when it has read the listener's answer, which may be
	// after the event reached us, so the clock moves to the status timer
	// once it is armed.
	var idle *ews.Notification
	if ev := nextEvent(t, clk, time.Minute, l.Events()); ev.Err != nil || ev.Notification == nil {
		t.Fatalf("push event %+v", ev)
	} else {
		idle = ev.Notification
	}
	if idle == nil || !idle.StatusOnly() || idle.PreviousWatermark != ev.Notification.LastWatermark() {
		t.Fatalf("idle POST: %+v", idle)
	}
	if l.Dropped() != 0 {
		t.Errorf("Dropped = %d", l.Dropped())
	}
}

// e2eListener starts a PushListener behind httptest on the given
// listener clock (nil for the wall clock).
func e2eListener(t testing.TB, clk ews.Clock) (*ews.PushListener, *httptest.Server) {
	t.Helper()
	l, err := ews.NewPushListener(&ews.PushListenerOptions{Token: "push-secret", LivenessSlack: 10 * time.Second, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(l)
	t.Cleanup(func() { hs.Close(); l.Close() })
	return l, hs
}

// e2ePushSubscribe creates a push subscription on the inbox with a
// one-minute StatusFrequency and registers it with l.
func e2ePushSubscribe(ctx context.Context, t testing.TB, c *ews.Client, l *ews.PushListener, base string) *ews.Subscription {
	t.Helper()
	release := l.Expect()
	defer release()
	sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Push, DistinguishedFolders: []string{"inbox"},
		StatusFrequency: time.Minute, URL: base + "/ews/push/push-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Register(sub.ID, time.Minute, sub.Watermark); err != nil {
		t.Fatal(err)
	}
	return sub
}

// recvPushEvent waits for the listener's next notification.
func recvPushEvent(t testing.TB, l *ews.PushListener) ews.PushEvent {
	t.Helper()
	select {
	case ev, ok := <-l.Events():
		if !ok {
			t.Fatal("listener closed")
		}
		if ev.Err != nil || ev.Gap || ev.Notification == nil {
			t.Fatalf("push event %+v", ev)
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no push notification")
	}
	panic("unreachable")
}

// TestE2E_SubscriptionLostOnRestart restarts the fake's Client Access
// layer under a pull, a streaming and a push subscription: each loss
// reaches the application as a typed error the client classifies as a
// lost subscription.
func TestE2E_SubscriptionLostOnRestart(t *testing.T) {
	srv, _ := e2eServer(t, ewstest.AuthNone, nil)
	ctx := context.Background()
	c := e2eClient(t, srv, nil, nil)
	lclk := debouncetest.NewClock(e2eStart)
	l, hs := e2eListener(t, lclk)

	pull, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, AllFolders: true, Timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, AllFolders: true})
	if err != nil {
		t.Fatal(err)
	}
	push := e2ePushSubscribe(ctx, t, c, l, hs.URL)
	recvPushEvent(t, l) // the first StatusEvent: the listener's deadline is set

	sc, err := c.NewStreamingConnection(&ews.StreamingOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sc.Add(stream.ID)
	sc.Start(ctx)
	it, _ := srv.Mailbox(e2eAddress).Deliver("inbox", e2eMsg("before the restart"))
	// The push subscription sees it too; its POST must be in before the
	// listener's clock moves.
	if ids := newMailIDs(recvPushEvent(t, l).Notification); !slices.Equal(ids, []string{it.ID}) {
		t.Fatalf("pushed %v", ids)
	}
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case ev := <-sc.Events():
			if ev.Err != nil {
				t.Fatalf("stream error before the restart: %+v", ev)
			}
			seen = slices.Contains(newMailIDs(ev.Notification), it.ID)
		case <-deadline:
			t.Fatal("streaming connection not delivering")
		}
	}

	srv.Restart()

	_, err = c.GetEvents(ctx, pull.ID, pull.Watermark, nil)
	var re *ews.ResponseError
	if !errors.As(err, &re) || !re.SubscriptionLost() || re.NeedsResync() || re.IsTransient() {
		t.Fatalf("pull after restart: %v", err)
	}

	// Streaming: the request ends; the reconnect is refused for the only
	// subscription, which is reported as lost and removed.
	deadline = time.After(20 * time.Second)
	for lost := false; !lost; {
		select {
		case ev, ok := <-sc.Events():
			if !ok {
				t.Fatal("events closed")
			}
			switch {
			case ev.Notification != nil:
			case ev.SubscriptionID == "":
				if errors.As(ev.Err, &re) && re.SubscriptionLost() {
					t.Fatalf("connection-wide loss on a one-subscription connection: %+v", ev)
				}
			default:
				if ev.SubscriptionID != stream.ID || !ev.Removed || !errors.As(ev.Err, &re) || !re.SubscriptionLost() {
					t.Fatalf("streaming loss: %+v", ev)
				}
				lost = true
			}
		case <-deadline:
			t.Fatal("streaming subscription loss not reported")
		}
	}
	if subs := sc.Subscriptions(); len(subs) != 0 {
		t.Errorf("connection still carries %v", subs)
	}

	// Push: the server no longer posts; after 2 × StatusFrequency plus
	// slack on the listener's clock the subscription is reported lost.
	lclk.Advance(2*time.Minute + 10*time.Second)
	select {
	case ev := <-l.Events():
		if ev.SubscriptionID != push.ID || !errors.Is(ev.Err, ews.ErrSubscriptionLost) {
			t.Fatalf("push loss: %+v", ev)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("push subscription loss not reported")
	}
}

// mirrorFolderItems syncs one folder from scratch at 512 changes a page
// with the message metadata shape into a fresh map, as an initial sync
// does, and returns the number of items.
func mirrorFolderItems(ctx context.Context, c *ews.Client, folder string) (int, error) {
	items := map[string]mirrorItem{}
	req := ews.SyncFolderItemsRequest{Folder: ews.FolderRef{ID: folder}, Shape: ews.MessageMetadataShape(false), MaxChangesReturned: ews.MaxSyncChanges}
	for page, err := range c.SyncFolderItemsPages(ctx, req) {
		if err != nil {
			return 0, err
		}
		for _, ch := range page.Changes {
			if ch.Kind != ews.ChangeCreate {
				return 0, fmt.Errorf("initial sync of %s: %v change", folder, ch.Kind)
			}
			items[ch.Item.ID.ID] = mirrorItem{ChangeKey: ch.Item.ID.ChangeKey, Subject: ch.Item.Subject, IsRead: ch.Item.IsRead}
		}
	}
	return len(items), nil
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

// TestE2E_ConcurrencyLimit runs a call while another holds the fake's
// only concurrent-request slot: the fake refuses it with an
// ErrorServerBusy fault, the client waits the advised
// BackOffMilliseconds and retries, and both calls succeed.
func TestE2E_ConcurrencyLimit(t *testing.T) {
	entered, gate := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	var openGate sync.Once
	srv, _ := e2eServer(t, ewstest.AuthNTLM, func(o *ewstest.Options) {
		o.Throttle = ewstest.ThrottleOptions{MaxConcurrentRequests: 1, BackOff: 3 * time.Second, Latency: time.Millisecond,
			// The first request admitted holds its slot until the gate opens.
			Sleep: func(ctx context.Context, _ time.Duration) error {
				if !first.CompareAndSwap(false, true) {
					return nil
				}
				close(entered)
				select {
				case <-gate:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}}
	})
	t.Cleanup(func() { openGate.Do(func() { close(gate) }) }) // before srv.Close
	ctx := context.Background()
	aDone := make(chan error, 1)
	var waits []time.Duration // only the second call waits
	var aErr error
	cclk := debouncetest.NewClock(e2eStart)
	t.Cleanup(cclk.AutoAdvance(func(d time.Duration) bool {
		waits = append(waits, d)
		if len(waits) == 1 {
			openGate.Do(func() { close(gate) })
			aErr = <-aDone
		}
		return true
	}))
	c, err := ews.New(srv.URL, &ews.Options{
		Auth: e2eAuth(ewstest.AuthNTLM, false), Logger: slog.New(slog.DiscardHandler),
		Clock: cclk, Retry: ews.RetryPolicy{MaxAttempts: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	req := ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}}
	call := func() error {
		res, err := c.GetFolder(ctx, req)
		if err == nil && res[0].Err != nil {
			err = res[0].Err
		}
		return err
	}
	go func() { aDone <- call() }()
	<-entered
	if err := call(); err != nil {
		t.Fatalf("refused call: %v", err)
	}
	if aErr != nil {
		t.Fatalf("first call: %v", aErr)
	}
	refused := srv.Throttle().Refused()
	if refused < 1 || int64(len(waits)) != refused {
		t.Errorf("%d waits for %d refusals", len(waits), refused)
	}
	for _, d := range waits {
		if d != 3*time.Second {
			t.Fatalf("waited %v, the server advised 3s", d)
		}
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

// TestE2E_StreamingNTLM runs a streaming connection under NTLM, which
// authenticates every hanging request on its own TCP connection, with two
// subscriptions (the inbox and all folders) on one request.
func TestE2E_StreamingNTLM(t *testing.T) {
	srv, _ := e2eServer(t, ewstest.AuthNTLM, nil)
	ctx := context.Background()
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthNTLM, false), nil)
	inbox, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, DistinguishedFolders: []string{"inbox"}, EventTypes: []ews.EventType{ews.EventNewMail}})
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, AllFolders: true})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.NewStreamingConnection(&ews.StreamingOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.Add(inbox.ID, all.ID); err != nil {
		t.Fatal(err)
	}
	if err := sc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	mb := srv.Mailbox(e2eAddress)
	it, err := mb.Deliver("inbox", e2eMsg("streamed under NTLM"))
	if err != nil {
		t.Fatal(err)
	}
	// Another call on the same client while the hanging request is open.
	if res, err := c.GetFolder(ctx, ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}}); err != nil || res[0].Err != nil {
		t.Fatalf("GetFolder beside the stream: %v %+v", err, res)
	}
	types := map[string][]ews.EventType{}
	deadline := time.After(20 * time.Second)
	for len(types[inbox.ID]) == 0 || !slices.Contains(types[all.ID], ews.EventCreated) {
		select {
		case ev := <-sc.Events():
			if ev.Err != nil {
				t.Fatalf("stream error: %+v", ev)
			}
			for _, e := range ev.Notification.Events {
				if e.ID.ID == it.ID {
					types[ev.Notification.SubscriptionID] = append(types[ev.Notification.SubscriptionID], e.Type)
				}
			}
		case <-deadline:
			t.Fatalf("events seen %v", types)
		}
	}
	if !slices.Equal(types[inbox.ID], []ews.EventType{ews.EventNewMail}) {
		t.Errorf("inbox subscription (NewMail only) saw %v", types[inbox.ID])
	}
}

// TestE2E_PullResume resumes a pull subscription from a stored watermark
// after Unsubscribe: the mail that arrived meanwhile is replayed. A
// watermark the server has aged out, and a mailbox move, give errors the
// client classifies as a lost subscription.
func TestE2E_PullResume(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthBearer, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthBearer, false), nil)
	subscribe := func(wm string) (*ews.Subscription, error) {
		return c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Pull, DistinguishedFolders: []string{"inbox"}, Timeout: 10 * time.Minute, Watermark: wm})
	}
	drain := func(sub *ews.Subscription, wm string) ([]string, string) {
		t.Helper()
		var ids []string
		for n, err := range c.AllEvents(ctx, sub.ID, wm, nil) {
			if err != nil {
				t.Fatalf("AllEvents: %v", err)
			}
			ids = append(ids, newMailIDs(n)...)
			wm = n.LastWatermark()
		}
		return ids, wm
	}
	sub, err := subscribe("")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	m1, _ := mb.Deliver("inbox", e2eMsg("one"))
	ids, wm := drain(sub, sub.Watermark)
	if !slices.Equal(ids, []string{m1.ID}) {
		t.Fatalf("first drain %v", ids)
	}
	if err := c.Unsubscribe(ctx, sub.ID, nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	m2, _ := mb.Deliver("inbox", e2eMsg("two, while unsubscribed"))
	resumed, err := subscribe(wm)
	if err != nil {
		t.Fatalf("resume from %q: %v", wm, err)
	}
	if ids, _ := drain(resumed, resumed.Watermark); !slices.Equal(ids, []string{m2.ID}) {
		t.Fatalf("resumed subscription replayed %v, want [%s]", ids, m2.ID)
	}

	if err := srv.ExpireWatermarks(e2eAddress); err != nil {
		t.Fatal(err)
	}
	_, err = subscribe(wm)
	var re *ews.ResponseError
	if !errors.Is(err, ews.ErrInvalidWatermark) || !errors.As(err, &re) || !re.SubscriptionLost() {
		t.Fatalf("resume from an aged-out watermark: %v", err)
	}

	if err := srv.MoveMailbox(e2eAddress, "DB07"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetEvents(ctx, resumed.ID, resumed.Watermark, nil)
	if !errors.Is(err, ews.ErrMailboxMoveInProgress) || !errors.As(err, &re) || !re.SubscriptionLost() {
		t.Fatalf("GetEvents after a mailbox move: %v", err)
	}
}

// TestE2E_Impersonation acts on another mailbox through
// ExchangeImpersonation under NTLM: allowed for a service account that
// holds the right, refused with a typed fault for one that does not.
func TestE2E_Impersonation(t *testing.T) {
	srv, _ := e2eServer(t, ewstest.AuthNTLM, func(o *ewstest.Options) {
		o.Users = append(o.Users,
			ewstest.User{Name: "svc", Password: "svc-pw", Address: "svc@example.com"},
			ewstest.User{Name: "mallory", Password: "m-pw", Address: "mallory@example.com"})
		o.ImpersonationUsers = []string{"svc"}
	})
	ctx := context.Background()
	aliceInbox, _ := srv.Mailbox(e2eAddress).FolderID("inbox")
	svcInbox, _ := srv.Mailbox("svc@example.com").FolderID("inbox")
	inbox := func(c *ews.Client) (string, error) {
		res, err := c.GetFolder(ctx, ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}})
		if err != nil {
			return "", err
		}
		return res[0].Folder.ID.ID, res[0].Err
	}
	newClient := func(user, pw string, im *ews.Impersonation) *ews.Client {
		c, err := ews.New(srv.URL, &ews.Options{Auth: ews.NTLM(user, pw), Impersonation: im, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	if id, err := inbox(newClient("svc", "svc-pw", nil)); err != nil || id != svcInbox {
		t.Fatalf("own inbox: %s %v", id, err)
	}
	if id, err := inbox(newClient("svc", "svc-pw", &ews.Impersonation{SMTPAddress: e2eAddress})); err != nil || id != aliceInbox {
		t.Fatalf("impersonated inbox: %s %v (alice's is %s)", id, err, aliceInbox)
	}
	_, err := inbox(newClient("mallory", "m-pw", &ews.Impersonation{SMTPAddress: e2eAddress}))
	var fe *ews.FaultError
	if !errors.Is(err, ews.ErrImpersonateUserDenied) || !errors.As(err, &fe) || fe.IsTransient() {
		t.Fatalf("impersonation without the right: %v", err)
	}
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

// TestE2E_StreamingConnectionLimit opens one streaming connection more
// than the fake's three hanging connections per account: the extra one is
// refused with ErrorExceededConnectionCount, reported as a transient
// connection error, and backs off on its clock; once another connection
// closes it gets in, and the mail that arrived meanwhile is delivered.
func TestE2E_StreamingConnectionLimit(t *testing.T) {
	srv, _ := e2eServer(t, ewstest.AuthNone, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, nil, nil)
	lclk := debouncetest.NewClock(e2eStart)
	open := func(clk ews.Clock) (*ews.StreamingConnection, string) {
		t.Helper()
		sub, err := c.Subscribe(ctx, &ews.SubscribeRequest{Kind: ews.Streaming, DistinguishedFolders: []string{"inbox"}, EventTypes: []ews.EventType{ews.EventNewMail}})
		if err != nil {
			t.Fatal(err)
		}
		// The back-offs of this test move lclk by minutes while requests
		// are in flight; the read timeout (tested elsewhere) is kept out
		// of reach so that only the connection limit is under test.
		sc, err := c.NewStreamingConnection(&ews.StreamingOptions{Clock: clk, ReadTimeout: 24 * time.Hour, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sc.Close() })
		sc.Add(sub.ID)
		sc.Start(ctx)
		return sc, sub.ID
	}
	recvMail := func(sc *ews.StreamingConnection, id string) {
		t.Helper()
		select {
		case ev := <-sc.Events():
			if ev.Err != nil || !slices.Equal(newMailIDs(ev.Notification), []string{id}) {
				t.Fatalf("want the NewMailEvent of %s, got %+v", id, ev)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no event")
		}
	}
	var conns []*ews.StreamingConnection
	for range ewstest.DefaultHangingConnectionLimit {
		sc, _ := open(nil)
		conns = append(conns, sc)
	}
	it, _ := mb.Deliver("inbox", e2eMsg("all three open"))
	for _, sc := range conns {
		recvMail(sc, it.ID) // each request is open at the server
	}

	extra, _ := open(lclk)
	select {
	case ev := <-extra.Events():
		var re *ews.ResponseError
		if ev.SubscriptionID != "" || !errors.Is(ev.Err, ews.ErrExceededConnectionCount) || !errors.As(ev.Err, &re) || !re.IsTransient() || re.SubscriptionLost() {
			t.Fatalf("fourth connection: %+v", ev)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("fourth connection not refused")
	}
	late, _ := mb.Deliver("inbox", e2eMsg("while the fourth waits"))
	if err := conns[0].Close(); err != nil {
		t.Fatal(err)
	}
	// The back-off runs on lclk; its timer is set after the error was
	// handed over. Each round moves lclk to the next back-off timer (at
	// most a minute away) once one is armed, and never further: the
	// client's 90 s read timeout runs on lclk too once the connection is
	// in, and must not fire while the queued mail is on its way.
	for range 400 {
		ev := nextEvent(t, lclk, time.Minute, extra.Events())
		if ev.Err != nil {
			if !errors.Is(ev.Err, ews.ErrExceededConnectionCount) {
				t.Fatalf("fourth connection: %v", ev.Err)
			}
			continue
		}
		if !slices.Equal(newMailIDs(ev.Notification), []string{late.ID}) {
			t.Fatalf("fourth connection delivered %+v", ev.Notification)
		}
		return
	}
	t.Fatal("the fourth connection never got in")
}

// countingWriter adds the body bytes written through it to n.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return w.ResponseWriter.Write(p)
}

// folderSignal is what recovery compares per folder (DESIGN.md, "What
// recovery can and cannot see").
type folderSignal struct {
	Commit        time.Time
	Deleted       int64
	Total, Unread int
}

// folderSignals reads the recovery signals of folders through one
// GetFolder batch.
func folderSignals(ctx context.Context, t testing.TB, c *ews.Client, ids []string) map[string]folderSignal {
	t.Helper()
	refs := make([]ews.FolderRef, len(ids))
	for i, id := range ids {
		refs[i] = ews.FolderRef{ID: id}
	}
	res, err := c.GetFolder(ctx, ews.GetFolderRequest{Folders: refs, Shape: ews.FolderSyncShape()})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]folderSignal{}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("GetFolder %s: %v", ids[i], r.Err)
		}
		f := r.Folder
		out[ids[i]] = folderSignal{f.LocalCommitTimeMax, f.DeletedCountTotal, f.TotalCount, f.UnreadCount}
	}
	return out
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

// isNTLMAuthenticate reports whether r carries an NTLM AUTHENTICATE
// message (the handshake's last leg, which also carries the request).
func isNTLMAuthenticate(r *http.Request) bool {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "NTLM ")
	if !ok {
		v, ok = strings.CutPrefix(r.Header.Get("Authorization"), "Negotiate ")
	}
	msg, err := base64.StdEncoding.DecodeString(v)
	return ok && err == nil && len(msg) > 12 && string(msg[:8]) == "NTLMSSP\x00" && msg[8] == 3
}

// TestE2E_NTLMTransportErrors checks that a failure on the NTLM
// handshake's authenticated leg is reported as what it is: a dropped
// connection as the transport error (as without authentication), a
// cancelled call as the context's error — never as HTTP 401, which would
// read as bad credentials.
func TestE2E_NTLMTransportErrors(t *testing.T) {
	entered := make(chan struct{}, 1)
	var hold atomic.Bool
	stall := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hold.Load() && isNTLMAuthenticate(r) {
				// Read the body so that the server watches the
				// connection and cancels r's context when it closes.
				_, _ = io.Copy(io.Discard, r.Body)
				entered <- struct{}{}
				<-r.Context().Done() // until the client goes away
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	srv, _ := e2eServer(t, ewstest.AuthNTLM, func(o *ewstest.Options) { o.Middleware = append(o.Middleware, stall) })
	var sleeps []time.Duration
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthNTLM, false), &sleeps)
	req := ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}}

	// One drop: GetFolder is idempotent, so the client sends it again.
	srv.Faults().DropConnections(1)
	if res, err := c.GetFolder(context.Background(), req); err != nil || res[0].Err != nil || len(sleeps) != 1 {
		t.Fatalf("GetFolder after one dropped connection: %v (retry waits %v)", err, sleeps)
	}
	// As many drops as attempts: the network error comes back typed.
	srv.Faults().DropConnections(4) // RetryPolicy's default MaxAttempts
	_, err := c.GetFolder(context.Background(), req)
	var he *ews.HTTPError
	var ne *ews.NetworkError
	if !errors.As(err, &ne) || !ne.IsTransient() || errors.Is(err, ews.ErrUnauthorized) || errors.As(err, &he) {
		t.Errorf("dropped connections under NTLM: %v", err)
	}
	if res, err := c.GetFolder(context.Background(), req); err != nil || res[0].Err != nil {
		t.Fatalf("after the drop: %v", err)
	}

	hold.Store(true)
	c.CloseIdleConnections() // a fresh handshake
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.GetFolder(ctx, req)
		done <- err
	}()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, ews.ErrUnauthorized) {
		t.Fatalf("call cancelled during the handshake: %v", err)
	}
}

// statusRecorder captures the status a handler answers with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// TestE2E_PushBackpressure fills the PushListener's Events channel: the
// next POST is answered 503, the fake keeps the notification and retries
// it on its schedule (30 s first, on its clock), and once the application
// reads again the retried notification arrives — nothing is lost, and
// watermarks stay continuous.
func TestE2E_PushBackpressure(t *testing.T) {
	srv, clk := e2eServer(t, ewstest.AuthNone, nil)
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	c := e2eClient(t, srv, nil, nil)
	l, err := ews.NewPushListener(&ews.PushListenerOptions{Token: "push-secret", Buffer: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan struct{}, 16)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		l.ServeHTTP(rec, r)
		if rec.status == http.StatusServiceUnavailable {
			refused <- struct{}{}
		}
	}))
	t.Cleanup(func() { hs.Close(); l.Close() })
	sub := e2ePushSubscribe(ctx, t, c, l, hs.URL)

	// The first POST (a StatusEvent) fills the channel; the mail's POST is
	// refused.
	m1, err := mb.Deliver("inbox", e2eMsg("while the application is busy"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-refused:
	case <-time.After(20 * time.Second):
		t.Fatal("the POST of the new mail was not refused")
	}
	first := recvPushEvent(t, l)
	if !first.Notification.StatusOnly() || first.Notification.PreviousWatermark != sub.Watermark {
		t.Fatalf("first notification %+v", first.Notification)
	}
	// The fake retries on its clock; its timer is set once it has read
	// the 503, so the clock moves to it once it is armed.
	var got *ews.Notification
	for range 100 {
		ev := nextEvent(t, clk, 30*time.Second, l.Events())
		if ev.Err != nil || ev.Gap {
			t.Fatalf("push event %+v", ev)
		}
		if ev.Notification.StatusOnly() {
			continue
		}
		got = ev.Notification
		break
	}
	if got == nil || !slices.Equal(newMailIDs(got), []string{m1.ID}) {
		t.Fatalf("retried notification %+v", got)
	}
	if got.PreviousWatermark != first.Notification.LastWatermark() {
		t.Errorf("retried notification continues %q, last seen %q", got.PreviousWatermark, first.Notification.LastWatermark())
	}
	if l.Dropped() < 1 {
		t.Errorf("Dropped = %d", l.Dropped())
	}
}

// TestE2E_NTLMLanes mirrors several folders concurrently through a
// client limited to two NTLM connections: every call completes, the
// mirrors equal the mailbox, and the server sees no more than two client
// connections, each authenticated once and then reused.
func TestE2E_NTLMLanes(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]int{}
	handshakes := 0
	watch := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			conns[r.RemoteAddr]++
			if isNTLMAuthenticate(r) {
				handshakes++
			}
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}
	srv, _ := e2eServer(t, ewstest.AuthNTLM, func(o *ewstest.Options) { o.Middleware = append(o.Middleware, watch) })
	ctx := context.Background()
	mb := srv.Mailbox(e2eAddress)
	seeded, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 3000, Folders: 10, Seed: 13})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ews.New(srv.URL, &ews.Options{Auth: e2eAuth(ewstest.AuthNTLM, false), MaxConnections: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	folders := slices.Sorted(maps.Keys(seeded.Counts))
	mirrors := make([]*itemMirror, len(folders))
	var g errgroup.Group
	for i, f := range folders {
		mirrors[i] = &itemMirror{folder: f}
		g.Go(func() error { return syncAll(ctx, t, c, mirrors[i], 100) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, m := range mirrors {
		if d := diffItems(m.items, realItems(t, mb, m.folder)); d != "" {
			t.Errorf("folder %s:%s", m.folder, d)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) > 2 || handshakes != len(conns) {
		t.Errorf("%d client connections %v, %d handshakes", len(conns), conns, handshakes)
	}
}

package ews_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// The prototype sync engine of the end-to-end tests: mirrors of a
// mailbox's hierarchy and folders kept by SyncFolderHierarchy and
// SyncFolderItems pages, compared with the fake mailbox's own state. It
// goes when package syncengine covers these proofs.

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

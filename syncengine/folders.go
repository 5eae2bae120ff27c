package syncengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/recovery"
)

// GetItem batch sizes: metadata, and MIME (kept small, as each response is
// bounded by the client's response limit).
const (
	metadataBatch = 100
	mimeBatch     = 16
)

// hierarchyResult is what a hierarchy sync changed.
type hierarchyResult struct {
	created, deleted []localstore.FolderID
}

// syncHierarchy brings the folder tree up to date with SyncFolderHierarchy
// from the stored state, committing each page with its new state. An
// invalid state is dropped: the tree is synced from scratch and folders the
// server no longer reports are removed.
func (m *mailbox) syncHierarchy(ctx context.Context) (hierarchyResult, error) {
	st, err := m.e.store.MailboxState(ctx, m.mb)
	if err != nil && !errors.Is(err, localstore.ErrNotFound) {
		return hierarchyResult{}, err
	}
	res, err := m.syncHierarchyFrom(ctx, st.HierarchySyncState)
	if err != nil && st.HierarchySyncState != "" && errors.Is(err, ews.ErrInvalidSyncStateData) {
		m.log.Warn("hierarchy sync state rejected; resyncing the folder tree from scratch", "err", err)
		return m.syncHierarchyFrom(ctx, "")
	}
	return res, err
}

func (m *mailbox) syncHierarchyFrom(ctx context.Context, state string) (hierarchyResult, error) {
	var res hierarchyResult
	rebuild := state == "" && m.hasFolders(ctx)
	var seen map[localstore.FolderID]bool
	if rebuild {
		seen = make(map[localstore.FolderID]bool)
	}
	props := make(map[localstore.FolderID]ews.Folder)
	root := ews.DistinguishedFolder("msgfolderroot")
	req := ews.SyncFolderHierarchyRequest{SyncFolder: &root, SyncState: state, Shape: folderShape()}
	for last := false; !last; req.SyncState = state {
		page, err := m.remote.SyncFolderHierarchy(ctx, req)
		if err != nil {
			return res, fmt.Errorf("sync hierarchy: %w", err)
		}
		state, last = page.SyncState, page.IncludesLastFolderInRange
		b := localstore.Batch{Mailbox: m.mb}
		if !rebuild || last {
			// A rebuild stores its state only with its last page, which
			// removes the folders it did not report: one interrupted half
			// way starts over (the stored state is the rejected one), as a
			// sync from its new state would never report those deletions.
			b.Hierarchy = &localstore.HierarchySync{SyncState: page.SyncState}
		}
		for _, c := range page.Changes {
			id := localstore.FolderID(c.Folder.ID.ID)
			if c.Kind == ews.ChangeDelete {
				b.FolderDeletes = append(b.FolderDeletes, id)
				res.deleted = append(res.deleted, id)
				continue
			}
			if seen != nil {
				seen[id] = true
			}
			if c.Kind == ews.ChangeCreate {
				res.created = append(res.created, id)
			}
			props[id] = c.Folder
			info := folderInfo(c.Folder)
			if old, err := m.e.store.Folder(ctx, m.mb, id); err == nil && old.SyncState != "" {
				// The counters of an item-synced folder are the ones read
				// with its checkpoint, which recovery compares: a newer
				// UnreadCount here would hide read flips the folder's next
				// sync has not seen yet.
				info.TotalCount, info.UnreadCount = old.TotalCount, old.UnreadCount
			}
			b.Folders = append(b.Folders, info)
		}
		if rebuild && page.IncludesLastFolderInRange {
			for f, err := range m.e.store.Folders(ctx, m.mb) {
				if err != nil {
					return res, err
				}
				if !seen[f.ID] {
					b.FolderDeletes = append(b.FolderDeletes, f.ID)
					res.deleted = append(res.deleted, f.ID)
				}
			}
		}
		if err := m.e.store.Apply(ctx, b); err != nil {
			return res, fmt.Errorf("apply hierarchy: %w", err)
		}
		m.e.metrics.commits.Add(1)
	}
	return res, m.storeUnselectedProps(ctx, props, nil)
}

// storeUnselectedProps records PR_LOCAL_COMMIT_TIME_MAX and
// PR_DELETED_COUNT_TOTAL, as just read from the server, for the folders of
// props that are not item-synced, so that the mirror's folder tree shows the
// server's values for every folder. Item-synced folders keep the values read
// with their own checkpoints (recovery compares those); the unselected ones
// get a checkpoint with no SyncState, which no sync ever writes over. With
// acc the checkpoints join the accumulator's batch; without, they are
// applied at once.
func (m *mailbox) storeUnselectedProps(ctx context.Context, props map[localstore.FolderID]ews.Folder, acc *accumulator) error {
	if len(props) == 0 {
		return nil
	}
	// Selected afresh: a hierarchy sync may just have added or removed
	// folders.
	sel, err := m.selectFolders(ctx)
	if err != nil {
		return err
	}
	b := localstore.Batch{Mailbox: m.mb}
	for id, f := range props {
		cur, ok := sel.byID[id]
		if !ok || sel.isSelected(id) || cur.SyncState != "" {
			continue
		}
		cp := localstore.FolderSync{LocalCommitTimeMax: f.LocalCommitTimeMax, DeletedCountTotal: max(f.DeletedCountTotal, 0)}
		if cur.LocalCommitTimeMax.Equal(cp.LocalCommitTimeMax) && cur.DeletedCountTotal == cp.DeletedCountTotal {
			continue
		}
		b.Checkpoints = append(b.Checkpoints, localstore.Checkpoint{ID: id, FolderSync: cp})
	}
	if len(b.Checkpoints) == 0 {
		return nil
	}
	slices.SortFunc(b.Checkpoints, func(a, c localstore.Checkpoint) int { return strings.Compare(string(a.ID), string(c.ID)) })
	if acc != nil {
		return acc.add(ctx, b)
	}
	if err := m.e.store.Apply(ctx, b); err != nil {
		return fmt.Errorf("apply folder properties: %w", err)
	}
	m.e.metrics.commits.Add(1)
	return nil
}

// refreshUnselected reads the props of the given folders that are not
// item-synced (batched GetFolder, best effort: a failed read is logged and
// skipped) and records them: item events in those
// folders, and passes over the whole mailbox, keep the mirror's tree
// current for them too (SyncFolderHierarchy does not report a folder whose
// only change is its content).
func (m *mailbox) refreshUnselected(ctx context.Context, sel *selection, ids []localstore.FolderID, acc *accumulator) error {
	var want []string
	for _, id := range ids {
		if _, ok := sel.byID[id]; ok && !sel.isSelected(id) {
			want = append(want, string(id))
		}
	}
	if len(want) == 0 {
		return nil
	}
	fresh, err := recovery.ReadProps(ctx, m.remote, want, &recovery.ReadOptions{Shape: folderShape(), Concurrency: m.e.cfg.FolderConcurrency})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Best effort: these folders are not mirrored item by item, and a
		// folder the server will not show must not hold up the sync.
		m.log.Debug("reading the props of folders that are not item-synced failed", "folders", len(want), "err", err)
		return nil
	}
	props := make(map[localstore.FolderID]ews.Folder, len(fresh.Folders))
	for id, f := range fresh.Folders {
		props[localstore.FolderID(id)] = f
	}
	return m.storeUnselectedProps(ctx, props, acc)
}

// unselectedIDs returns the ids of sel's folders that are not item-synced.
func (sel *selection) unselectedIDs() []localstore.FolderID {
	var out []localstore.FolderID
	for _, f := range sel.all {
		if !sel.chosen[f.ID] {
			out = append(out, f.ID)
		}
	}
	return out
}

func (m *mailbox) hasFolders(ctx context.Context) bool {
	for _, err := range m.e.store.Folders(ctx, m.mb) {
		return err == nil
	}
	return false
}

// selection is the mirrored folder tree with the folders selected for
// item sync.
type selection struct {
	all      []localstore.Folder
	selected []localstore.Folder
	byID     map[localstore.FolderID]localstore.Folder
	chosen   map[localstore.FolderID]bool // the ids of selected
}

func (s *selection) isSelected(id localstore.FolderID) bool { return s.chosen[id] }

// selectFolders reads the tree and applies the mailbox's FolderFilter.
func (m *mailbox) selectFolders(ctx context.Context) (*selection, error) {
	s := &selection{byID: make(map[localstore.FolderID]localstore.Folder), chosen: make(map[localstore.FolderID]bool)}
	for f, err := range m.e.store.Folders(ctx, m.mb) {
		if err != nil {
			return nil, err
		}
		s.all = append(s.all, f)
		s.byID[f.ID] = f
	}
	flt := m.cfg.Folders
	paths := make(map[localstore.FolderID]string, len(s.all))
	for _, f := range s.all { // parents come before children
		p := f.DisplayName
		if pp, ok := paths[f.ParentID]; ok {
			p = pp + "/" + p
		}
		paths[f.ID] = strings.ToLower(p)
	}
	var inc, exc map[string]bool
	if len(flt.Include) > 0 || len(flt.Exclude) > 0 {
		ids, err := m.distinguishedIDs(ctx, append(append([]string(nil), flt.Include...), flt.Exclude...))
		if err != nil {
			return nil, err
		}
		inc, exc = entrySet(flt.Include, ids), entrySet(flt.Exclude, ids)
	}
	under := func(f localstore.Folder, set map[string]bool) bool {
		for depth := 0; depth < 64; depth++ {
			if set[string(f.ID)] || set[paths[f.ID]] {
				return true
			}
			p, ok := s.byID[f.ParentID]
			if !ok {
				return false
			}
			f = p
		}
		return false
	}
	for _, f := range s.all {
		var sel bool
		switch {
		case len(inc) > 0:
			sel = under(f, inc)
		case flt.All:
			sel = true
		default:
			sel = IsMailFolder(f.FolderClass)
		}
		if sel && len(exc) > 0 && under(f, exc) {
			sel = false
		}
		if sel {
			s.selected = append(s.selected, f)
			s.chosen[f.ID] = true
		}
	}
	return s, nil
}

// entrySet holds a filter's entries as lower-cased paths and as the ids of
// the distinguished names among them.
func entrySet(entries []string, ids map[string]string) map[string]bool {
	set := make(map[string]bool, len(entries))
	for _, e := range entries {
		e = strings.Trim(strings.TrimSpace(e), "/")
		if id, ok := ids[strings.ToLower(e)]; ok {
			set[id] = true
		}
		set[strings.ToLower(e)] = true
	}
	return set
}

// IsMailFolder reports whether a FolderClass is a mail folder's (IPF.Note,
// a subclass of it, or none), the folders FolderFilter selects by default.
func IsMailFolder(class string) bool {
	return class == "" || class == "IPF.Note" || strings.HasPrefix(class, "IPF.Note.")
}

// distinguishedIDs resolves the entries that are distinguished folder
// names to folder ids, with one GetFolder call, cached.
func (m *mailbox) distinguishedIDs(ctx context.Context, entries []string) (map[string]string, error) {
	m.distMu.Lock()
	defer m.distMu.Unlock()
	if m.dist != nil {
		return m.dist, nil
	}
	var names []string
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if e != "" && !strings.Contains(e, "/") && !strings.Contains(e, " ") {
			names = append(names, e)
		}
	}
	out := make(map[string]string)
	if len(names) > 0 {
		refs := make([]ews.FolderRef, len(names))
		for i, n := range names {
			refs[i] = ews.DistinguishedFolder(n)
		}
		res, err := m.remote.GetFolder(ctx, ews.GetFolderRequest{Folders: refs})
		if err != nil {
			return nil, fmt.Errorf("resolve folder names: %w", err)
		}
		for i, r := range res {
			if r.Err == nil && i < len(names) {
				out[names[i]] = r.Folder.ID.ID
			} // not a distinguished name: a path
		}
	}
	m.dist = out
	return out, nil
}

// folderRun is one folder to sync: its props read just before, and the
// stored checkpoint to sync from.
type folderRun struct {
	folder localstore.Folder
	props  ews.Folder
	readAt time.Time
}

// readRuns reads the props of folders (batched GetFolder) and returns the
// runs to sync, in order; folders the server no longer has are returned
// apart.
func (m *mailbox) readRuns(ctx context.Context, folders []localstore.Folder) ([]folderRun, []localstore.FolderID, error) {
	if len(folders) == 0 {
		return nil, nil, nil
	}
	ids := make([]string, len(folders))
	for i, f := range folders {
		ids[i] = string(f.ID)
	}
	readAt := m.e.cfg.Clock.Now()
	fresh, err := recovery.ReadProps(ctx, m.remote, ids, &recovery.ReadOptions{Shape: folderShape(), Concurrency: m.e.cfg.FolderConcurrency})
	if err != nil {
		return nil, nil, err
	}
	runs := make([]folderRun, 0, len(folders))
	var gone []localstore.FolderID
	for _, f := range folders {
		p, ok := fresh.Folders[string(f.ID)]
		if !ok {
			gone = append(gone, f.ID)
			continue
		}
		runs = append(runs, folderRun{folder: f, props: p, readAt: readAt})
	}
	return runs, gone, nil
}

// syncFolders syncs runs concurrently (Config.FolderConcurrency at a time),
// adding each folder's pages to acc. progress, when set, is called once
// each folder's last page is committed.
func (m *mailbox) syncFolders(ctx context.Context, runs []folderRun, acc *accumulator, progress func(localstore.Folder, changeCount)) (changeCount, error) {
	var total changeCount
	var mu sync.Mutex
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(m.e.cfg.FolderConcurrency)
	for _, r := range runs {
		eg.Go(func() error {
			n, err := m.syncFolder(gctx, r, acc)
			mu.Lock()
			total.add(n)
			mu.Unlock()
			if err != nil {
				return err
			}
			if progress != nil {
				acc.then(func() { progress(r.folder, n) })
			}
			return nil
		})
	}
	err := eg.Wait()
	return total, err
}

// syncFolder runs SyncFolderItems for one folder from its stored state to
// IncludesLastItemInRange, adding each page, with the checkpoint that
// covers it, to acc. The props in r were read before the first call and
// go with every checkpoint (DESIGN.md invariant 3); LastSynced stays zero
// until the last page, so an interrupted sync counts as incomplete.
//
// A state the server rejects (ErrorInvalidSyncStateData) is dropped and the
// folder synced from scratch: its pages are applied without a checkpoint,
// and the last one removes every mirrored item the server did not report,
// so a crash half way starts the rebuild over rather than leaving phantoms.
// A folder the server no longer has is left to the hierarchy sync.
func (m *mailbox) syncFolder(ctx context.Context, r folderRun, acc *accumulator) (changeCount, error) {
	n, err := m.syncFolderFrom(ctx, r, r.folder.SyncState, acc)
	if err != nil && r.folder.SyncState != "" && errors.Is(err, ews.ErrInvalidSyncStateData) {
		m.log.Warn("sync state rejected; resyncing the folder from scratch", "folder", r.folder.DisplayName, "err", err)
		if err := acc.flush(ctx); err != nil { // what was synced before is consistent on its own
			return n, err
		}
		// Count what the mirror holds now, with the pages just committed:
		// a folder that was empty before them still has items to prune.
		cur, ferr := m.e.store.Folder(ctx, m.mb, r.folder.ID)
		switch {
		case ferr == nil:
			r.folder.LocalItems = cur.LocalItems
		case !errors.Is(ferr, localstore.ErrNotFound): // a missing record has nothing to prune
			return n, ferr
		}
		r.folder.SyncState = ""
		var n2 changeCount
		n2, err = m.syncFolderFrom(ctx, r, "", acc)
		n.add(n2)
	}
	if err != nil && (errors.Is(err, ews.ErrSyncFolderNotFound) || errors.Is(err, ews.ErrFolderNotFound)) {
		m.markHierarchyDirty()
		return n, nil
	}
	return n, err
}

func (m *mailbox) syncFolderFrom(ctx context.Context, r folderRun, state string, acc *accumulator) (changeCount, error) {
	var n changeCount
	id := r.folder.ID
	rebuild := state == "" && r.folder.LocalItems > 0
	var seen map[localstore.ItemID]bool
	if rebuild {
		seen = make(map[localstore.ItemID]bool, r.folder.LocalItems)
	}
	shape := ews.MessageMetadataShape(false)
	if m.cfg.Fetch == FetchIDOnly {
		shape = ews.ItemShape{Base: ews.IDOnly}
	}
	info := mergeFolderInfo(folderInfo(r.props), r.folder.FolderInfo)
	req := ews.SyncFolderItemsRequest{Folder: ews.FolderRef{ID: string(id)}, SyncState: state, Shape: shape}
	first := true
	for page, err := range itemPages(ctx, m.remote, req) {
		if err != nil {
			return n, fmt.Errorf("sync folder %q: %w", r.folder.DisplayName, err)
		}
		b := localstore.Batch{Mailbox: m.mb}
		if first {
			b.Folders = []localstore.FolderInfo{info}
			if rebuild && !page.IncludesLastItemInRange {
				// This page replaces the folder's counters; until the last
				// one the folder counts as incomplete (no SyncState, no
				// LastSynced), so that a recovery after an interruption
				// resyncs it instead of comparing those fresh counters.
				b.Checkpoints = []localstore.Checkpoint{{ID: id}}
			}
			first = false
		}
		var fetch []ews.ItemID
		for i := range page.Changes {
			c := &page.Changes[i]
			switch c.Kind {
			case ews.ChangeCreate, ews.ChangeUpdate:
				if seen != nil {
					seen[localstore.ItemID(c.Item.ID.ID)] = true
				}
				if c.Kind == ews.ChangeCreate {
					n.created++
				} else {
					n.updated++
				}
				if m.cfg.Fetch == FetchIDOnly {
					fetch = append(fetch, c.Item.ID)
					continue
				}
				b.Items = append(b.Items, StoreItem(&c.Item, id))
				if m.cfg.MIME {
					fetch = append(fetch, c.Item.ID)
				}
			case ews.ChangeDelete:
				b.ItemDeletes = append(b.ItemDeletes, localstore.ItemID(c.Item.ID.ID))
				n.deleted++
			case ews.ChangeReadFlag:
				b.ReadFlags = append(b.ReadFlags, localstore.ReadFlag{ID: localstore.ItemID(c.Item.ID.ID), IsRead: c.IsRead, ChangeKey: c.Item.ID.ChangeKey})
				n.readFlags++
			}
		}
		if len(fetch) > 0 {
			if err := m.fetchItems(ctx, id, fetch, &b); err != nil {
				return n, err
			}
		}
		last := page.IncludesLastItemInRange
		if !rebuild || last {
			cp := localstore.FolderSync{
				SyncState:          page.SyncState,
				LocalCommitTimeMax: r.props.LocalCommitTimeMax,
				DeletedCountTotal:  max(r.props.DeletedCountTotal, 0),
			}
			if last {
				cp.LastSynced = r.readAt
			}
			b.Checkpoints = []localstore.Checkpoint{{ID: id, FolderSync: cp}}
		}
		if rebuild && last {
			for it, err := range m.e.store.Items(ctx, m.mb, id, localstore.Query{}) {
				if err != nil {
					return n, err
				}
				if !seen[it.ID] {
					b.ItemDeletes = append(b.ItemDeletes, it.ID)
					n.deleted++
				}
			}
		}
		changes := int64(len(page.Changes))
		if err := acc.addThen(ctx, b, func() {
			m.e.metrics.items.Add(changes)
			m.st.update(func(s *MailboxStatus) { s.ItemsDone += changes })
		}); err != nil {
			return n, fmt.Errorf("apply folder %q: %w", r.folder.DisplayName, err)
		}
	}
	return n, nil
}

// fetchItems reads items with batched GetItem: their properties (IdOnly
// strategy) and, with MIME on, their MIME content. Items gone meanwhile
// are skipped; the next sync reports their deletion.
func (m *mailbox) fetchItems(ctx context.Context, folder localstore.FolderID, ids []ews.ItemID, b *localstore.Batch) error {
	props := m.cfg.Fetch == FetchIDOnly
	shape := ews.ItemShape{Base: ews.IDOnly, IncludeMimeContent: true}
	size := mimeBatch
	if props {
		shape = ews.MessageMetadataShape(m.cfg.MIME)
		if !m.cfg.MIME {
			size = metadataBatch
		}
	}
	for start := 0; start < len(ids); start += size {
		chunk := ids[start:min(start+size, len(ids))]
		res, err := m.remote.GetItem(ctx, ews.GetItemRequest{Items: chunk, Shape: shape})
		if err != nil {
			return fmt.Errorf("get items: %w", err)
		}
		for i := range res {
			r := &res[i]
			if r.Err != nil {
				if errors.Is(r.Err, ews.ErrItemNotFound) {
					continue
				}
				return fmt.Errorf("get item: %w", r.Err)
			}
			if props {
				b.Items = append(b.Items, StoreItem(&r.Item, folder))
			}
			if m.cfg.MIME && r.Item.MimeContent != nil {
				b.MIME = append(b.MIME, localstore.MIME{ID: localstore.ItemID(r.Item.ID.ID), Data: r.Item.MimeContent})
			}
		}
	}
	return nil
}

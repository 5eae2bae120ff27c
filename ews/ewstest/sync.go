package ewstest

import (
	"fmt"
	"slices"
	"time"
)

// changeKind is the kind of one ICS change.
type changeKind int

const (
	changeCreate changeKind = iota
	changeUpdate
	changeDelete
	changeReadFlag
)

func (k changeKind) String() string {
	return [...]string{"Create", "Update", "Delete", "ReadFlagChange"}[k]
}

type itemChange struct {
	kind changeKind
	it   *item // the item, or its tombstone for changeDelete
}

type folderChange struct {
	kind changeKind
	f    *folder // nil for changeDelete
	id   string
}

// checkState validates a decoded state against the mailbox, the folder id
// it must name, the expected kind and the tombstone retention.
func (m *Mailbox) checkState(st *syncState, kind byte, folderID string, purgedCN uint64, now time.Time) error {
	switch {
	case st.kind != kind:
		return fmt.Errorf("%w: wrong kind of sync state", ErrInvalidSyncState)
	case st.mbKey != m.stateKey:
		return fmt.Errorf("%w: sync state of another mailbox (or of this one on another server instance)", ErrInvalidSyncState)
	case st.folderID != folderID:
		return fmt.Errorf("%w: sync state of another folder", ErrInvalidSyncState)
	}
	for _, g := range st.segs {
		if g.cn > m.cn || g.hi > m.cn {
			return fmt.Errorf("%w: sync state from the future", ErrInvalidSyncState)
		}
	}
	if st.cursor > m.cn+1 {
		return fmt.Errorf("%w: sync state from the future", ErrInvalidSyncState)
	}
	if t, ok := st.oldest(); ok {
		if now.Sub(t) > m.srv.retention() {
			return fmt.Errorf("%w: sync state older than the tombstone retention", ErrInvalidSyncState)
		}
		if st.minCN() < purgedCN {
			return fmt.Errorf("%w: tombstones the sync state needs were purged", ErrInvalidSyncState)
		}
	}
	return nil
}

// syncItemsLocked computes one page of net changes for f since st, newest
// first, and advances st. It returns the changes and whether they include
// the last change in range. Caller holds m.mu and has validated st.
//
// The state records, per range of entry keys (arrival change numbers),
// the change number at which the client last received those entries. An
// entry whose key is in no range is new to the client (Create, or nothing
// for a tombstone); otherwise a change newer than the baseline is an
// Update, a newer read-flag change alone is a ReadFlagChange, and a newer
// delete is a Delete. Pages walk keys downward from a cursor fixed when
// the pass began, and each page stamps its key range with the change
// number at which it was served, so changes made between pages are
// delivered exactly once: in this pass if the page had not yet reached the
// entry, in the next pass otherwise.
func (m *Mailbox) syncItemsLocked(f *folder, st *syncState, ignore map[string]bool, maxChanges int) ([]itemChange, bool) {
	now := m.now()
	cursor := st.cursor
	if cursor == 0 {
		cursor = m.cn + 1
	}
	changes := make([]itemChange, 0, min(maxChanges, 512))
	segIdx := 0
	lo := uint64(1)
	complete := true
	for i := f.searchEntries(cursor) - 1; i >= 0; i-- {
		e := f.entries[i]
		c, known := st.baseline(e.arrivedCN, &segIdx)
		var kind changeKind
		switch {
		case e.deleted:
			if !known || e.deleteCN <= c {
				continue
			}
			kind = changeDelete
		case !known:
			kind = changeCreate
		case e.changeCN > c:
			kind = changeUpdate
		case e.readCN > c:
			kind = changeReadFlag
		default:
			continue
		}
		if ignore[e.id] {
			continue
		}
		if len(changes) == maxChanges {
			lo = e.arrivedCN + 1
			complete = false
			break
		}
		changes = append(changes, itemChange{kind: kind, it: e})
	}
	if lo <= cursor-1 {
		st.cover(lo, cursor-1, m.cn, now.Unix())
	}
	if !complete {
		st.cursor = lo
		return changes, false
	}
	st.cursor = 0
	return changes, f.lastCN <= st.minCN()
}

// syncFoldersLocked computes the hierarchy changes under root since st
// and advances st. Folders come parents first. A folder is new to the
// client (Create) when it was not under root at the state's change number
// (created since, or moved in from elsewhere), changed (Update) when it was
// there and was renamed or moved since, and gone (Delete) when it was there
// and now is not (deleted, or moved out of the subtree).
func (m *Mailbox) syncFoldersLocked(root *folder, st *syncState) []folderChange {
	now := m.now()
	var base uint64
	known := len(st.segs) > 0
	if known {
		base = st.segs[0].cn
	}
	h := m.newFolderHistory(base)
	var out []folderChange
	inNow := map[string]bool{}
	var walk func(f *folder)
	walk = func(f *folder) {
		for _, c := range f.children {
			inNow[c.id] = true
			switch {
			case !known || !h.underAt(c.id, root.id):
				out = append(out, folderChange{kind: changeCreate, f: c, id: c.id})
			case c.changeCN > base:
				out = append(out, folderChange{kind: changeUpdate, f: c, id: c.id})
			}
			walk(c)
		}
	}
	walk(root)
	if known {
		seen := map[string]bool{}
		consider := func(id string) {
			if seen[id] || inNow[id] || id == root.id {
				return
			}
			seen[id] = true
			if h.underAt(id, root.id) {
				out = append(out, folderChange{kind: changeDelete, id: id})
			}
		}
		// Candidates: folders moved or deleted since the state, and the
		// descendants of moved folders (which moved with them).
		for _, mv := range m.fmoves {
			if mv.cn > base {
				consider(mv.id)
				if f, ok := m.folders[mv.id]; ok {
					var sub func(g *folder)
					sub = func(g *folder) {
						for _, c := range g.children {
							consider(c.id)
							sub(c)
						}
					}
					sub(f)
				}
			}
		}
		for _, t := range m.ftombs {
			if t.deleteCN > base {
				consider(t.id)
			}
		}
	}
	st.segs = []segment{{lo: 1, hi: m.cn, cn: m.cn, time: now.Unix()}}
	st.cursor = 0
	return out
}

// folderHistory answers "where was this folder at change number base?"
// from the live tree, the move records and the tombstones.
type folderHistory struct {
	m    *Mailbox
	base uint64
	// firstMove is each folder's earliest move after base.
	firstMove map[string]folderMove
	tombs     map[string]folderTomb
}

func (m *Mailbox) newFolderHistory(base uint64) *folderHistory {
	h := &folderHistory{m: m, base: base, firstMove: map[string]folderMove{}, tombs: map[string]folderTomb{}}
	for _, mv := range m.fmoves {
		if mv.cn > base {
			if _, ok := h.firstMove[mv.id]; !ok {
				h.firstMove[mv.id] = mv
			}
		}
	}
	for _, t := range m.ftombs {
		h.tombs[t.id] = t
	}
	return h
}

// parentAt returns the folder's parent id at base, and whether the folder
// existed then.
func (h *folderHistory) parentAt(id string) (string, bool) {
	var created uint64
	parent := ""
	if f, ok := h.m.folders[id]; ok {
		created = f.createdCN
		if f.parent != nil {
			parent = f.parent.id
		}
	} else if t, ok := h.tombs[id]; ok {
		created = t.createdCN
		if len(t.ancestors) > 0 {
			parent = t.ancestors[0]
		}
	} else {
		return "", false
	}
	if created > h.base {
		return "", false
	}
	if mv, ok := h.firstMove[id]; ok {
		parent = mv.oldParent
	}
	return parent, true
}

// underAt reports whether the folder was a descendant of root at base.
func (h *folderHistory) underAt(id, root string) bool {
	for range 1000 { // folder depth bound; a cycle is impossible
		p, ok := h.parentAt(id)
		if !ok || p == "" {
			return false
		}
		if p == root {
			return true
		}
		id = p
	}
	return false
}

// purgeFolderTombsLocked drops folder tombstones and move records older
// than the retention.
func (m *Mailbox) purgeFolderTombsLocked(now time.Time) {
	cut := now.Add(-m.srv.retention())
	m.ftombs = slices.DeleteFunc(m.ftombs, func(t folderTomb) bool {
		if t.time.Before(cut) {
			m.fpurgedCN = max(m.fpurgedCN, t.deleteCN)
			return true
		}
		return false
	})
	m.fmoves = slices.DeleteFunc(m.fmoves, func(mv folderMove) bool {
		if mv.time.Before(cut) {
			m.fpurgedCN = max(m.fpurgedCN, mv.cn)
			return true
		}
		return false
	})
}

// SyncChange is one change reported by Mailbox.SyncItems.
type SyncChange struct {
	// Kind is "Create", "Update", "Delete" or "ReadFlagChange".
	Kind   string
	ItemID string
	// IsRead is the item's read flag (for every kind but Delete).
	IsRead bool
}

// SyncResult is one page of Mailbox.SyncItems.
type SyncResult struct {
	// Changes are the net changes since the state given, oldest first.
	Changes []SyncChange
	// State is the sync state to give the next call.
	State string
	// IncludesLast reports whether Changes include the last change in
	// range (IncludesLastItemInRange): no more pages for now.
	IncludesLast bool
}

// SyncItems runs the ICS computation that SyncFolderItems uses, from Go:
// up to maxChanges net changes in the folder since state ("" for a first
// sync). A bad state gives ErrInvalidSyncState.
func (m *Mailbox) SyncItems(folderID, state string, maxChanges int) (SyncResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil {
		return SyncResult{}, err
	}
	st, err := m.itemState(f, state)
	if err != nil {
		return SyncResult{}, err
	}
	if maxChanges < 1 || maxChanges > 512 {
		return SyncResult{}, fmt.Errorf("%w: maxChanges %d out of 1..512", ErrInvalidArgument, maxChanges)
	}
	chs, last := m.syncItemsLocked(f, st, nil, maxChanges)
	out := make([]SyncChange, len(chs))
	for i, c := range chs {
		out[i] = SyncChange{Kind: c.kind.String(), ItemID: c.it.id, IsRead: c.it.msg.IsRead}
	}
	return SyncResult{Changes: out, State: st.encode(), IncludesLast: last}, nil
}

// itemState decodes and validates an item sync state for f ("" = new).
// Caller holds m.mu.
func (m *Mailbox) itemState(f *folder, state string) (*syncState, error) {
	now := m.now()
	m.purgeLocked(f, now)
	if state == "" {
		return &syncState{kind: syncKindItems, mbKey: m.stateKey, folderID: f.id}, nil
	}
	st, err := decodeSyncState(state)
	if err != nil {
		return nil, err
	}
	if err := m.checkState(st, syncKindItems, f.id, f.purgedCN, now); err != nil {
		return nil, err
	}
	return st, nil
}

// folderState decodes and validates a hierarchy sync state for the sync
// root named by rootKey ("" when the request had no SyncFolderId).
func (m *Mailbox) folderState(rootKey, state string) (*syncState, error) {
	now := m.now()
	m.purgeFolderTombsLocked(now)
	if state == "" {
		return &syncState{kind: syncKindFolders, mbKey: m.stateKey, folderID: rootKey}, nil
	}
	st, err := decodeSyncState(state)
	if err != nil {
		return nil, err
	}
	if err := m.checkState(st, syncKindFolders, rootKey, m.fpurgedCN, now); err != nil {
		return nil, err
	}
	return st, nil
}

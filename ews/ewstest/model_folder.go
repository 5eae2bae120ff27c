package ewstest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

func validFolderName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > 255 {
		return fmt.Errorf("%w: %q", ErrInvalidFolderName, name)
	}
	return nil
}

func (f *folder) childNamed(name string) *folder {
	for _, c := range f.children {
		if strings.EqualFold(c.name, name) {
			return c
		}
	}
	return nil
}

// CreateFolder creates a folder under parentID (an id or a distinguished
// name). class "" means IPF.Note. Raises CreatedEvent on the folder and
// ModifiedEvent on the parent.
func (m *Mailbox) CreateFolder(parentID, name, class string) (FolderInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.lookupFolder(parentID)
	if err != nil {
		return FolderInfo{}, err
	}
	f, err := m.createFolderLocked(p, name, class)
	if err != nil {
		return FolderInfo{}, err
	}
	return m.folderInfo(f), nil
}

func (m *Mailbox) createFolderLocked(p *folder, name, class string) (*folder, error) {
	if err := validFolderName(name); err != nil {
		return nil, err
	}
	if p.childNamed(name) != nil {
		return nil, fmt.Errorf("%w: %q", ErrFolderExists, name)
	}
	if class == "" {
		class = "IPF.Note"
	}
	now := m.now()
	cn := m.nextCN()
	f := &folder{id: m.newID(idKindFolder), name: name, class: class, hidden: p.hidden, parent: p,
		createdCN: cn, changeCN: cn, lastCN: cn, commitMax: now.Truncate(time.Second)}
	p.children = append(p.children, f)
	p.lastCN = cn
	m.folders[f.id] = f
	m.publish(m.folderEvent(notify.CreatedEvent, f, now), m.folderEvent(notify.ModifiedEvent, p, now))
	return f, nil
}

// RenameFolder changes a folder's display name. Raises ModifiedEvent.
func (m *Mailbox) RenameFolder(folderID, name string) (FolderInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil {
		return FolderInfo{}, err
	}
	if err := m.renameFolderLocked(f, name); err != nil {
		return FolderInfo{}, err
	}
	return m.folderInfo(f), nil
}

func (m *Mailbox) renameFolderLocked(f *folder, name string) error {
	if err := validFolderName(name); err != nil {
		return err
	}
	if f.parent != nil {
		if c := f.parent.childNamed(name); c != nil && c != f {
			return fmt.Errorf("%w: %q", ErrFolderExists, name)
		}
	}
	now := m.now()
	cn := m.nextCN()
	f.name, f.changeCN, f.lastCN = name, cn, cn
	m.publish(m.folderEvent(notify.ModifiedEvent, f, now))
	return nil
}

// MoveFolder moves a folder (with its subtree) under a new parent. Raises
// MovedEvent on the folder and ModifiedEvent on both parents.
func (m *Mailbox) MoveFolder(folderID, toParentID string) (FolderInfo, error) {
	return m.folderTo(folderID, toParentID, func(f, to *folder) (*folder, error) { return f, m.moveFolderLocked(f, to) })
}

// folderTo looks up two folders with m.mu held and returns the snapshot
// of the folder do returns.
func (m *Mailbox) folderTo(folderID, toID string, do func(f, to *folder) (*folder, error)) (FolderInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil {
		return FolderInfo{}, err
	}
	to, err := m.lookupFolder(toID)
	if err != nil {
		return FolderInfo{}, err
	}
	res, err := do(f, to)
	if err != nil {
		return FolderInfo{}, err
	}
	return m.folderInfo(res), nil
}

func (f *folder) isAncestorOf(g *folder) bool {
	for p := g; p != nil; p = p.parent {
		if p == f {
			return true
		}
	}
	return false
}

func (m *Mailbox) moveFolderLocked(f, to *folder) error {
	if f.dist != "" {
		return codeErr("ErrorMoveDistinguishedFolder", "Distinguished folders cannot be moved.")
	}
	if f.isAncestorOf(to) {
		return fmt.Errorf("%w", ErrMoveIntoSubtree)
	}
	if c := to.childNamed(f.name); c != nil && c != f {
		return fmt.Errorf("%w: %q", ErrFolderExists, f.name)
	}
	now := m.now()
	cn := m.nextCN()
	from := f.parent
	m.fmoves = append(m.fmoves, folderMove{id: f.id, oldParent: from.id, cn: cn, time: now})
	from.children = slices.DeleteFunc(from.children, func(c *folder) bool { return c == f })
	to.children = append(to.children, f)
	f.parent = to
	f.changeCN, f.lastCN, from.lastCN, to.lastCN = cn, cn, cn, cn
	var setHidden func(g *folder)
	setHidden = func(g *folder) {
		g.hidden = to.hidden
		for _, c := range g.children {
			setHidden(c)
		}
	}
	setHidden(f)
	ev := m.folderEvent(notify.MovedEvent, f, now)
	ev.OldID = ev.ID
	ev.OldParentFolderID = notify.ID{ID: from.id, ChangeKey: m.changeKey(true, from.changeCN)}
	m.publish(ev, m.folderEvent(notify.ModifiedEvent, from, now), m.folderEvent(notify.ModifiedEvent, to, now))
	return nil
}

// DeleteFolder deletes a user folder. MoveToDeletedItems moves it under
// Deleted Items (a folder already there is deleted); HardDelete and
// SoftDelete remove it with its subtree and items, raising DeletedEvent on
// the folder and ModifiedEvent on its parent.
func (m *Mailbox) DeleteFolder(folderID string, mode DeleteMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil {
		return err
	}
	return m.deleteFolderLocked(f, mode)
}

func (m *Mailbox) deleteFolderLocked(f *folder, mode DeleteMode) error {
	if f.dist != "" {
		return fmt.Errorf("%w: %s", ErrDistinguishedFolder, f.dist)
	}
	switch mode {
	case HardDelete, SoftDelete:
	case MoveToDeletedItems:
		if di := m.dist["deleteditems"]; !di.isAncestorOf(f) {
			name := f.name
			for i := 2; di.childNamed(name) != nil; i++ {
				name = fmt.Sprintf("%s %d", f.name, i)
			}
			if name != f.name {
				if err := m.renameFolderLocked(f, name); err != nil {
					return err
				}
			}
			return m.moveFolderLocked(f, di)
		}
	default:
		return fmt.Errorf("%w: delete mode %d", ErrInvalidArgument, mode)
	}
	now := m.now()
	cn := m.nextCN()
	p := f.parent
	ev := m.folderEvent(notify.DeletedEvent, f, now)
	var anc []string
	for a := p; a != nil; a = a.parent {
		anc = append(anc, a.id)
	}
	var drop func(g *folder, anc []string)
	drop = func(g *folder, anc []string) {
		for _, c := range g.children {
			drop(c, append(slices.Clone(anc), g.id))
		}
		for _, it := range g.entries {
			if !it.deleted {
				delete(m.items, it.id)
			}
		}
		delete(m.folders, g.id)
		m.ftombs = append(m.ftombs, folderTomb{id: g.id, ancestors: anc, createdCN: g.createdCN, deleteCN: cn, time: now})
	}
	drop(f, anc)
	p.children = slices.DeleteFunc(p.children, func(c *folder) bool { return c == f })
	p.lastCN = cn
	m.publish(ev, m.folderEvent(notify.ModifiedEvent, p, now))
	return nil
}

// purgeLocked drops tombstones older than the retention from f.
func (m *Mailbox) purgeLocked(f *folder, now time.Time) {
	ret := m.srv.retention()
	if f.tombs == 0 || now.Sub(f.oldestTomb) <= ret {
		return
	}
	cut := now.Add(-ret)
	oldest := time.Time{}
	kept := f.entries[:0]
	for _, it := range f.entries {
		if it.deleted && it.deleteTime.Before(cut) {
			f.purgedCN = max(f.purgedCN, it.deleteCN)
			f.tombs--
			continue
		}
		if it.deleted && (oldest.IsZero() || it.deleteTime.Before(oldest)) {
			oldest = it.deleteTime
		}
		kept = append(kept, it)
	}
	clear(f.entries[len(kept):])
	f.entries = kept
	f.oldestTomb = oldest
}

// searchEntries returns the index of the first entry with arrivedCN >= cn.
func (f *folder) searchEntries(cn uint64) int {
	return sort.Search(len(f.entries), func(i int) bool { return f.entries[i].arrivedCN >= cn })
}

// CopyFolder copies the folder, its items and its subfolders under the
// folder toParentID. Copying a folder into its own subtree gives
// ErrMoveIntoSubtree; a sibling with the same name, ErrFolderExists. The
// copies raise CreatedEvent (folders) and CopiedEvent (items).
func (m *Mailbox) CopyFolder(folderID, toParentID string) (FolderInfo, error) {
	return m.folderTo(folderID, toParentID, m.copyFolderLocked)
}

// copyFolderLocked copies f under to. Caller holds m.mu.
func (m *Mailbox) copyFolderLocked(f, to *folder) (*folder, error) {
	if f.isAncestorOf(to) {
		return nil, fmt.Errorf("%w", ErrMoveIntoSubtree)
	}
	cp, err := m.createFolderLocked(to, f.name, f.class)
	if err != nil {
		return nil, err
	}
	for _, it := range slices.Clone(f.entries) {
		if !it.deleted {
			m.copyLocked(it, cp)
		}
	}
	for _, c := range slices.Clone(f.children) {
		if _, err := m.copyFolderLocked(c, cp); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// MarkAllRead sets the read flag of every item in the folder (EWS
// MarkAllItemsAsRead) and returns how many items changed. Each changed
// item is a read-flag-only change: a new ChangeKey, a ReadFlagChange in
// SyncFolderItems, a ModifiedEvent; the folder gets one ModifiedEvent with
// its new UnreadCount.
func (m *Mailbox) MarkAllRead(folderID string, read bool) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil {
		return 0, err
	}
	return m.markAllReadLocked(f, read), nil
}

func (m *Mailbox) markAllReadLocked(f *folder, read bool) int {
	now := m.now()
	var evs []notify.Event
	n := 0
	for _, it := range f.entries {
		if it.deleted || it.msg.IsRead == read {
			continue
		}
		cn := m.nextCN()
		it.msg.IsRead = read
		it.readCN = cn
		if read {
			f.unread--
		} else {
			f.unread++
		}
		m.touchContent(f, cn, now, m.srv.opts.ReadFlagMovesCommitTime)
		evs = append(evs, m.itemEvent(notify.ModifiedEvent, it, now))
		n++
	}
	if n > 0 {
		evs = append(evs, m.folderEvent(notify.ModifiedEvent, f, now))
		m.publish(evs...)
	}
	return n
}

// EmptyFolder deletes every item in the folder with the given mode (EWS
// EmptyFolder), and its subfolders too when deleteSubfolders is set.
// Distinguished subfolders are never deleted. It returns the number of
// items deleted.
func (m *Mailbox) EmptyFolder(folderID string, mode DeleteMode, deleteSubfolders bool) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil {
		return 0, err
	}
	return m.emptyFolderLocked(f, mode, deleteSubfolders)
}

func (m *Mailbox) emptyFolderLocked(f *folder, mode DeleteMode, deleteSubfolders bool) (int, error) {
	switch mode {
	case HardDelete, SoftDelete, MoveToDeletedItems:
	default:
		return 0, fmt.Errorf("%w: delete mode %d", ErrInvalidArgument, mode)
	}
	live := make([]*item, 0, f.live)
	for _, it := range f.entries {
		if !it.deleted {
			live = append(live, it)
		}
	}
	for _, it := range live {
		if err := m.deleteLocked(it, mode); err != nil {
			return 0, err
		}
	}
	if deleteSubfolders {
		for _, c := range append([]*folder(nil), f.children...) {
			if c.dist != "" {
				continue
			}
			if err := m.deleteFolderLocked(c, mode); err != nil {
				return 0, err
			}
		}
	}
	return len(live), nil
}

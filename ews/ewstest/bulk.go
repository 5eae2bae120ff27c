package ewstest

import (
	"fmt"

	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

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

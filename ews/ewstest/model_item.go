package ewstest

import (
	"fmt"
	"slices"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

// Deliver stores msg in the folder as newly delivered mail and raises the
// events Exchange raises for new mail: CreatedEvent and NewMailEvent on the
// item, ModifiedEvent (with UnreadCount) on the folder.
func (m *Mailbox) Deliver(folderID string, msg Message) (ItemInfo, error) {
	return m.create(folderID, msg, true)
}

// CreateItem stores msg in the folder as a saved item (CreateItem with
// MessageDisposition SaveOnly): CreatedEvent on the item and ModifiedEvent
// on the folder, no NewMailEvent.
func (m *Mailbox) CreateItem(folderID string, msg Message) (ItemInfo, error) {
	return m.create(folderID, msg, false)
}

func (m *Mailbox) create(folderID string, msg Message, newMail bool) (ItemInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil {
		return ItemInfo{}, err
	}
	now := m.now()
	it := m.insertLocked(f, cloneMessage(msg), now)
	evs := []notify.Event{m.itemEvent(notify.CreatedEvent, it, now)}
	if newMail {
		evs = append(evs, m.itemEvent(notify.NewMailEvent, it, now))
	}
	evs = append(evs, m.folderEvent(notify.ModifiedEvent, f, now))
	m.publish(evs...)
	return m.itemInfo(it), nil
}

// DeliverBatch stores many messages in one folder at once, for seeding:
// it takes the lock once, does O(1) work per message (MIME is rendered
// lazily), and raises one ModifiedEvent for the folder instead of
// per-item events.
func (m *Mailbox) DeliverBatch(folderID string, msgs []Message) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil {
		return nil, err
	}
	now := m.now()
	ids := make([]string, len(msgs))
	f.entries = slices.Grow(f.entries, len(msgs))
	for i, msg := range msgs {
		ids[i] = m.insertLocked(f, cloneMessage(msg), now).id
	}
	m.publish(m.folderEvent(notify.ModifiedEvent, f, now))
	return ids, nil
}

func cloneMessage(msg Message) Message {
	msg.To = slices.Clone(msg.To)
	msg.Cc = slices.Clone(msg.Cc)
	msg.Bcc = slices.Clone(msg.Bcc)
	msg.Categories = slices.Clone(msg.Categories)
	msg.Attachments = slices.Clone(msg.Attachments)
	msg.MIME = slices.Clone(msg.MIME)
	msg.ext = cloneExt(msg.ext)
	return msg
}

// ItemUpdate lists changes to an item; nil fields are left alone.
type ItemUpdate struct {
	IsRead     *bool
	Subject    *string
	Categories *[]string
	FlagStatus *string
	Importance *string
	Body       *string
	// Sensitivity is Normal, Personal, Private or Confidential.
	Sensitivity *string
	// AppendBody appends Body to the current body instead of replacing it
	// (UpdateItem's AppendToItemField).
	AppendBody bool
	// ChangeKey, when set, must be the item's current ChangeKey unless
	// Overwrite is true; a stale one gives ErrConflict.
	ChangeKey string
	Overwrite bool

	// ext sets (or, with a nil value, removes) extended properties by
	// extKey: UpdateItem's SetItemField and DeleteItemField with an
	// ExtendedFieldURI.
	ext map[string]*extValue
}

// SetRead sets the item's read flag. A read-flag-only change gets a new
// ChangeKey and is reported by SyncFolderItems as ReadFlagChange; it moves
// PR_LOCAL_COMMIT_TIME_MAX only when Options.ReadFlagMovesCommitTime is set.
func (m *Mailbox) SetRead(itemID string, read bool) (ItemInfo, error) {
	return m.UpdateItem(itemID, ItemUpdate{IsRead: &read, Overwrite: true})
}

// UpdateItem applies u to the item and raises ModifiedEvent on the item
// (and on its folder when the unread count changed).
func (m *Mailbox) UpdateItem(itemID string, u ItemUpdate) (ItemInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, err := m.lookupItem(itemID)
	if err != nil {
		return ItemInfo{}, err
	}
	if err := m.updateLocked(it, u); err != nil {
		return ItemInfo{}, err
	}
	return m.itemInfo(it), nil
}

func (m *Mailbox) updateLocked(it *item, u ItemUpdate) error {
	if u.ChangeKey != "" && !u.Overwrite && u.ChangeKey != m.changeKey(false, it.keyCN()) {
		return fmt.Errorf("%w: item %q", ErrConflict, it.id)
	}
	now := m.now()
	f := it.folder
	readChanged := u.IsRead != nil && *u.IsRead != it.msg.IsRead
	content := u.Subject != nil || u.Categories != nil || u.FlagStatus != nil || u.Importance != nil || u.Body != nil || u.Sensitivity != nil
	extChanged := len(u.ext) > 0
	if !readChanged && !content && !extChanged {
		return nil
	}
	cn := m.nextCN()
	if extChanged {
		// A MAPI property write is a change to the item, but leaves the
		// message's MIME alone.
		it.msg.ext = cloneExt(it.msg.ext)
		for k, v := range u.ext {
			if v == nil {
				delete(it.msg.ext, k)
			} else {
				it.msg.setExt(k, *v)
			}
		}
		it.changeCN = cn
		it.modified = now
	}
	if readChanged {
		it.msg.IsRead = *u.IsRead
		it.readCN = cn
		if it.msg.IsRead {
			f.unread--
		} else {
			f.unread++
		}
	}
	if content {
		if u.Subject != nil {
			it.msg.Subject = *u.Subject
		}
		if u.Categories != nil {
			it.msg.Categories = slices.Clone(*u.Categories)
		}
		if u.FlagStatus != nil {
			it.msg.FlagStatus = *u.FlagStatus
		}
		if u.Importance != nil {
			it.msg.Importance = *u.Importance
		}
		if u.Sensitivity != nil {
			it.msg.Sensitivity = *u.Sensitivity
		}
		if u.Body != nil && u.AppendBody {
			it.msg.Body += *u.Body
		} else if u.Body != nil {
			it.msg.Body = *u.Body
		}
		if u.Subject != nil || u.Categories != nil || u.Importance != nil || u.Body != nil || u.Sensitivity != nil {
			// These show in the MIME; the follow-up flag does not (an
			// IMAP client flagging a message must see the same body).
			it.msg.MIME = nil
			it.size = 0
		}
		it.changeCN = cn
		it.modified = now
	}
	m.touchContent(f, cn, now, content || extChanged || m.srv.opts.ReadFlagMovesCommitTime)
	evs := []notify.Event{m.itemEvent(notify.ModifiedEvent, it, now)}
	if readChanged {
		evs = append(evs, m.folderEvent(notify.ModifiedEvent, f, now))
	}
	m.publish(evs...)
	return nil
}

// MoveItem moves the item to another folder. As on Exchange the moved item
// gets a new ItemId (returned); the old id is gone. Raises MovedEvent on the
// item and ModifiedEvent on both folders.
func (m *Mailbox) MoveItem(itemID, toFolderID string) (ItemInfo, error) {
	return m.itemTo(itemID, toFolderID, func(it *item, to *folder) *item { return m.moveLocked(it, to, false) })
}

// itemTo looks up an item and a folder with m.mu held and returns the
// snapshot of the item do returns.
func (m *Mailbox) itemTo(itemID, folderID string, do func(it *item, to *folder) *item) (ItemInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, err := m.lookupItem(itemID)
	if err != nil {
		return ItemInfo{}, err
	}
	to, err := m.lookupFolder(folderID)
	if err != nil {
		return ItemInfo{}, err
	}
	return m.itemInfo(do(it, to)), nil
}

func (m *Mailbox) moveLocked(it *item, to *folder, keepKey bool) *item {
	now := m.now()
	from := it.folder
	oldID, oldCK := it.id, m.changeKey(false, it.keyCN())
	oldKeyCN := it.keyCN()
	cn := m.nextCN()
	m.detachLocked(it, cn, now)
	moved := &item{id: m.newID(idKindItem), msg: it.msg, arrivedCN: cn, changeCN: cn, created: it.created, modified: now, size: it.size}
	if keepKey {
		moved.keptCN = oldKeyCN
	}
	m.attachLocked(to, moved, now)
	ev := m.itemEvent(notify.MovedEvent, moved, now)
	ev.OldID = notify.ID{ID: oldID, ChangeKey: oldCK}
	ev.OldParentFolderID = notify.ID{ID: from.id, ChangeKey: m.changeKey(true, from.changeCN)}
	m.publish(ev, m.folderEvent(notify.ModifiedEvent, from, now), m.folderEvent(notify.ModifiedEvent, to, now))
	return moved
}

// CopyItem copies the item into a folder and returns the copy. Raises
// CopiedEvent on the copy and ModifiedEvent on the target folder.
func (m *Mailbox) CopyItem(itemID, toFolderID string) (ItemInfo, error) {
	return m.itemTo(itemID, toFolderID, m.copyLocked)
}

func (m *Mailbox) copyLocked(it *item, to *folder) *item {
	now := m.now()
	cn := m.nextCN()
	msg := cloneMessage(it.msg)
	cp := &item{id: m.newID(idKindItem), msg: msg, arrivedCN: cn, changeCN: cn, created: now, modified: now, size: it.size}
	m.attachLocked(to, cp, now)
	ev := m.itemEvent(notify.CopiedEvent, cp, now)
	ev.OldID = notify.ID{ID: it.id, ChangeKey: m.changeKey(false, it.keyCN())}
	ev.OldParentFolderID = notify.ID{ID: it.folder.id, ChangeKey: m.changeKey(true, it.folder.changeCN)}
	m.publish(ev, m.folderEvent(notify.ModifiedEvent, to, now))
	return cp
}

// DeleteItem deletes the item. HardDelete raises DeletedEvent; SoftDelete
// and MoveToDeletedItems move the item (to Recoverable Items/Deletions or
// Deleted Items) and raise MovedEvent, as Exchange 2013+ reports them to a
// folder subscription. Every mode raises ModifiedEvent on the folders
// involved and grows the source folder's PR_DELETED_COUNT_TOTAL.
func (m *Mailbox) DeleteItem(itemID string, mode DeleteMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, err := m.lookupItem(itemID)
	if err != nil {
		return err
	}
	return m.deleteLocked(it, mode)
}

func (m *Mailbox) deleteLocked(it *item, mode DeleteMode) error {
	switch mode {
	case HardDelete:
		now := m.now()
		f := it.folder
		ev := m.itemEvent(notify.DeletedEvent, it, now)
		m.detachLocked(it, m.nextCN(), now)
		m.publish(ev, m.folderEvent(notify.ModifiedEvent, f, now))
	case SoftDelete:
		m.moveLocked(it, m.dist["recoverableitemsdeletions"], true)
	case MoveToDeletedItems:
		if it.folder == m.dist["deleteditems"] {
			m.moveLocked(it, m.dist["recoverableitemsdeletions"], true)
		} else {
			m.moveLocked(it, m.dist["deleteditems"], true)
		}
	default:
		return fmt.Errorf("%w: delete mode %d", ErrInvalidArgument, mode)
	}
	return nil
}

// SendItem sends a saved draft (EWS SendItem): a copy is delivered to the
// Inbox of every recipient whose mailbox is on this server, and the draft
// is moved to saveFolderID ("" means Sent Items) as a sent, read message,
// or deleted when save is false. It returns the sent copy's ItemId ("" when
// not saved). Sending an item that is not a draft gives ErrorInvalidRequest
// (ErrInvalidArgument).
func (m *Mailbox) SendItem(itemID, saveFolderID string, save bool) (string, error) {
	m.mu.Lock()
	it, err := m.lookupItem(itemID)
	if err != nil {
		m.mu.Unlock()
		return "", err
	}
	if !it.msg.IsDraft {
		m.mu.Unlock()
		return "", fmt.Errorf("%w: item %s is not a draft", ErrInvalidArgument, itemID)
	}
	if saveFolderID == "" {
		saveFolderID = "sentitems"
	}
	to, err := m.lookupFolder(saveFolderID)
	if err != nil {
		m.mu.Unlock()
		return "", err
	}
	msg := cloneMessage(it.msg)
	if msg.From.Email == "" {
		msg.From = Address{Name: m.user, Email: m.address}
	}
	sentID := ""
	if save {
		sent := m.moveLocked(it, to, false)
		cn := m.nextCN()
		sent.msg.IsDraft = false
		sent.msg.From = msg.From
		sent.msg.DateTimeSent = m.now().Truncate(time.Second)
		sent.changeCN = cn
		sent.size = 0
		if !sent.msg.IsRead {
			sent.msg.IsRead = true
			sent.readCN = cn
			to.unread--
		}
		m.touchContent(to, cn, m.now(), true)
		sentID = sent.id
	} else if err := m.deleteLocked(it, HardDelete); err != nil {
		m.mu.Unlock()
		return "", err
	}
	m.mu.Unlock()
	// Deliver after releasing this mailbox: recipients' mailboxes lock on
	// their own, and a message to oneself must not deadlock.
	msg.IsDraft, msg.IsRead = false, false
	msg.DateTimeSent, msg.DateTimeReceived = m.now(), time.Time{}
	for _, rcpt := range slices.Concat(msg.To, msg.Cc, msg.Bcc) {
		if rm := m.srv.Mailbox(rcpt.Email); rm != nil {
			in := cloneMessage(msg)
			in.Bcc = nil
			if _, err := rm.Deliver("inbox", in); err != nil {
				return sentID, err
			}
		}
	}
	return sentID, nil
}

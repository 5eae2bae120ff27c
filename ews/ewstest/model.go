package ewstest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

// DeleteMode says how DeleteItem and DeleteFolder dispose of an object
// (t:DeleteType).
type DeleteMode int

// The delete modes EWS defines.
const (
	// HardDelete removes the object for good.
	HardDelete DeleteMode = iota
	// SoftDelete moves an item to the Recoverable Items "Deletions" folder
	// (hidden from the IPM subtree). Folders are removed.
	SoftDelete
	// MoveToDeletedItems moves the object to Deleted Items; an item that is
	// already there is soft-deleted.
	MoveToDeletedItems
)

func parseDeleteMode(s string) (DeleteMode, bool) {
	switch s {
	case "HardDelete":
		return HardDelete, true
	case "SoftDelete":
		return SoftDelete, true
	case "MoveToDeletedItems":
		return MoveToDeletedItems, true
	}
	return 0, false
}

// item is a stored item, or a tombstone (deleted) that keeps its place in
// its folder's entries until retention purges it.
type item struct {
	id     string
	folder *folder
	msg    Message
	// arrivedCN is the change number at which the item arrived in its
	// folder (created, delivered, moved or copied in). It is the item's
	// stable sort key inside the folder.
	arrivedCN uint64
	// changeCN is the last change to anything but the read flag; readCN is
	// the last read-flag change.
	changeCN, readCN uint64
	created          time.Time
	modified         time.Time
	size             int // cached MIME length, 0 = not yet computed

	deleted    bool
	deleteCN   uint64
	deleteTime time.Time
	// keptCN, when set, is the change number the ChangeKey still reflects
	// after a delete moved the item (see keyCN).
	keptCN uint64
}

func (it *item) lastCN() uint64 { return max(it.arrivedCN, it.changeCN, it.readCN) }

// keyCN is the change number the item's ChangeKey is derived from. An
// item moved to Deleted Items or to the Deletions folder by a delete
// keeps its ChangeKey until it is next changed ("An item's change key is
// not updated when the item is moved to the Deleted Items or Deletions
// folder", Microsoft's "Deleting items by using EWS in Exchange").
func (it *item) keyCN() uint64 {
	if it.keptCN != 0 && it.lastCN() == it.arrivedCN {
		return it.keptCN
	}
	return it.lastCN()
}

func (it *item) mimeSize() int {
	if it.size == 0 {
		it.size = it.msg.mimeLen()
	}
	return it.size
}

// folder is a mailbox folder.
type folder struct {
	id     string
	dist   string // distinguished name, "" for user folders
	name   string
	class  string
	hidden bool // outside the IPM subtree
	parent *folder
	// children in creation order.
	children []*folder
	// entries holds the folder's items and tombstones sorted by arrivedCN.
	entries []*item
	live    int
	unread  int
	tombs   int

	createdCN  uint64
	changeCN   uint64 // rename, move
	lastCN     uint64 // last change to the folder or its contents
	commitMax  time.Time
	deleted    int64 // PR_DELETED_COUNT_TOTAL
	purgedCN   uint64
	oldestTomb time.Time
}

// folderMove records that a folder left oldParent at change number cn,
// so that hierarchy sync can tell where a folder was at a state's time.
type folderMove struct {
	id        string
	oldParent string
	cn        uint64
	time      time.Time
}

type folderTomb struct {
	id        string
	ancestors []string
	createdCN uint64
	deleteCN  uint64
	time      time.Time
}

// Mailbox is one user's mailbox in the fake server. Its methods are the
// same mutation functions the SOAP operations use, so tests, the seeder
// and the activity generator change the mailbox exactly as a client would,
// raising the same events. All methods are safe for concurrent use.
type Mailbox struct {
	srv      *Server
	mu       sync.Mutex
	address  string
	user     string
	database string
	key      uint64
	guid     string

	cn        uint64
	idSeq     uint64
	folders   map[string]*folder
	dist      map[string]*folder
	items     map[string]*item
	ftombs    []folderTomb
	fmoves    []folderMove
	fpurgedCN uint64
	root      *folder
	ext       mailboxExt // state of ops_misc.go
}

// distinguished folders: name, display name, class, parent, hidden.
var distinguishedFolders = []struct {
	id, name, class, parent string
	hidden                  bool
}{
	{"root", "Root", "", "", true},
	{"msgfolderroot", "Top of Information Store", "", "root", false},
	{"inbox", "Inbox", "IPF.Note", "msgfolderroot", false},
	{"drafts", "Drafts", "IPF.Note", "msgfolderroot", false},
	{"sentitems", "Sent Items", "IPF.Note", "msgfolderroot", false},
	{"deleteditems", "Deleted Items", "IPF.Note", "msgfolderroot", false},
	{"junkemail", "Junk Email", "IPF.Note", "msgfolderroot", false},
	{"outbox", "Outbox", "IPF.Note", "msgfolderroot", false},
	{"archive", "Archive", "IPF.Note", "msgfolderroot", false},
	{"conversationhistory", "Conversation History", "IPF.Note", "msgfolderroot", false},
	{"calendar", "Calendar", "IPF.Appointment", "msgfolderroot", false},
	{"contacts", "Contacts", "IPF.Contact", "msgfolderroot", false},
	{"tasks", "Tasks", "IPF.Task", "msgfolderroot", false},
	{"notes", "Notes", "IPF.StickyNote", "msgfolderroot", false},
	{"journal", "Journal", "IPF.Journal", "msgfolderroot", false},
	{"searchfolders", "Finder", "", "root", true},
	{"recoverableitemsroot", "Recoverable Items", "", "root", true},
	{"recoverableitemsdeletions", "Deletions", "", "recoverableitemsroot", true},
}

func newMailbox(srv *Server, u User) *Mailbox {
	m := &Mailbox{
		srv:      srv,
		address:  strings.ToLower(u.Address),
		user:     u.Name,
		database: u.Database,
		folders:  make(map[string]*folder),
		dist:     make(map[string]*folder),
		items:    make(map[string]*item),
	}
	m.key = mailboxKey(m.address)
	m.guid = mailboxGUID(m.key)
	now := srv.now()
	for _, d := range distinguishedFolders {
		m.cn++
		f := &folder{id: m.newID(idKindFolder), dist: d.id, name: d.name, class: d.class, hidden: d.hidden,
			createdCN: m.cn, changeCN: m.cn, lastCN: m.cn, commitMax: now.Truncate(time.Second)}
		if d.parent != "" {
			f.parent = m.dist[d.parent]
			f.parent.children = append(f.parent.children, f)
		}
		m.folders[f.id] = f
		m.dist[d.id] = f
	}
	m.root = m.dist["root"]
	return m
}

// Address returns the mailbox's primary SMTP address (lower case).
func (m *Mailbox) Address() string { return m.address }

// Database returns the id of the mailbox database that holds the mailbox.
func (m *Mailbox) Database() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.database
}

func (m *Mailbox) nextCN() uint64 { m.cn++; return m.cn }

func (m *Mailbox) now() time.Time { return m.srv.now() }

func (m *Mailbox) publish(evs ...notify.Event) {
	if s := m.srv.sink(); s != nil {
		s.Publish(m.database, m.address, evs...)
	}
}

// FolderInfo is a snapshot of a folder's properties.
type FolderInfo struct {
	ID              string
	ChangeKey       string
	ParentID        string // empty for the root
	DisplayName     string
	FolderClass     string
	DistinguishedID string // "" for user folders
	TotalCount      int
	UnreadCount     int
	// ChildFolderCount counts direct subfolders.
	ChildFolderCount int
	// LocalCommitTimeMax is PR_LOCAL_COMMIT_TIME_MAX (one-second
	// granularity).
	LocalCommitTimeMax time.Time
	// DeletedCountTotal is PR_DELETED_COUNT_TOTAL.
	DeletedCountTotal int64
	// ChangeNumber is the folder's last change number (contents included).
	ChangeNumber uint64
}

// ItemInfo is a snapshot of an item.
type ItemInfo struct {
	ID           string
	ChangeKey    string
	FolderID     string
	Message      Message
	Size         int
	Created      time.Time
	LastModified time.Time
}

func (m *Mailbox) folderInfo(f *folder) FolderInfo {
	fi := FolderInfo{ID: f.id, ChangeKey: m.changeKey(true, f.changeCN), DisplayName: f.name, FolderClass: f.class,
		DistinguishedID: f.dist, TotalCount: f.live, UnreadCount: f.unread, ChildFolderCount: len(f.children),
		LocalCommitTimeMax: f.commitMax, DeletedCountTotal: f.deleted, ChangeNumber: f.lastCN}
	if f.parent != nil {
		fi.ParentID = f.parent.id
	}
	return fi
}

func (m *Mailbox) itemInfo(it *item) ItemInfo {
	return ItemInfo{ID: it.id, ChangeKey: m.changeKey(false, it.keyCN()), FolderID: it.folder.id, Message: it.msg,
		Size: it.mimeSize(), Created: it.created, LastModified: it.modified}
}

// lookupFolder resolves a folder id or a distinguished folder name.
// Caller holds m.mu.
func (m *Mailbox) lookupFolder(id string) (*folder, error) {
	if f, ok := m.folders[id]; ok {
		return f, nil
	}
	if f, ok := m.dist[id]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrFolderNotFound, id)
}

func (m *Mailbox) lookupItem(id string) (*item, error) {
	if it, ok := m.items[id]; ok {
		return it, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrItemNotFound, id)
}

// FolderID resolves a distinguished folder name (such as "inbox") or a
// folder id to the folder's id.
func (m *Mailbox) FolderID(idOrDistinguished string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(idOrDistinguished)
	if err != nil {
		return "", err
	}
	return f.id, nil
}

// Folder returns a snapshot of the folder with the given id or
// distinguished name.
func (m *Mailbox) Folder(id string) (FolderInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(id)
	if err != nil {
		return FolderInfo{}, err
	}
	return m.folderInfo(f), nil
}

// Folders returns every folder of the mailbox, parents before children.
func (m *Mailbox) Folders() []FolderInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []FolderInfo
	var walk func(f *folder)
	walk = func(f *folder) {
		out = append(out, m.folderInfo(f))
		for _, c := range f.children {
			walk(c)
		}
	}
	walk(m.root)
	return out
}

// Item returns a snapshot of the item with the given id.
func (m *Mailbox) Item(id string) (ItemInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, err := m.lookupItem(id)
	if err != nil {
		return ItemInfo{}, err
	}
	return m.itemInfo(it), nil
}

// Items returns the items of a folder, newest arrival first.
func (m *Mailbox) Items(folderID string) ([]ItemInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil {
		return nil, err
	}
	out := make([]ItemInfo, 0, f.live)
	for i := len(f.entries) - 1; i >= 0; i-- {
		if it := f.entries[i]; !it.deleted {
			out = append(out, m.itemInfo(it))
		}
	}
	return out, nil
}

// touchContent records a content change of f at cn: PR_LOCAL_COMMIT_TIME_MAX
// moves (one-second granularity) when commit is true.
func (m *Mailbox) touchContent(f *folder, cn uint64, now time.Time, commit bool) {
	f.lastCN = cn
	if commit {
		if t := now.Truncate(time.Second); t.After(f.commitMax) {
			f.commitMax = t
		}
	}
}

func (m *Mailbox) folderEvent(kind notify.EventKind, f *folder, now time.Time) notify.Event {
	ev := notify.Event{Kind: kind, Time: now, Folder: true, ID: notify.ID{ID: f.id, ChangeKey: m.changeKey(true, f.changeCN)}}
	if f.parent != nil {
		ev.ParentFolderID = notify.ID{ID: f.parent.id, ChangeKey: m.changeKey(true, f.parent.changeCN)}
	}
	if kind == notify.ModifiedEvent {
		n := f.unread
		ev.UnreadCount = &n
	}
	return ev
}

func (m *Mailbox) itemEvent(kind notify.EventKind, it *item, now time.Time) notify.Event {
	return notify.Event{Kind: kind, Time: now, ID: notify.ID{ID: it.id, ChangeKey: m.changeKey(false, it.keyCN())},
		ParentFolderID: notify.ID{ID: it.folder.id, ChangeKey: m.changeKey(true, it.folder.changeCN)}, ItemClass: it.msg.ItemClass}
}

// insertLocked stores msg as a new item in f. Caller holds m.mu.
func (m *Mailbox) insertLocked(f *folder, msg Message, now time.Time) *item {
	cn := m.nextCN()
	msg.normalize(now, cn)
	it := &item{id: m.newID(idKindItem), folder: f, msg: msg, arrivedCN: cn, changeCN: cn, created: now, modified: now}
	m.attachLocked(f, it, now)
	return it
}

// attachLocked appends it (whose arrivedCN is the newest change number) to f.
func (m *Mailbox) attachLocked(f *folder, it *item, now time.Time) {
	it.folder = f
	f.entries = append(f.entries, it)
	f.live++
	if !it.msg.IsRead {
		f.unread++
	}
	m.items[it.id] = it
	m.touchContent(f, it.arrivedCN, now, true)
}

// detachLocked turns it into a tombstone in its folder at cn.
func (m *Mailbox) detachLocked(it *item, cn uint64, now time.Time) {
	f := it.folder
	it.deleted, it.deleteCN, it.deleteTime = true, cn, now
	f.live--
	if !it.msg.IsRead {
		f.unread--
	}
	if f.tombs == 0 {
		f.oldestTomb = now
	}
	f.tombs++
	f.deleted++
	delete(m.items, it.id)
	m.touchContent(f, cn, now, false)
}

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
	m.mu.Lock()
	defer m.mu.Unlock()
	it, err := m.lookupItem(itemID)
	if err != nil {
		return ItemInfo{}, err
	}
	to, err := m.lookupFolder(toFolderID)
	if err != nil {
		return ItemInfo{}, err
	}
	return m.itemInfo(m.moveLocked(it, to, false)), nil
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
	m.mu.Lock()
	defer m.mu.Unlock()
	it, err := m.lookupItem(itemID)
	if err != nil {
		return ItemInfo{}, err
	}
	to, err := m.lookupFolder(toFolderID)
	if err != nil {
		return ItemInfo{}, err
	}
	return m.itemInfo(m.copyLocked(it, to)), nil
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
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(folderID)
	if err != nil {
		return FolderInfo{}, err
	}
	to, err := m.lookupFolder(toParentID)
	if err != nil {
		return FolderInfo{}, err
	}
	if err := m.moveFolderLocked(f, to); err != nil {
		return FolderInfo{}, err
	}
	return m.folderInfo(f), nil
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

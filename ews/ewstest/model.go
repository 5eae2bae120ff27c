package ewstest

import (
	"fmt"
	"math/rand/v2"
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
	// stateKey, random for each Mailbox made, goes into its sync states:
	// a state issued by another instance (a restarted syncdemo serve with
	// the same seed, whose change numbers started again) is rejected
	// instead of read against change numbers it never saw.
	stateKey uint64

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
	m.stateKey = rand.Uint64()
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

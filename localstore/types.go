package localstore

import (
	"fmt"
	"time"
)

// Mailbox is the SMTP address that names a mirrored mailbox, e.g.
// "alice@example.com". Mailboxes are compared byte for byte: normalise case
// before handing addresses to the store.
type Mailbox string

// FolderID is an Exchange folder id (the opaque base64 FolderId/@Id).
type FolderID string

// ItemID is an Exchange item id (the opaque base64 ItemId/@Id).
type ItemID string

// Address is a mailbox as it appears in From, To and Cc.
type Address struct {
	Name  string // display name, may be empty
	Email string // SMTP address, may be empty for unresolved recipients
}

// Importance is an item's importance (t:Importance).
type Importance uint8

// The three Exchange importance values. The zero value is Normal.
const (
	ImportanceNormal Importance = iota
	ImportanceLow
	ImportanceHigh
)

// String returns the Exchange spelling ("Low", "Normal", "High").
func (i Importance) String() string {
	return enumName(importanceNames[:], uint8(i), "Importance")
}

var importanceNames = [...]string{ImportanceNormal: "Normal", ImportanceLow: "Low", ImportanceHigh: "High"}

// enumName returns names[v], or typ(v) for a value without a name.
func enumName(names []string, v uint8, typ string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, v)
}

// Item is the metadata of one message (or other item) in a mirrored folder.
//
// Times are stored with nanosecond precision and come back in UTC.
type Item struct {
	ID                ItemID
	ChangeKey         string
	FolderID          FolderID // the parent folder; changing it on upsert moves the item
	ItemClass         string   // e.g. "IPM.Note"
	Subject           string
	From              Address
	To                []Address
	Cc                []Address
	Received          time.Time // DateTimeReceived: the newest-first order key
	Sent              time.Time // DateTimeSent
	Size              int64     // bytes, as Exchange reports it
	IsRead            bool
	HasAttachments    bool
	Importance        Importance
	Categories        []string
	InternetMessageID string
	ConversationID    string
}

// Cursor returns the position just after it in a newest-first listing; pass
// it as [Query].After to continue a listing after this item.
func (it Item) Cursor() Cursor { return Cursor{Received: it.Received, ID: it.ID} }

// FolderInfo is a folder's metadata as the hierarchy sync (or GetFolder)
// reports it. Batch.Folders writes exactly these fields.
type FolderInfo struct {
	ID          FolderID
	ChangeKey   string
	ParentID    FolderID // empty or an unmirrored folder for a root of the tree
	DisplayName string
	FolderClass string // e.g. "IPF.Note"
	// TotalCount, UnreadCount and ChildFolderCount are the server's counters
	// as last read; recovery compares them with fresh ones.
	TotalCount       int64
	UnreadCount      int64
	ChildFolderCount int64
}

// FolderSync is a folder's sync checkpoint: the ICS SyncState and the two MAPI
// properties read just before the sync that produced it. Batch.Checkpoints
// writes exactly these fields.
type FolderSync struct {
	SyncState string
	// LocalCommitTimeMax is PR_LOCAL_COMMIT_TIME_MAX (0x670A) as last read.
	LocalCommitTimeMax time.Time
	// DeletedCountTotal is PR_DELETED_COUNT_TOTAL (0x670B) as last read.
	DeletedCountTotal int64
	// LastSynced is when the sync that produced SyncState finished.
	LastSynced time.Time
}

// Folder is a mirrored folder: its metadata, its sync checkpoint and the
// store's own counts of what it holds.
type Folder struct {
	FolderInfo
	FolderSync
	// LocalItems and LocalUnread count the items the mirror holds in this
	// folder (not its subfolders). The store maintains them; they are
	// ignored on write.
	LocalItems  int64
	LocalUnread int64
}

// SubscriptionKind is the kind of EWS notification subscription.
type SubscriptionKind uint8

// The subscription kinds. NoSubscription is the zero value.
const (
	NoSubscription SubscriptionKind = iota
	Streaming
	Pull
	Push
)

// String returns "none", "streaming", "pull" or "push".
func (k SubscriptionKind) String() string {
	return enumName(subscriptionKindNames[:], uint8(k), "SubscriptionKind")
}

var subscriptionKindNames = [...]string{NoSubscription: "none", Streaming: "streaming", Pull: "pull", Push: "push"}

// Subscription is the stored state of a mailbox's notification subscription.
type Subscription struct {
	Kind      SubscriptionKind
	ID        string
	Watermark string    // last watermark received; empty for streaming
	LastEvent time.Time // when the last event or StatusEvent arrived
	// CallbackDigest identifies a push subscription's callback path
	// without revealing it (ews.PushCallback.Digest), so that a later run
	// can answer the subscription's posts Unsubscribe; empty otherwise.
	CallbackDigest string
}

// MailboxState is the per-mailbox sync state that is not tied to one folder.
type MailboxState struct {
	Mailbox            Mailbox
	HierarchySyncState string
	Subscription       Subscription
	// Seq is the Seq of the last applied sequenced batch (see [Batch.Seq]).
	Seq uint64
}

// Stats summarises one mailbox's mirror.
type Stats struct {
	Folders   int64
	Items     int64
	Unread    int64
	MIMEItems int64 // items with stored MIME
	MIMEBytes int64 // total MIME size
	Seq       uint64
}

// Cursor is a position in a newest-first item listing: the listing continues
// with the items strictly after (Received, ID) in that order. The item it
// names need not exist any more.
type Cursor struct {
	Received time.Time
	ID       ItemID
}

// IsZero reports whether c is the start of a listing.
func (c Cursor) IsZero() bool { return c.ID == "" && c.Received.IsZero() }

// Query selects items of one folder, newest first (by Received, ties by ID
// ascending).
type Query struct {
	// Limit caps the number of items; 0 means no limit.
	Limit int
	// After continues a listing after this position; the zero Cursor
	// starts at the newest item.
	After Cursor
	// UnreadOnly lists unread items only (read through the unread index).
	UnreadOnly bool
}

// SearchQuery is a simple case-insensitive substring search.
type SearchQuery struct {
	// Text is matched against the subject, the sender's name and the
	// sender's address. It must not be empty.
	Text string
	// Folder restricts the search to one folder; empty searches the mailbox.
	Folder FolderID
	// Limit caps the number of results; 0 means no limit.
	Limit int
}

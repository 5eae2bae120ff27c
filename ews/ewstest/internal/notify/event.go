package notify

import "time"

// EventKind is an EWS notification event type, named as on the wire
// (the t: element name).
type EventKind string

// The event kinds EWS defines. StatusEvent is never requested by a
// subscriber; the server raises it when a subscription is idle.
const (
	CopiedEvent          EventKind = "CopiedEvent"
	CreatedEvent         EventKind = "CreatedEvent"
	DeletedEvent         EventKind = "DeletedEvent"
	ModifiedEvent        EventKind = "ModifiedEvent"
	MovedEvent           EventKind = "MovedEvent"
	NewMailEvent         EventKind = "NewMailEvent"
	FreeBusyChangedEvent EventKind = "FreeBusyChangedEvent"
	StatusEvent          EventKind = "StatusEvent"
)

// ID is an EWS ItemId or FolderId as it appears in an event.
type ID struct {
	ID        string
	ChangeKey string
}

// Event is one mailbox event as the fake server raises it. The mailbox
// model publishes the events Exchange raises for each user action (see
// EWS-PROTOCOL.md §3: new mail raises Created + NewMail on the item and
// Modified on the folder; a move raises Moved for the item and Modified on
// both parents; and so on). The notify package assigns watermarks.
type Event struct {
	Kind EventKind
	// Time is the event's TimeStamp (the fake clock's time of the action).
	Time time.Time
	// Folder is true when the event concerns a folder (FolderId /
	// OldFolderId on the wire) rather than an item (ItemId / OldItemId).
	Folder bool
	// ID is the item or folder the event concerns.
	ID ID
	// ParentFolderID is the folder that holds ID after the action.
	ParentFolderID ID
	// OldID and OldParentFolderID are set for MovedEvent and CopiedEvent.
	OldID             ID
	OldParentFolderID ID
	// UnreadCount is the folder's unread count for a ModifiedEvent on a
	// folder; nil otherwise.
	UnreadCount *int
	// ItemClass is the item's message class (for filtering events such as
	// IPM.SchedulePlus.FreeBusy.BinaryData); empty for folders.
	ItemClass string
}

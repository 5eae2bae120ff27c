package ews

import (
	"fmt"
	"strconv"
	"time"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// EventType is an EWS notification event type, spelled as on the wire
// (the t: element name, which is also the t:EventType value in Subscribe).
type EventType string

// The event types of EWS notifications. EventStatus is raised by the
// server on idle subscriptions and cannot be requested in Subscribe.
const (
	EventCopied          EventType = "CopiedEvent"
	EventCreated         EventType = "CreatedEvent"
	EventDeleted         EventType = "DeletedEvent"
	EventModified        EventType = "ModifiedEvent"
	EventMoved           EventType = "MovedEvent"
	EventNewMail         EventType = "NewMailEvent"
	EventFreeBusyChanged EventType = "FreeBusyChangedEvent"
	EventStatus          EventType = "StatusEvent"
)

// AllEventTypes returns every event type a subscription can request, in
// the order Exchange's own examples list them. StatusEvent is not among
// them.
func AllEventTypes() []EventType {
	return []EventType{
		EventNewMail, EventCreated, EventDeleted, EventModified,
		EventMoved, EventCopied, EventFreeBusyChanged,
	}
}

// valid reports whether t is an event type Subscribe may request.
func (t EventType) valid() bool {
	switch t {
	case EventCopied, EventCreated, EventDeleted, EventModified,
		EventMoved, EventNewMail, EventFreeBusyChanged:
		return true
	}
	return false
}

// Event is one event of a notification. Which fields are set depends on
// Type, as in EWS-PROTOCOL.md §3:
//
//   - every event but StatusEvent has TimeStamp, ParentFolderID and either
//     ItemID (t:ItemId) or FolderID (t:FolderId) — see IsFolder;
//   - ModifiedEvent on a folder may carry UnreadCount;
//   - MovedEvent and CopiedEvent also carry OldItemID or OldFolderID and
//     OldParentFolderID;
//   - Watermark is set on pull and push events (StatusEvent included) and
//     absent on streaming events.
type Event struct {
	// Type is the event's kind.
	Type EventType
	// Watermark is the bookmark of this event; empty on streaming events.
	Watermark string
	// TimeStamp is when the event happened (UTC).
	TimeStamp time.Time
	// ItemID is the item the event concerns; zero on folder events.
	ItemID ItemID
	// FolderID is the folder the event concerns; zero on item events.
	FolderID FolderID
	// ParentFolderID is the folder holding the item or folder after the
	// event.
	ParentFolderID FolderID
	// OldItemID is the item's identifier before a move or copy
	// (t:OldItemId).
	OldItemID ItemID
	// OldFolderID is the folder's identifier before a move or copy
	// (t:OldFolderId).
	OldFolderID FolderID
	// OldParentFolderID is the folder that held the item or folder before
	// a move or copy.
	OldParentFolderID FolderID
	// UnreadCount is the folder's unread count on a folder ModifiedEvent;
	// valid only when HasUnreadCount is true.
	UnreadCount int
	// HasUnreadCount reports whether UnreadCount was present.
	HasUnreadCount bool
}

// IsFolder reports whether the event concerns a folder (t:FolderId) rather
// than an item (t:ItemId).
func (e *Event) IsFolder() bool { return e.FolderID.ID != "" }

// Notification is one t:Notification: the events of one subscription, in
// the order the server raised them.
type Notification struct {
	// SubscriptionID names the subscription the events belong to.
	SubscriptionID string
	// PreviousWatermark is the watermark the server continued from (pull
	// and push); empty on streaming notifications.
	PreviousWatermark string
	// MoreEvents is true when the server holds further events: call
	// GetEvents again at once (pull) or expect another POST (push).
	MoreEvents bool
	// Events are the events, oldest first. A notification always holds
	// at least one event; an idle one holds a single StatusEvent.
	Events []Event
}

// LastWatermark returns the watermark of the last event that carries one,
// StatusEvent included, or "" if none does (streaming). It is the
// watermark to pass to the next GetEvents and to store for resumption.
func (n *Notification) LastWatermark() string {
	for i := len(n.Events) - 1; i >= 0; i-- {
		if w := n.Events[i].Watermark; w != "" {
			return w
		}
	}
	return ""
}

// StatusOnly reports whether the notification holds nothing but
// StatusEvents (an idle heartbeat).
func (n *Notification) StatusOnly() bool {
	for _, e := range n.Events {
		if e.Type != EventStatus {
			return false
		}
	}
	return true
}

// Limits that keep a hostile or broken peer from exhausting memory or
// stack while a notification message (one streaming envelope or one push
// body) is decoded.
const (
	// ntfMaxDepth bounds element nesting. Real notification envelopes
	// nest about ten levels deep.
	ntfMaxDepth = 64
	// ntfMaxElements bounds the elements of one message. 50 events per
	// notification and up to 200 notifications per streaming envelope
	// stay far below it.
	ntfMaxElements = 200_000
	// ntfMaxMessageBytes bounds the encoded size of one streaming
	// envelope. Exchange puts at most 50 events in a notification.
	ntfMaxMessageBytes = 32 << 20
)

// ntfParseOptions are the codec limits of a notification message: a start
// and an end tag per element.
var ntfParseOptions = ewsxml.ParseOptions{MaxDepth: ntfMaxDepth, MaxTags: 2 * ntfMaxElements}

// isNtf reports whether e is named local in the types or the messages
// namespace: servers are not consistent about which one notification
// elements use.
func isNtf(e *etree.Element, local string) bool {
	return e.Tag == local && (e.Space == nsT || e.Space == nsM)
}

// decodeNotification decodes a t:Notification (or m:Notification) element.
// The children are matched in the types namespace; the messages namespace
// is accepted too, since servers are not consistent about it.
func decodeNotification(n *etree.Element) (Notification, error) {
	var out Notification
	for c := range ewsxml.Children(n) {
		if c.Space != nsT && c.Space != nsM {
			continue
		}
		switch c.Tag {
		case "SubscriptionId":
			out.SubscriptionID = ewsxml.Text(c)
		case "PreviousWatermark":
			out.PreviousWatermark = ewsxml.Text(c)
		case "MoreEvents":
			b, err := ewsxml.ParseBool(c.Text())
			if err != nil {
				return Notification{}, fmt.Errorf("%w: MoreEvents: %v", ErrMalformedNotification, err)
			}
			out.MoreEvents = b
		default:
			t := EventType(c.Tag)
			if t != EventStatus && !t.valid() {
				// Unknown elements are ignored, as schema extensions
				// may add some.
				continue
			}
			ev, err := decodeEvent(t, c)
			if err != nil {
				return Notification{}, err
			}
			out.Events = append(out.Events, ev)
		}
	}
	if out.SubscriptionID == "" {
		return Notification{}, fmt.Errorf("%w: notification without SubscriptionId", ErrMalformedNotification)
	}
	if len(out.Events) == 0 {
		return Notification{}, fmt.Errorf("%w: notification for %q without events", ErrMalformedNotification, out.SubscriptionID)
	}
	return out, nil
}

// decodeEvent decodes one event element of type t.
func decodeEvent(t EventType, n *etree.Element) (Event, error) {
	ev := Event{Type: t}
	var haveID, haveTime bool
	for c := range ewsxml.Children(n) {
		if c.Space != nsT && c.Space != nsM {
			continue
		}
		var err error
		switch c.Tag {
		case "Watermark":
			ev.Watermark = ewsxml.Text(c)
		case "TimeStamp":
			ts, perr := time.Parse(time.RFC3339, ewsxml.Text(c))
			if perr != nil {
				return Event{}, fmt.Errorf("%w: %s TimeStamp %q", ErrMalformedNotification, t, ewsxml.Text(c))
			}
			ev.TimeStamp = ts.UTC()
			haveTime = true
		case "ItemId":
			var id FolderID
			id, err = decodeEventID(c)
			ev.ItemID, ev.FolderID, haveID = ItemID(id), FolderID{}, true
		case "FolderId":
			ev.FolderID, err = decodeEventID(c)
			ev.ItemID, haveID = ItemID{}, true
		case "ParentFolderId":
			ev.ParentFolderID, err = decodeEventID(c)
		case "OldItemId":
			var id FolderID
			id, err = decodeEventID(c)
			ev.OldItemID = ItemID(id)
		case "OldFolderId":
			ev.OldFolderID, err = decodeEventID(c)
		case "OldParentFolderId":
			ev.OldParentFolderID, err = decodeEventID(c)
		case "UnreadCount":
			v, aerr := strconv.Atoi(ewsxml.Text(c))
			if aerr != nil || v < 0 {
				return Event{}, fmt.Errorf("%w: %s UnreadCount %q", ErrMalformedNotification, t, ewsxml.Text(c))
			}
			ev.UnreadCount, ev.HasUnreadCount = v, true
		}
		if err != nil {
			return Event{}, fmt.Errorf("%s: %w", t, err)
		}
	}
	if t == EventStatus {
		return ev, nil
	}
	if !haveTime || !haveID {
		return Event{}, fmt.Errorf("%w: %s without TimeStamp or ItemId/FolderId", ErrMalformedNotification, t)
	}
	return ev, nil
}

// decodeEventID reads the Id and ChangeKey attributes of an id element
// (item and folder ids have the same form).
func decodeEventID(e *etree.Element) (FolderID, error) {
	id, ck := idAttrs(e)
	if id == "" {
		return FolderID{}, fmt.Errorf("%w: %s without Id", ErrMalformedNotification, e.Tag)
	}
	return FolderID{ID: id, ChangeKey: ck}, nil
}

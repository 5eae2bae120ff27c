package ews

import (
	"fmt"
	"strconv"
	"strings"
	"time"
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

// ObjectID is an item or folder identifier as it appears in an event
// (t:ItemId, t:FolderId, t:ParentFolderId and their Old* forms).
type ObjectID struct {
	// ID is the opaque Id attribute.
	ID string
	// ChangeKey is the optional ChangeKey attribute.
	ChangeKey string
}

// IsZero reports whether the identifier is absent.
func (o ObjectID) IsZero() bool { return o.ID == "" && o.ChangeKey == "" }

// Event is one event of a notification. Which fields are set depends on
// Type, as in EWS-PROTOCOL.md §3:
//
//   - every event but StatusEvent has TimeStamp, ID and ParentFolderID;
//   - ModifiedEvent on a folder may carry UnreadCount;
//   - MovedEvent and CopiedEvent also carry OldID and OldParentFolderID;
//   - Watermark is set on pull and push events (StatusEvent included) and
//     absent on streaming events.
type Event struct {
	// Type is the event's kind.
	Type EventType
	// Watermark is the bookmark of this event; empty on streaming events.
	Watermark string
	// TimeStamp is when the event happened (UTC).
	TimeStamp time.Time
	// Folder is true when the event concerns a folder (t:FolderId) and
	// false when it concerns an item (t:ItemId).
	Folder bool
	// ID is the item or folder the event concerns.
	ID ObjectID
	// ParentFolderID is the folder holding ID after the event.
	ParentFolderID ObjectID
	// OldID is the identifier before a move or copy (t:OldItemId or
	// t:OldFolderId).
	OldID ObjectID
	// OldParentFolderID is the folder that held the object before a move
	// or copy.
	OldParentFolderID ObjectID
	// UnreadCount is the folder's unread count on a folder ModifiedEvent;
	// valid only when HasUnreadCount is true.
	UnreadCount int
	// HasUnreadCount reports whether UnreadCount was present.
	HasUnreadCount bool
}

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

// decodeNotification decodes a t:Notification (or m:Notification) element.
// The children are matched in the types namespace; the messages namespace
// is accepted too, since servers are not consistent about it.
func decodeNotification(n *xnode) (Notification, error) {
	var out Notification
	for _, c := range n.children {
		if c.space != ntfNSTypes && c.space != ntfNSMessages {
			continue
		}
		switch c.local {
		case "SubscriptionId":
			out.SubscriptionID = c.trimmed()
		case "PreviousWatermark":
			out.PreviousWatermark = c.trimmed()
		case "MoreEvents":
			b, err := parseNtfBool(c.trimmed())
			if err != nil {
				return Notification{}, fmt.Errorf("%w: MoreEvents: %v", ErrMalformedNotification, err)
			}
			out.MoreEvents = b
		default:
			t := EventType(c.local)
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
func decodeEvent(t EventType, n *xnode) (Event, error) {
	ev := Event{Type: t}
	var haveID, haveTime bool
	for _, c := range n.children {
		if c.space != ntfNSTypes && c.space != ntfNSMessages {
			continue
		}
		switch c.local {
		case "Watermark":
			ev.Watermark = c.trimmed()
		case "TimeStamp":
			ts, err := time.Parse(time.RFC3339, c.trimmed())
			if err != nil {
				return Event{}, fmt.Errorf("%w: %s TimeStamp %q", ErrMalformedNotification, t, c.trimmed())
			}
			ev.TimeStamp = ts.UTC()
			haveTime = true
		case "ItemId", "FolderId":
			id, err := decodeObjectID(c)
			if err != nil {
				return Event{}, fmt.Errorf("%s: %w", t, err)
			}
			ev.ID, ev.Folder, haveID = id, c.local == "FolderId", true
		case "ParentFolderId":
			id, err := decodeObjectID(c)
			if err != nil {
				return Event{}, fmt.Errorf("%s: %w", t, err)
			}
			ev.ParentFolderID = id
		case "OldItemId", "OldFolderId":
			id, err := decodeObjectID(c)
			if err != nil {
				return Event{}, fmt.Errorf("%s: %w", t, err)
			}
			ev.OldID = id
		case "OldParentFolderId":
			id, err := decodeObjectID(c)
			if err != nil {
				return Event{}, fmt.Errorf("%s: %w", t, err)
			}
			ev.OldParentFolderID = id
		case "UnreadCount":
			v, err := strconv.Atoi(c.trimmed())
			if err != nil || v < 0 {
				return Event{}, fmt.Errorf("%w: %s UnreadCount %q", ErrMalformedNotification, t, c.trimmed())
			}
			ev.UnreadCount, ev.HasUnreadCount = v, true
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

// decodeObjectID reads the Id and ChangeKey attributes of an id element.
func decodeObjectID(n *xnode) (ObjectID, error) {
	id, _ := n.attr("Id")
	if id == "" {
		return ObjectID{}, fmt.Errorf("%w: %s without Id", ErrMalformedNotification, n.local)
	}
	ck, _ := n.attr("ChangeKey")
	return ObjectID{ID: id, ChangeKey: ck}, nil
}

// parseNtfBool parses an xs:boolean.
func parseNtfBool(s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", s)
}

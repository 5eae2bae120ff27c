package notify

import (
	"slices"
	"strings"
)

// StampedEvent is an Event as delivered: with the watermark the event
// table gave it.
type StampedEvent struct {
	Event
	// Watermark is the event's bookmark in its database's event table.
	Watermark string
}

// Notification is one m:Notification: the events of one subscription.
type Notification struct {
	SubscriptionID string
	// PreviousWatermark is the watermark that preceded these events
	// (pull and push only).
	PreviousWatermark string
	// MoreEvents is true when more events wait (pull and push only).
	MoreEvents bool
	// Events holds 1 to 50 events (a StatusEvent alone when idle).
	Events []StampedEvent
}

// ConnectionStatus is a GetStreamingEvents m:ConnectionStatus value.
type ConnectionStatus string

// The two connection states; the empty value omits the element.
const (
	StatusOK     ConnectionStatus = "OK"
	StatusClosed ConnectionStatus = "Closed"
)

// Frame is one SOAP envelope of a GetStreamingEvents response.
// A frame is either a notification frame (Notifications set), an error
// frame (Err and ErrorIDs set) or a keep-alive (neither), each optionally
// with a ConnectionStatus; Closed is always the last frame.
type Frame struct {
	Notifications []Notification
	// Err is the ResponseCode of an error frame; ErrorIDs the
	// subscriptions it concerns (empty: the whole connection).
	Err      *Error
	ErrorIDs []string
	Status   ConnectionStatus
}

// streamingNotifications splits a subscription's events into
// notifications of at most 50 events.
func streamingNotifications(id string, evs []StampedEvent) []Notification {
	var out []Notification
	for len(evs) > 0 {
		k := min(len(evs), MaxEventsPerNotification)
		out = append(out, Notification{SubscriptionID: id, Events: evs[:k:k]})
		evs = evs[k:]
	}
	return out
}

func sortNotifications(ns []Notification) {
	slices.SortStableFunc(ns, func(a, b Notification) int { return strings.Compare(a.SubscriptionID, b.SubscriptionID) })
}

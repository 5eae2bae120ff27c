package notify

import "errors"

// Error is an EWS response code raised by the notification broker. The
// SOAP layer writes Code as the m:ResponseCode (or, for request-wide codes
// such as ErrorSchemaValidation, as a SOAP fault) and Message as the
// m:MessageText. Match it with errors.Is against the sentinels below or
// with errors.As to read the code.
type Error struct {
	// Code is the EWS ResponseCode, e.g. "ErrorInvalidWatermark".
	Code string
	// Message is the human-readable text Exchange would send.
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Message == "" {
		return "notify: " + e.Code
	}
	return "notify: " + e.Code + ": " + e.Message
}

// Is reports whether target is an *Error with the same Code, so that a
// sentinel matches any error carrying its code whatever the message.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

func newError(code, msg string) *Error { return &Error{Code: code, Message: msg} }

// Sentinel errors, one per EWS response code the broker raises. Each is an
// *Error; errors.Is matches by code.
var (
	// ErrInvalidWatermark: a watermark that cannot be decoded, that belongs
	// to another mailbox database, that lies in the future, or whose events
	// have left the log (older than the retention or overrun by the
	// maximum number of events).
	ErrInvalidWatermark = newError("ErrorInvalidWatermark", "The watermark used for creating this subscription was not found.")
	// ErrSubscriptionNotFound: the id is unknown on the backend the request
	// was routed to (never existed, dropped by a restart, or hosted on
	// another backend because affinity was lost).
	ErrSubscriptionNotFound = newError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
	// ErrExpiredSubscription: the subscription expired (pull Timeout
	// elapsed without GetEvents, a streaming subscription stayed without a
	// connection for the idle expiry).
	ErrExpiredSubscription = newError("ErrorExpiredSubscription", "The subscription has expired.")
	// ErrMissedNotificationEvents: the subscription's queue overflowed while
	// nobody read it; events were lost. The subscription keeps working.
	ErrMissedNotificationEvents = newError("ErrorMissedNotificationEvents", "One or more notification events were missed.")
	// ErrExceededSubscriptionCount: the target mailbox holds
	// EWSMaxSubscriptions worth of live subscriptions.
	ErrExceededSubscriptionCount = newError("ErrorExceededSubscriptionCount", "You have exceeded the maximum number of subscriptions that are allowed to be active at the same time.")
	// ErrExceededConnectionCount: the account already has
	// HangingConnectionLimit streaming connections open.
	ErrExceededConnectionCount = newError("ErrorExceededConnectionCount", "You have exceeded the available concurrent connections for your account.")
	// ErrNewEventStreamConnectionOpened: another GetStreamingEvents took
	// over the subscription from this connection.
	ErrNewEventStreamConnectionOpened = newError("ErrorNewEventStreamConnectionOpened", "A new event stream connection was opened for this subscription.")
	// ErrInvalidPullSubscriptionID: GetEvents or Unsubscribe on an id that is
	// not a pull (or streaming, for Unsubscribe) subscription.
	ErrInvalidPullSubscriptionID = newError("ErrorInvalidPullSubscriptionId", "Subscription is not a pull subscription.")
	// ErrInvalidSubscription: the id names a subscription of the wrong kind
	// for GetStreamingEvents.
	ErrInvalidSubscription = newError("ErrorInvalidSubscription", "The subscription is not valid for this operation.")
	// ErrSubscriptionAccessDenied: only the account that created a
	// subscription may use it.
	ErrSubscriptionAccessDenied = newError("ErrorSubscriptionAccessDenied", "Access is denied. Only the subscription owner may access the subscription.")
	// ErrSubscriptionUnsubscribed: the subscription was unsubscribed while a
	// streaming connection carried it.
	ErrSubscriptionUnsubscribed = newError("ErrorSubscriptionUnsubscribed", "The subscription has been unsubscribed.")
	// ErrMailboxMoveInProgress: the subscription's mailbox moved to another
	// database; the subscription is gone and its watermarks are invalid.
	ErrMailboxMoveInProgress = newError("ErrorMailboxMoveInProgress", "The mailbox has been moved; subscribe again.")
	// ErrInvalidSubscriptionRequest: the Subscribe request is inconsistent
	// (both SubscribeToAllFolders and FolderIds, or neither).
	ErrInvalidSubscriptionRequest = newError("ErrorInvalidSubscriptionRequest", "The subscription request is invalid.")
	// ErrInvalidPushSubscriptionURL: the push URL is not an absolute http or
	// https URL of 1 to 2082 characters.
	ErrInvalidPushSubscriptionURL = newError("ErrorInvalidPushSubscriptionUrl", "The push subscription URL is invalid.")
	// ErrSchemaValidation: a value outside what the schema allows (Timeout
	// and StatusFrequency 1-1440, ConnectionTimeout 1-30, no EventTypes, a
	// StatusEvent requested, a Watermark on a streaming subscription).
	// Exchange answers these with a SOAP fault.
	ErrSchemaValidation = newError("ErrorSchemaValidation", "The request failed schema validation.")
	// ErrInvalidArgument: more than 200 subscription ids on one
	// GetStreamingEvents request.
	ErrInvalidArgument = newError("ErrorInvalidArgument", "A GetStreamingEvents request may carry at most 200 subscription ids.")
	// ErrNonExistentMailbox: the target mailbox is not known to the broker.
	ErrNonExistentMailbox = newError("ErrorNonExistentMailbox", "The mailbox does not exist.")
)

// ErrConnectionDropped is returned by Stream.Next when the connection was
// dropped without a ConnectionStatus Closed envelope (Restart or the
// DropStreams fault). The HTTP layer must abort the response.
var ErrConnectionDropped = errors.New("notify: streaming connection dropped")

// ErrClosed is returned by Broker operations after Close.
var ErrClosed = errors.New("notify: broker closed")

package ews

import (
	"errors"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// Errors of the notification side of the client (subscriptions, the
// streaming connection and the push listener). EWS response codes are
// reported as *ResponseError values matching the package's code sentinels
// (ErrSubscriptionNotFound, ErrInvalidWatermark, ...); the errors below are
// the client's own conditions.
var (
	// ErrMalformedNotification reports a notification message that is
	// not well-formed XML, is not shaped like an EWS notification, or
	// breaks a decoding limit (size, depth, element count). It also
	// matches ErrMalformedResponse: the message came from the server.
	ErrMalformedNotification error = ntfSentinel{"ews: malformed notification message", &ErrMalformedResponse}

	// ErrTooManySubscriptions reports an attempt to put more than
	// MaxStreamingSubscriptions subscriptions on one streaming connection
	// (or into one affinity group).
	ErrTooManySubscriptions = errors.New("ews: more than 200 subscriptions on one streaming connection")

	// ErrStreamTimeout reports a streaming connection that stayed silent
	// longer than its read timeout: neither events nor keep-alives
	// arrived, so the connection is presumed dead and is reopened.
	ErrStreamTimeout = errors.New("ews: streaming connection silent past its read timeout")

	// ErrStreamEnded reports a streaming response body that ended without
	// ConnectionStatus Closed (the connection was cut); the connection is
	// reopened.
	ErrStreamEnded = errors.New("ews: streaming response ended without ConnectionStatus Closed")

	// ErrConnectionClosed is returned by operations on a
	// StreamingConnection or PushListener after Close.
	ErrConnectionClosed = errors.New("ews: notification connection closed")

	// ErrSubscriptionLost reports a push subscription that sent neither a
	// notification nor a StatusEvent within 2 × StatusFrequency plus
	// slack: the server has given up on it and it must be recreated.
	ErrSubscriptionLost = errors.New("ews: push subscription silent past 2 × StatusFrequency")

	// ErrWatermarkGap reports a notification whose PreviousWatermark is
	// not the last watermark seen for its subscription: events were lost
	// in between.
	ErrWatermarkGap = errors.New("ews: notification watermark discontinuity")

	// ErrUnknownSubscription reports a notification for a subscription
	// the receiver does not know.
	ErrUnknownSubscription = errors.New("ews: notification for an unknown subscription")

	// ErrInvalidSubscribeRequest reports a SubscribeRequest (or a
	// subscription id or StatusFrequency given to a connection or
	// listener) that breaks a protocol rule; nothing is sent. It also
	// matches ErrInvalidRequest.
	ErrInvalidSubscribeRequest error = ntfSentinel{"ews: invalid subscribe request", &ErrInvalidRequest}
)

// ntfSentinel is a sentinel error that also matches a more general one
// of the package.
type ntfSentinel struct {
	msg    string
	parent *error // pointer, so the parent's value need not be set yet
}

func (e ntfSentinel) Error() string { return e.msg }

// Is matches the parent sentinel.
func (e ntfSentinel) Is(target error) bool { return target == *e.parent }

// ntfMessageError builds the *ResponseError of a notification response
// message element (m:MessageText, m:ResponseCode, m:MessageXml). Unlike an
// operation response, a notification message without class or code is
// still an error: an Error of ErrorInternalServerError.
func ntfMessageError(op string, rm *etree.Element) error {
	st := ewsxml.ReadStatus(rm)
	class, code := st.Class, Code(st.Code)
	if class == "" {
		class = "Error"
	}
	if code == "" {
		code = ErrInternalServerError
	}
	return newResponseError(op, class, code, st)
}

// ntfIsSubscriptionLoss reports whether err is a response code that
// concerns a single subscription rather than the connection.
func ntfIsSubscriptionLoss(err error) bool {
	var c Code
	var re *ResponseError
	var fe *FaultError
	switch {
	case errors.As(err, &re):
		c = re.Code
	case errors.As(err, &fe):
		c = fe.Code
	default:
		return false
	}
	return c.SubscriptionLost() || c == ErrNewEventStreamConnectionOpened
}

// ntfKeepsSubscription reports whether a per-subscription error leaves the
// subscription working (Exchange keeps delivering after
// ErrorMissedNotificationEvents).
func ntfKeepsSubscription(err error) bool {
	return errors.Is(err, ErrMissedNotificationEvents)
}

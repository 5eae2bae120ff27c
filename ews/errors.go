package ews

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Code is an EWS ResponseCode, such as "ErrorServerBusy". A Code is itself
// an error so that the constants below serve as sentinels:
// errors.Is(err, ews.ErrServerBusy) holds for a *ResponseError or
// *FaultError carrying that code. Codes without a named constant can be
// matched the same way, e.g. errors.Is(err, ews.Code("ErrorQuotaExceeded")).
type Code string

// Error returns the code itself prefixed with the package name.
func (c Code) Error() string { return "ews: " + string(c) }

// Response codes the sync engine reacts to (EWS-PROTOCOL.md §4.1 and the
// sync, folder and item codes). Match with errors.Is.
const (
	// Notifications (EWS-PROTOCOL.md §4.1).

	// ErrMissedNotificationEvents: events were lost; resync changed folders.
	ErrMissedNotificationEvents Code = "ErrorMissedNotificationEvents"
	// ErrInvalidSubscription: the subscription is invalid (server restart, expiry).
	ErrInvalidSubscription Code = "ErrorInvalidSubscription"
	// ErrSubscriptionNotFound: unknown subscription (expired, restart, lost affinity).
	ErrSubscriptionNotFound Code = "ErrorSubscriptionNotFound"
	// ErrExpiredSubscription: the subscription expired.
	ErrExpiredSubscription Code = "ErrorExpiredSubscription"
	// ErrProxiedSubscriptionCallFailure: the proxy to the hosting server failed.
	ErrProxiedSubscriptionCallFailure Code = "ErrorProxiedSubscriptionCallFailure"
	// ErrSubscriptionUnsubscribed: the subscription was unsubscribed while streaming.
	ErrSubscriptionUnsubscribed Code = "ErrorSubscriptionUnsubscribed"
	// ErrNewEventStreamConnectionOpened: another connection took the subscription.
	ErrNewEventStreamConnectionOpened Code = "ErrorNewEventStreamConnectionOpened"
	// ErrMailboxMoveInProgress: the mailbox is moving or lives elsewhere.
	ErrMailboxMoveInProgress Code = "ErrorMailboxMoveInProgress"
	// ErrInvalidWatermark: the watermark is unknown to the server.
	ErrInvalidWatermark Code = "ErrorInvalidWatermark"
	// ErrReadEventsFailed: reading events failed and the subscription was deleted.
	ErrReadEventsFailed Code = "ErrorReadEventsFailed"
	// ErrServerBusy: throttled; wait BackOff (retried by the client).
	ErrServerBusy Code = "ErrorServerBusy"
	// ErrExceededConnectionCount: too many concurrent or hanging connections.
	ErrExceededConnectionCount Code = "ErrorExceededConnectionCount"
	// ErrExceededSubscriptionCount: too many live subscriptions.
	ErrExceededSubscriptionCount Code = "ErrorExceededSubscriptionCount"
	// ErrTooManyObjectsOpened: the store's open-object limit was hit.
	ErrTooManyObjectsOpened Code = "ErrorTooManyObjectsOpened"
	// ErrSubscriptionAccessDenied: the caller does not own the subscription.
	ErrSubscriptionAccessDenied Code = "ErrorSubscriptionAccessDenied"
	// ErrInvalidPullSubscriptionID: GetEvents or Unsubscribe on a non-pull id.
	ErrInvalidPullSubscriptionID Code = "ErrorInvalidPullSubscriptionId"
	// ErrInvalidPushSubscriptionURL: the push URL is not acceptable.
	ErrInvalidPushSubscriptionURL Code = "ErrorInvalidPushSubscriptionUrl"
	// ErrInvalidSubscriptionRequest: the Subscribe request is invalid.
	ErrInvalidSubscriptionRequest Code = "ErrorInvalidSubscriptionRequest"
	// ErrSubscriptionDelegateAccessNotSupported: delegates cannot subscribe.
	ErrSubscriptionDelegateAccessNotSupported Code = "ErrorSubscriptionDelegateAccessNotSupported"

	// Synchronisation, folders and items.

	// ErrInvalidSyncStateData: bad sync state; drop it and resync the folder.
	ErrInvalidSyncStateData Code = "ErrorInvalidSyncStateData"
	// ErrSyncFolderNotFound: the synced folder is gone.
	ErrSyncFolderNotFound Code = "ErrorSyncFolderNotFound"
	// ErrItemNotFound: the item is gone or not accessible.
	ErrItemNotFound Code = "ErrorItemNotFound"
	// ErrFolderNotFound: the folder is gone or not accessible.
	ErrFolderNotFound Code = "ErrorFolderNotFound"
	// ErrAccessDenied: the caller lacks permission.
	ErrAccessDenied Code = "ErrorAccessDenied"
	// ErrInvalidChangeKey: the change key is malformed.
	ErrInvalidChangeKey Code = "ErrorInvalidChangeKey"
	// ErrIrresolvableConflict: the item changed since its change key.
	ErrIrresolvableConflict Code = "ErrorIrresolvableConflict"
	// ErrInvalidIDMalformed: the id is malformed.
	ErrInvalidIDMalformed Code = "ErrorInvalidIdMalformed"
	// ErrInvalidIDEmpty: the id is empty.
	ErrInvalidIDEmpty Code = "ErrorInvalidIdEmpty"
	// ErrNonExistentMailbox: the mailbox does not exist.
	ErrNonExistentMailbox Code = "ErrorNonExistentMailbox"
	// ErrInternalServerError: server failure; see ResponseError.InnerCode.
	ErrInternalServerError Code = "ErrorInternalServerError"
	// ErrBatchProcessingStopped: an earlier error stopped the batch.
	ErrBatchProcessingStopped Code = "ErrorBatchProcessingStopped"

	// Request-wide: version, schema, impersonation.

	// ErrInvalidServerVersion: RequestServerVersion is not supported.
	ErrInvalidServerVersion Code = "ErrorInvalidServerVersion"
	// ErrInvalidSchemaVersionForMailboxVersion: the version is too new for the mailbox.
	ErrInvalidSchemaVersionForMailboxVersion Code = "ErrorInvalidSchemaVersionForMailboxVersion"
	// ErrSchemaValidation: the request failed schema validation.
	ErrSchemaValidation Code = "ErrorSchemaValidation"
	// ErrImpersonateUserDenied: the account may not impersonate that user.
	ErrImpersonateUserDenied Code = "ErrorImpersonateUserDenied"
	// ErrInvalidExchangeImpersonationHeader: the impersonation header is invalid.
	ErrInvalidExchangeImpersonationHeader Code = "ErrorInvalidExchangeImpersonationHeaderData"
)

// IsTransient reports whether a request failing with this code may succeed
// unchanged after waiting.
func (c Code) IsTransient() bool {
	switch c {
	case ErrServerBusy, ErrTooManyObjectsOpened, ErrProxiedSubscriptionCallFailure,
		ErrExceededConnectionCount, ErrMailboxMoveInProgress:
		return true
	}
	return false
}

// NeedsResync reports whether the code means the stored sync state or the
// synced folder is no longer usable, so the folder must be resynced from
// scratch or the hierarchy refreshed.
func (c Code) NeedsResync() bool {
	switch c {
	case ErrInvalidSyncStateData, ErrSyncFolderNotFound, ErrFolderNotFound:
		return true
	}
	return false
}

// SubscriptionLost reports whether the code means a subscription is gone
// and must be replaced by a fresh one plus reconciliation (DESIGN.md).
func (c Code) SubscriptionLost() bool {
	switch c {
	case ErrSubscriptionNotFound, ErrInvalidSubscription, ErrExpiredSubscription,
		ErrMissedNotificationEvents, ErrInvalidWatermark, ErrReadEventsFailed,
		ErrMailboxMoveInProgress, ErrSubscriptionUnsubscribed:
		return true
	}
	return false
}

// Errors that are not EWS response codes.
var (
	// ErrMalformedResponse reports a response that is not the SOAP
	// message the operation expects: truncated, not XML, wrong namespace,
	// nested too deeply, or missing required parts. The wrapping error says
	// what was wrong.
	ErrMalformedResponse = errors.New("ews: malformed response")
	// ErrResponseTooLarge reports a response body longer than
	// Options.MaxResponseBytes.
	ErrResponseTooLarge = errors.New("ews: response body too large")
	// ErrInvalidRequest reports a request the client refuses to send
	// because it breaks a documented limit (no ids, MaxChangesReturned
	// outside 1–512, ...).
	ErrInvalidRequest = errors.New("ews: invalid request")
	// ErrInvalidOptions reports an unusable endpoint or Options value.
	ErrInvalidOptions = errors.New("ews: invalid options")
	// ErrUnauthorized matches an *HTTPError with status 401.
	ErrUnauthorized = errors.New("ews: unauthorized")
	// ErrServiceUnavailable matches an *HTTPError with status 503.
	ErrServiceUnavailable = errors.New("ews: service unavailable")
	// ErrToken reports that the Bearer TokenSource failed.
	ErrToken = errors.New("ews: token source failed")
	// ErrInsecureAuth reports Options.Auth with a plain http endpoint
	// whose host is not a loopback address, without
	// Options.AllowInsecureAuth. The error matches ErrInvalidOptions too.
	ErrInsecureAuth = errors.New("ews: credentials over plain http")
)

// MessageXMLValue is one entry of a response's MessageXml block: a
// t:Value's Name attribute and text, or another element's local name and
// text (e.g. LineNumber for ErrorSchemaValidation).
type MessageXMLValue struct {
	Name  string
	Value string
}

// ResponseError is a ResponseMessage whose ResponseClass is Error (or
// Warning with a code other than NoError). It matches its Code, and its
// InnerCode when set, with errors.Is.
type ResponseError struct {
	// Op is the operation, e.g. "GetItem".
	Op string
	// Class is the ResponseClass: "Error" or "Warning".
	Class string
	// Code is the ResponseCode.
	Code Code
	// Message is the MessageText.
	Message string
	// MessageXML holds the MessageXml entries in document order.
	MessageXML []MessageXMLValue
	// BackOff is the BackOffMilliseconds hint, zero if none.
	BackOff time.Duration
	// InnerCode is InnerErrorResponseCode from MessageXml (the real cause
	// inside ErrorInternalServerError), or "".
	InnerCode Code
}

// Error describes the failure without any request data.
func (e *ResponseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ews: %s: %s", e.Op, string(e.Code))
	if e.InnerCode != "" {
		fmt.Fprintf(&b, " (inner %s)", string(e.InnerCode))
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.BackOff > 0 {
		fmt.Fprintf(&b, " (back off %v)", e.BackOff)
	}
	return b.String()
}

// Is matches a Code equal to Code or InnerCode.
func (e *ResponseError) Is(target error) bool {
	c, ok := target.(Code)
	return ok && (c == e.Code || (e.InnerCode != "" && c == e.InnerCode))
}

// Unwrap returns Code (and InnerCode when set), so that errors.As can
// extract the Code of a wrapped error.
func (e *ResponseError) Unwrap() []error {
	if e.InnerCode != "" {
		return []error{e.Code, e.InnerCode}
	}
	return []error{e.Code}
}

// Value returns the MessageXML entry named name, or "".
func (e *ResponseError) Value(name string) string {
	for _, v := range e.MessageXML {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

// IsTransient reports whether retrying later may succeed.
func (e *ResponseError) IsTransient() bool {
	return e.Code.IsTransient() || e.InnerCode.IsTransient()
}

// NeedsResync reports whether the folder's sync state must be dropped.
func (e *ResponseError) NeedsResync() bool { return e.Code.NeedsResync() }

// SubscriptionLost reports whether the subscription must be replaced.
func (e *ResponseError) SubscriptionLost() bool { return e.Code.SubscriptionLost() }

// busy reports whether the error asks the client to slow down.
func (e *ResponseError) busy() bool {
	return e.Code == ErrServerBusy || e.InnerCode == ErrServerBusy
}

// FaultError is a SOAP Fault: a request-wide failure such as schema
// validation, throttling, a bad server version or impersonation. It matches
// its Code with errors.Is.
type FaultError struct {
	// Op is the operation, e.g. "GetFolder".
	Op string
	// StatusCode is the HTTP status the fault arrived with (usually 500).
	StatusCode int
	// Code is the detail's ResponseCode, else the local part of FaultCode.
	Code Code
	// FaultCode is the faultcode QName as sent, e.g. "a:ErrorServerBusy".
	FaultCode string
	// FaultString is the faultstring text.
	FaultString string
	// Message is the detail's Message text, if any.
	Message string
	// MessageXML holds the detail's MessageXml entries.
	MessageXML []MessageXMLValue
	// BackOff is the BackOffMilliseconds hint, zero if none.
	BackOff time.Duration
}

// Error describes the fault.
func (e *FaultError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.FaultString
	}
	s := fmt.Sprintf("ews: %s: SOAP fault %s", e.Op, string(e.Code))
	if msg != "" {
		s += ": " + msg
	}
	if e.BackOff > 0 {
		s += fmt.Sprintf(" (back off %v)", e.BackOff)
	}
	return s
}

// Is matches a Code equal to Code.
func (e *FaultError) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// Unwrap returns Code, so that errors.As can extract it.
func (e *FaultError) Unwrap() error { return e.Code }

// IsTransient reports whether retrying later may succeed.
func (e *FaultError) IsTransient() bool { return e.Code.IsTransient() }

// NeedsResync reports whether the folder's sync state must be dropped.
func (e *FaultError) NeedsResync() bool { return e.Code.NeedsResync() }

// SubscriptionLost reports whether the subscription must be replaced.
func (e *FaultError) SubscriptionLost() bool { return e.Code.SubscriptionLost() }

// HTTPError is a response whose HTTP status is not 200 and whose body is not
// a SOAP fault. Status 401 matches ErrUnauthorized and 503 matches
// ErrServiceUnavailable with errors.Is.
type HTTPError struct {
	// Op is the operation, e.g. "SyncFolderItems".
	Op string
	// StatusCode is the HTTP status code.
	StatusCode int
	// Status is the HTTP status line text.
	Status string
	// RetryAfter is the Retry-After header as a duration, zero if absent.
	RetryAfter time.Duration
	// Location is the Location header of a redirect, if any.
	Location string
}

// Error describes the status.
func (e *HTTPError) Error() string {
	s := fmt.Sprintf("ews: %s: HTTP %s", e.Op, e.Status)
	if e.Status == "" {
		s = fmt.Sprintf("ews: %s: HTTP %d", e.Op, e.StatusCode)
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %v)", e.RetryAfter)
	}
	if e.Location != "" {
		s += " (redirect to " + e.Location + ")"
	}
	return s
}

// Is matches ErrUnauthorized for 401 and ErrServiceUnavailable for 503.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrServiceUnavailable:
		return e.StatusCode == http.StatusServiceUnavailable
	}
	return false
}

// IsTransient reports whether retrying later may succeed (503, 502, 504,
// 429).
func (e *HTTPError) IsTransient() bool {
	switch e.StatusCode {
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout,
		http.StatusTooManyRequests:
		return true
	}
	return false
}

// NetworkError is a call that failed below HTTP: the connection could not
// be made, was reset or closed before the response was read in full, or
// timed out (Options.HTTPClient.Timeout). The server may or may not have
// processed the request. Err is the underlying error (a *url.Error,
// io.ErrUnexpectedEOF, ...); when the call's context ended, Err matches
// context.Canceled or context.DeadlineExceeded and the error is not
// transient.
type NetworkError struct {
	// Op is the operation, e.g. "SyncFolderItems".
	Op string
	// Err is the transport error.
	Err error
}

// Error describes the failure.
func (e *NetworkError) Error() string { return "ews: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the transport error.
func (e *NetworkError) Unwrap() error { return e.Err }

// IsTransient reports whether retrying later may succeed: true unless the
// call's context ended.
func (e *NetworkError) IsTransient() bool {
	return !errors.Is(e.Err, context.Canceled) && !errors.Is(e.Err, context.DeadlineExceeded)
}

// malformed wraps detail as an ErrMalformedResponse for op.
func malformed(op string, detail error) error {
	return fmt.Errorf("ews: %s: %w: %w", op, ErrMalformedResponse, detail)
}

// malformedf is malformed with a formatted detail.
func malformedf(op, format string, args ...any) error {
	return fmt.Errorf("ews: %s: %w: %s", op, ErrMalformedResponse, fmt.Sprintf(format, args...))
}

// invalidf reports a request the client refuses to send.
func invalidf(op, format string, args ...any) error {
	return fmt.Errorf("ews: %s: %w: %s", op, ErrInvalidRequest, fmt.Sprintf(format, args...))
}

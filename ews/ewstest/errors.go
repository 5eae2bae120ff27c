package ewstest

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by the Mailbox mutation and query functions.
// Each carries the ResponseCode Exchange uses for it, which the SOAP
// operations report (see ResponseCode); match them with errors.Is.
var (
	// ErrItemNotFound: no item with that id in the mailbox.
	ErrItemNotFound = sentinel("ErrorItemNotFound", "item not found")
	// ErrFolderNotFound: no folder with that id.
	ErrFolderNotFound = sentinel("ErrorFolderNotFound", "folder not found")
	// ErrFolderExists: a sibling folder already has that display name.
	ErrFolderExists = sentinel("ErrorFolderExists", "a folder with that name already exists")
	// ErrInvalidFolderName: an empty or over-long display name.
	ErrInvalidFolderName = sentinel("ErrorFolderSavePropertyError", "invalid folder display name")
	// ErrDistinguishedFolder: the operation is not allowed on a
	// distinguished folder (MoveFolder reports ErrorMoveDistinguishedFolder
	// instead).
	ErrDistinguishedFolder = sentinel("ErrorDeleteDistinguishedFolder", "operation not allowed on a distinguished folder")
	// ErrMoveIntoSubtree: a folder cannot be moved into itself or its own
	// subtree.
	ErrMoveIntoSubtree = sentinel("ErrorMoveCopyFailed", "cannot move a folder into its own subtree")
	// ErrConflict: a stale ChangeKey under NeverOverwrite or AutoResolve.
	ErrConflict = sentinel("ErrorIrresolvableConflict", "the change key is stale")
	// ErrInvalidSyncState: a garbage sync state, a state for another folder
	// or mailbox, a hierarchy state used for items (or the reverse), or a
	// state older than the tombstone retention.
	ErrInvalidSyncState = sentinel("ErrorInvalidSyncStateData", "invalid sync state data")
	// ErrUnknownMailbox: no mailbox with that SMTP address.
	ErrUnknownMailbox = sentinel("ErrorNonExistentMailbox", "no such mailbox")
	// ErrInvalidID: an ItemId or FolderId that is not well formed.
	ErrInvalidID = sentinel("ErrorInvalidIdMalformed", "malformed id")
	// ErrInvalidArgument: a Go caller passed a value the model rejects
	// (for example an unknown DeleteMode).
	ErrInvalidArgument = sentinel("ErrorInvalidRequest", "invalid argument")
)

// modelError is a sentinel: a condition of the mailbox model and the
// ResponseCode Exchange reports for it.
type modelError struct {
	code string
	text string
}

func (e *modelError) Error() string { return "ewstest: " + e.text }

// sentinel declares one of the package's sentinel errors.
func sentinel(code, text string) error { return &modelError{code: code, text: text} }

// ResponseCode returns the EWS ResponseCode that Exchange uses for err, or
// ErrorInternalServerError when err is not one of this package's errors.
// An explicit code raised by a SOAP operation wins over the sentinel it
// wraps.
func ResponseCode(err error) string {
	var re *responseError
	var me *modelError
	switch {
	case err == nil:
		return "NoError"
	case errors.As(err, &re):
		return re.code
	case errors.As(err, &me):
		return me.code
	}
	return "ErrorInternalServerError"
}

// responseError carries an explicit EWS response code (and optionally
// wraps one of the sentinels) for errors raised by the SOAP layer.
type responseError struct {
	code string
	msg  string
	wrap error
}

func (e *responseError) Error() string {
	return fmt.Sprintf("ewstest: %s: %s", e.code, e.msg)
}

func (e *responseError) Unwrap() error { return e.wrap }

// codeErr builds a responseError with the given EWS code and message text.
func codeErr(code, format string, args ...any) error {
	return &responseError{code: code, msg: fmt.Sprintf(format, args...)}
}

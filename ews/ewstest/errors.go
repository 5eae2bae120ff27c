package ewstest

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by the Mailbox mutation and query functions.
// The SOAP operations map each to the ResponseCode Exchange uses for it
// (see ResponseCode).
var (
	// ErrItemNotFound: no item with that id in the mailbox (ErrorItemNotFound).
	ErrItemNotFound = errors.New("ewstest: item not found")
	// ErrFolderNotFound: no folder with that id (ErrorFolderNotFound).
	ErrFolderNotFound = errors.New("ewstest: folder not found")
	// ErrFolderExists: a sibling folder already has that display name
	// (ErrorFolderExists).
	ErrFolderExists = errors.New("ewstest: a folder with that name already exists")
	// ErrInvalidFolderName: an empty or over-long display name
	// (ErrorFolderSavePropertyError).
	ErrInvalidFolderName = errors.New("ewstest: invalid folder display name")
	// ErrDistinguishedFolder: the operation is not allowed on a distinguished
	// folder (ErrorDeleteDistinguishedFolder; MoveFolder reports
	// ErrorMoveDistinguishedFolder).
	ErrDistinguishedFolder = errors.New("ewstest: operation not allowed on a distinguished folder")
	// ErrMoveIntoSubtree: a folder cannot be moved into itself or its own
	// subtree (ErrorMoveCopyFailed).
	ErrMoveIntoSubtree = errors.New("ewstest: cannot move a folder into its own subtree")
	// ErrConflict: a stale ChangeKey under NeverOverwrite or AutoResolve
	// (ErrorIrresolvableConflict).
	ErrConflict = errors.New("ewstest: the change key is stale")
	// ErrInvalidSyncState: a garbage sync state, a state for another folder
	// or mailbox, a hierarchy state used for items (or the reverse), or a
	// state older than the tombstone retention (ErrorInvalidSyncStateData).
	ErrInvalidSyncState = errors.New("ewstest: invalid sync state data")
	// ErrUnknownMailbox: no mailbox with that SMTP address
	// (ErrorNonExistentMailbox).
	ErrUnknownMailbox = errors.New("ewstest: no such mailbox")
	// ErrInvalidID: an ItemId or FolderId that is not well formed
	// (ErrorInvalidIdMalformed).
	ErrInvalidID = errors.New("ewstest: malformed id")
	// ErrInvalidArgument: a Go caller passed a value the model rejects
	// (for example an unknown DeleteMode).
	ErrInvalidArgument = errors.New("ewstest: invalid argument")
)

// ResponseCode returns the EWS ResponseCode that Exchange uses for err, or
// ErrorInternalServerError when err is not one of this package's errors.
func ResponseCode(err error) string {
	var re *responseError
	switch {
	case err == nil:
		return "NoError"
	case errors.As(err, &re):
		return re.code
	case errors.Is(err, ErrItemNotFound):
		return "ErrorItemNotFound"
	case errors.Is(err, ErrFolderNotFound):
		return "ErrorFolderNotFound"
	case errors.Is(err, ErrFolderExists):
		return "ErrorFolderExists"
	case errors.Is(err, ErrInvalidFolderName):
		return "ErrorFolderSavePropertyError"
	case errors.Is(err, ErrDistinguishedFolder):
		return "ErrorDeleteDistinguishedFolder"
	case errors.Is(err, ErrMoveIntoSubtree):
		return "ErrorMoveCopyFailed"
	case errors.Is(err, ErrConflict):
		return "ErrorIrresolvableConflict"
	case errors.Is(err, ErrInvalidSyncState):
		return "ErrorInvalidSyncStateData"
	case errors.Is(err, ErrUnknownMailbox):
		return "ErrorNonExistentMailbox"
	case errors.Is(err, ErrInvalidID):
		return "ErrorInvalidIdMalformed"
	case errors.Is(err, ErrInvalidArgument):
		return "ErrorInvalidRequest"
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

package debounce

import "errors"

// Errors returned by this package. Match them with errors.Is.
var (
	// ErrClosed is returned by Add, FlushNow and a second Close once Close
	// has been called.
	ErrClosed = errors.New("debounce: closed")

	// ErrInvalidConfig is wrapped by every error from Config.Validate and
	// New that is caused by a bad Config field; the message names the field.
	ErrInvalidConfig = errors.New("debounce: invalid config")

	// ErrNoDeliver is returned by New when the deliver function is nil.
	ErrNoDeliver = errors.New("debounce: nil deliver function")
)

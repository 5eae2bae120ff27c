package syncengine

import "errors"

// Errors returned by the engine. Match them with errors.Is.
var (
	// ErrInvalidConfig is wrapped by every error about a bad Config or
	// Mailbox; the message names the field.
	ErrInvalidConfig = errors.New("syncengine: invalid config")
	// ErrClosed is returned after Close, and by a second Close.
	ErrClosed = errors.New("syncengine: engine closed")
	// ErrDuplicateMailbox is returned by AddMailbox for an address the
	// engine already runs.
	ErrDuplicateMailbox = errors.New("syncengine: mailbox already added")
	// ErrUnknownMailbox is returned for an address the engine does not run.
	ErrUnknownMailbox = errors.New("syncengine: unknown mailbox")
	// ErrNotStarted is returned by calls that need a started engine.
	ErrNotStarted = errors.New("syncengine: engine not started")
	// ErrPushNotConfigured is returned when a Push mailbox is added to an
	// engine whose Config.Push has neither Listen nor URL.
	ErrPushNotConfigured = errors.New("syncengine: push mode needs Config.Push.Listen or Config.Push.URL")
)

package authn

import "errors"

// Errors returned by New and Config.Validate.
var (
	// ErrUnknownMode is returned for a Mode other than the four defined.
	ErrUnknownMode = errors.New("authn: unknown authentication mode")
	// ErrNoUsers is returned when a mode that checks passwords or tokens
	// has nobody to admit.
	ErrNoUsers = errors.New("authn: no users configured")
	// ErrTokenUser is returned when a bearer token maps to a user that is
	// not in Config.Users.
	ErrTokenUser = errors.New("authn: bearer token for an unknown user")
)

package throttle

import "errors"

// ErrInvalidConfig is returned by Config.Validate for negative limits or
// durations.
var ErrInvalidConfig = errors.New("throttle: invalid configuration")

package ews

// Keys of the structured log attributes the client emits.
const (
	LogKeyEndpoint = "endpoint"
	LogKeyOp       = "op"
	LogKeyAttempt  = "attempt"
	LogKeyDuration = "duration"
	LogKeyBackOff  = "backoff"
	LogKeyError    = "error"
)

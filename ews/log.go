package ews

// Keys of the structured log attributes the client emits.
const (
	LogKeyEndpoint = "endpoint"
	LogKeyOp       = "op"
	LogKeyAttempt  = "attempt"
	LogKeyDuration = "duration"
	LogKeyBackOff  = "backoff"
	LogKeyError    = "error"
	// LogKeyClientRequestID is the client-request-id sent with a call.
	LogKeyClientRequestID = "client_request_id"
	// LogKeyRequestID is the request-id header Exchange answers with.
	LogKeyRequestID = "request_id"
)

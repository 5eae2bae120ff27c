// Package ews is a client for Exchange Web Services (EWS): SOAP over HTTP(S)
// with NTLM, Basic or OAuth Bearer authentication, the folder and item
// operations an incremental mailbox sync needs, typed errors for every
// ResponseCode, server back-off hints, and affinity headers.
//
// # Basics
//
// New builds a Client from an endpoint URL and *Options without any I/O.
// Every operation is a method taking a context.Context first:
// GetFolder, FindFolder, SyncFolderHierarchy, SyncFolderItems and GetItem.
// Batch operations (GetFolder, GetItem) return one result per requested id,
// in request order, each with its own Err, so one missing item does not
// fail the others; the returned error is reserved for failures of the whole
// request.
//
// Errors are typed. A ResponseMessage with ResponseClass Error becomes a
// *ResponseError, a SOAP Fault a *FaultError, an unexpected HTTP status an
// *HTTPError; each matches the Code constants (ErrServerBusy,
// ErrInvalidSyncStateData, ErrItemNotFound, ...) with errors.Is, and
// anything any EWS code with errors.Is(err, ews.Code("ErrorX")). A
// response that is not what the operation expects wraps
// ErrMalformedResponse.
//
// ErrorServerBusy (as a fault, in a response message, or inside
// ErrorInternalServerError) and HTTP 503 are retried after the server's
// hint, or a capped exponential back-off with jitter, a bounded number of
// times (Options.Retry); waiting stops when the context is done.
//
// Responses are decoded by namespace URI, never by prefix.
//
// # Caveats
//
// Credentials never appear in logs, errors or Options.DebugWriter, but the
// DebugWriter does show SOAP bodies, which hold mailbox data.
//
// With NTLM, each request holds one of Options.MaxConnections dedicated
// connections for its whole handshake and response body; NTLM pins
// connections only when the base transport is an *http.Transport (the
// default). Response bodies are read whole and bounded by
// Options.MaxResponseBytes, so GetItem with MIME content should be
// batched small.
//
// EWS ids and sync states are opaque strings; the client never inspects
// them.
package ews

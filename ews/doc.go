// Package ews is a client for Exchange Web Services (EWS): SOAP over HTTP(S)
// with NTLM, Basic or OAuth Bearer authentication, the folder and item
// operations an incremental mailbox sync needs, typed errors for every
// ResponseCode, server back-off hints, and affinity headers.
//
// # Basics
//
// New builds a Client from an endpoint URL and *Options without any I/O;
// a nil *Options means defaults (RequestServerVersion Exchange2013, no
// credentials, slog.Default()). Every operation is a method taking a
// context.Context first: GetFolder, FindFolder (and the AllFolders
// iterator), SyncFolderHierarchy, SyncFolderItems (and the
// SyncFolderHierarchyPages / SyncFolderItemsPages iterators, which carry
// the sync state from page to page) and GetItem. A Client is safe for
// concurrent use.
//
// Batch operations (GetFolder, GetItem) return one result per requested
// id, in request order, each with its own Err, so one missing item does
// not fail the others; the returned error is reserved for failures of the
// whole request.
//
// Errors are typed. A ResponseMessage with ResponseClass Error (or Warning
// with a code) becomes a *ResponseError, a SOAP Fault a *FaultError, an
// unexpected HTTP status an *HTTPError. Each matches the Code constants
// (ErrServerBusy, ErrInvalidSyncStateData, ErrItemNotFound, ...) with
// errors.Is, and any other EWS code with errors.Is(err, ews.Code("ErrorX")).
// Methods on the errors classify them for recovery: IsTransient,
// NeedsResync, SubscriptionLost. A response that is not what the operation
// expects (truncated, not XML, wrong namespace, nested too deeply) wraps
// ErrMalformedResponse; one longer than Options.MaxResponseBytes is
// ErrResponseTooLarge. Responses are decoded by namespace URI, never by
// prefix.
//
// ErrorServerBusy (as a fault, in a response message, or as the inner code
// of ErrorInternalServerError), HTTP 503 and HTTP 429 are retried after the
// server's hint (BackOffMilliseconds, Retry-After), or a capped exponential
// back-off with jitter, a bounded number of times (Options.Retry); waiting
// stops when the context is done.
//
// # Time and back-off
//
// Everything that waits or times out reads a Clock: Options.Clock (retry
// waits, Retry-After dates), StreamingOptions.Clock (read timeout,
// reconnect back-off, handover) and PushListenerOptions.Clock (liveness).
// Nil means the wall clock. Clock is an alias of debounce.Clock, the
// module's one clock interface, so one value drives the client, the
// debouncer and the engine; tests pass debouncetest.Clock, whose timers
// run on the goroutine calling Advance, and never sleep. Every computed wait is a
// Backoff (capped exponential with jitter, a server hint from BackOffHint
// winning), which the engine and recovery use too.
//
// Every request carries RequestServerVersion, the ExchangeImpersonation
// header when Options.Impersonation is set, X-AnchorMailbox (the anchor,
// else the impersonated SMTP address), X-PreferServerAffinity when asked,
// and the X-BackEndOverrideCookie captured from an earlier response.
//
// # Notifications
//
// Subscribe creates pull, push or streaming subscriptions (folder ids,
// distinguished folders or all folders; event types; a watermark to resume
// pull and push). GetEvents reads one pull page and AllEvents pages through
// MoreEvents, reporting a broken PreviousWatermark chain as
// ErrWatermarkGap; Unsubscribe ends pull and streaming subscriptions.
//
// A StreamingConnection (Client.NewStreamingConnection) carries up to 200
// streaming subscriptions on one hanging GetStreamingEvents request, on its
// own HTTP connection (NTLM authenticates it separately), so it never
// blocks the sync calls. It reopens at once after ConnectionStatus Closed,
// notices a silent dead connection by its read timeout, and delivers
// notifications, per-subscription errors and connection errors in order
// on one channel from one goroutine; see its delivery contract. Add and
// Remove change the subscription set without losing events.
//
// A PushListener is an http.Handler for push subscriptions. Each
// subscription gets an unguessable callback path of its own (Expect, then
// PushCallback.URL for SubscribeRequest.URL and PushCallback.Register);
// a POST on any other path, or naming another subscription, is 404 and
// changes nothing. It answers OK (or Unsubscribe on the path of a
// subscription that is gone), hands notifications off without blocking,
// never moves a watermark except along the server's unbroken chain
// (anything else is a gap to reconcile), and reports a subscription lost
// after 2 × StatusFrequency of silence. PushServer serves it with
// timeouts, a connection limit and optional TLS.
//
// AffinityGroup sends X-AnchorMailbox and X-PreferServerAffinity for a
// group of up to 200 mailboxes and carries the group's
// X-BackEndOverrideCookie on its subscription requests.
//
// # Autodiscover and affinity
//
// An Autodiscoverer (NewAutodiscoverer, no I/O) turns email addresses into
// UserSettings: the EWS URL, GroupingInformation and the other settings of
// SOAP GetUserSettings, asked for up to MaxAutodiscoverUsers mailboxes per
// request, with POX Autodiscover as the fallback. It tries the domain's
// candidate URLs in Microsoft's order (or AutodiscoverOptions.URL alone),
// follows address and URL redirects up to MaxRedirects hops, never to
// plain http and outside the domain only with AllowRedirect's consent
// (ErrRedirectRefused, ErrTooManyRedirects), and caches answers for
// AutodiscoverOptions.TTL (24 h) on Options.Clock; Forget drops a
// mailbox's answer after a move. GroupByAffinity splits the answers into
// AffinityGroups of mailboxes sharing EWS URL and GroupingInformation.
//
// # Caveats
//
// Events are hints: they say that a folder changed, and SyncFolderItems says
// what changed. Streaming events carry no watermark, so a lost streaming
// subscription is recovered by comparing folder properties, not by replay.
//
// Credentials never appear in logs, errors or Options.DebugWriter, but the
// DebugWriter does show SOAP bodies, which hold mailbox data.
//
// With NTLM, each request holds one of Options.MaxConnections dedicated
// keep-alive connections for its whole handshake and response body, because
// NTLM authenticates the connection; this works only when the base
// transport is an *http.Transport (the default). Request bodies are
// buffered so each handshake leg can resend them.
//
// Response bodies are read whole and bounded by Options.MaxResponseBytes,
// so GetItem with MIME content should be batched small. A decoded Item's
// MimeContent is a []byte held in memory.
//
// Calls have no timeout of their own: bound them with the context (or
// Options.HTTPClient.Timeout). A hung call holds its NTLM connection until
// then.
//
// EWS ids, change keys and sync states are opaque strings; the client never
// inspects them. SyncFolderItems and SyncFolderHierarchy return one page:
// the caller stores SyncState with the applied changes and calls again
// while IncludesLastItemInRange (IncludesLastFolderInRange) is false.
package ews

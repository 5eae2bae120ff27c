// Package notify is the notification side of the ewstest fake Exchange
// server: the per-database event tables with opaque watermarks, and the
// pull, push and streaming subscriptions that read them. It knows nothing
// of SOAP requests; package ewstest parses the operations and writes the
// envelopes this package renders (AppendNotification, AppendFrameEnvelope,
// AppendPushEnvelope).
//
// # Basics
//
// A Broker holds one event table per mailbox database. The mailbox model
// calls Publish with the events Exchange raises for each user action; the
// broker appends them in order, gives each a watermark (base64 of the
// database's token and the event's sequence number) and hands them to the
// matching subscriptions (same mailbox, a requested EventType, and — unless
// the subscription covers all folders — the event's folder, parent folder
// or old parent folder among the subscribed ones). What the broker
// promises, each backed by a test:
//
//   - Watermarks chain: a pull or push notification's PreviousWatermark is
//     the watermark the client last saw (the subscription's for the first),
//     events carry increasing watermarks, and an idle StatusEvent repeats
//     the last one. A watermark from another database, a future one, a
//     garbage one, or one whose following events have left the table (older
//     than Options.Retention, 30 days by default, or overrun by
//     Options.MaxLogEvents) is ErrInvalidWatermark.
//   - Subscribe with a watermark replays by a linear walk of the whole
//     event table, as Exchange does; Stats.ReplayWalked counts the entries
//     walked.
//   - GetEvents returns at most 50 events (MoreEvents when more wait), or
//     one StatusEvent; it restarts the pull Timeout (1-1440 min), after
//     which the subscription expires (ErrExpiredSubscription, remembered
//     until Restart).
//   - A streaming connection (OpenStream) yields Frames: an OK envelope at
//     once, notifications as events happen, keep-alives after
//     KeepAliveInterval of quiet, and Closed at the ConnectionTimeout (1-30
//     min). Up to 200 ids; one connection per subscription (a new one takes
//     it over and the old gets ErrNewEventStreamConnectionOpened); per-id
//     errors as error frames; HangingConnectionLimit connections per
//     account (ErrExceededConnectionCount). Events raised while a
//     subscription has no connection are queued and delivered on the next
//     one; a queue overflow (MaxQueuedEvents) is reported once as
//     ErrMissedNotificationEvents. A streaming subscription without a
//     connection expires after StreamingIdleExpiry (30 min by default:
//     Exchange does not document it).
//   - Push: the first SendNotification (a StatusEvent, or the replayed
//     events) is posted at once; one POST at a time; "OK" continues,
//     "Unsubscribe" ends; a StatusEvent after StatusFrequency of quiet; on
//     failure the chosen RetrySchedule, then the subscription is deleted.
//     The POSTs use a real http.Client; every delay is on Options.Clock.
//   - Subscriptions are charged to their mailbox (SubscribeToAllFolders 1,
//     a folder list 1 per folder) up to MaxSubscriptions
//     (ErrExceededSubscriptionCount); Unsubscribe frees the budget at once.
//     Only the principal that subscribed may use a subscription, on the
//     backend that hosts it (else ErrSubscriptionNotFound, as when affinity
//     is lost).
//   - Restart drops subscriptions and connections but keeps the tables;
//     MoveMailbox ends the mailbox's subscriptions
//     (ErrMailboxMoveInProgress) and invalidates its old watermarks.
//
// All timing reads Options.Clock, so tests drive it with
// debouncetest.Clock and never sleep: timers run inside Advance, on the
// goroutine calling it.
//
// # Caveats
//
// Subscriptions live in memory only, as on a real Client Access server.
// Exchange's exact lifetime of an unconnected streaming subscription, its
// keep-alive interval, its error code for more than 200 ids
// (ErrInvalidArgument here) and its behaviour after a mailbox move are not
// documented; the choices above are ours. The 2007-era push schedule
// (RetryLinear) is our reading of an unconfirmed description. Frames queued
// on a connection that is dropped or closed by the client are lost with it,
// as on a real socket; an orderly Closed loses nothing.
package notify

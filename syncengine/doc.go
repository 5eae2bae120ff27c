// Package syncengine keeps a localstore mirror of one or many Exchange
// mailboxes up to date over EWS: initial sync, live sync from notifications,
// and recovery after a lost subscription. It joins the other packages:
// ews fetches, debounce coalesces, localstore commits, recovery plans.
//
// # Basics
//
//	store, _ := localstore.Open("mirror.db", nil)
//	eng, _ := syncengine.New(store, syncengine.Config{})
//	_ = eng.AddMailbox(ctx, syncengine.Mailbox{Address: addr, Client: client})
//	_ = eng.Start(ctx)
//	defer eng.Close(ctx)
//
// Each mailbox has one owner goroutine, the only one that syncs and commits
// for it, so its batches apply in order. On Start it
//
//  1. unsubscribes a subscription a previous run left stored (best effort),
//     and opens a fresh all-folders subscription — before it looks at any
//     folder, so a change made during a long initial sync raises an event
//     and is synced afterwards (DESIGN.md invariant 2);
//  2. on a new mirror, runs the initial sync: SyncFolderHierarchy from
//     msgfolderroot, then every selected folder with SyncFolderItems to
//     IncludesLastItemInRange, Config.FolderConcurrency folders at a time,
//     each page committed with its checkpoint as it arrives, so a crash
//     resumes from the last committed page; on an existing mirror, runs a
//     recovery instead, since the process was down and the old
//     subscription's events are not trusted;
//  3. follows the subscription: events are hints (invariant 4) fed into a
//     debounce.Debouncer keyed by folder (folder events mark the hierarchy
//     dirty); each batch syncs the hierarchy if dirty, then each dirty
//     folder from its SyncState, and commits it all in one transaction
//     together with the subscription state (split only past
//     Config.MaxBatchChanges, each part with the checkpoints it covers).
//
// Before each folder's sync its PR_LOCAL_COMMIT_TIME_MAX and
// PR_DELETED_COUNT_TOTAL (with TotalCount and UnreadCount) are read with a
// batched GetFolder and stored with the SyncState the sync produced
// (invariant 3); the checkpoint's LastSynced holds when they were read, and
// stays zero until the sync reached its last page, which marks a folder
// whose sync was interrupted.
//
// # Notifications and lost subscriptions
//
// Streaming (the default) shares GetStreamingEvents connections between
// the mailboxes of one Client (and affinity group), at most 200
// subscriptions per connection. Pull polls GetEvents every
// Config.PullInterval. Push serves an ews.PushListener at Config.Push.Listen
// (or through PushHandler) on a path with a random secret, registers each
// subscription with its StatusFrequency, and counts a subscription as lost
// when neither a notification nor a StatusEvent arrived within
// 2 × StatusFrequency plus slack.
//
// A subscription counts as lost on the codes DESIGN.md lists
// (ErrorSubscriptionNotFound, ErrorInvalidSubscription,
// ErrorExpiredSubscription, ErrorInvalidWatermark, ErrorReadEventsFailed,
// ErrorMailboxMoveInProgress), when a streaming connection keeps failing for
// Config.StreamDownAfter, when a pull subscription's timeout elapsed, or
// when a push subscription fell silent. The mailbox then recovers as
// package recovery describes: a fresh subscription first, then a
// hierarchy sync, a comparison of every mirrored folder's props (read
// after that sync, so that a folder's resync never writes back a name or
// parent the hierarchy sync has just replaced) with the stored ones, and
// SyncFolderItems only for the folders that moved —
// never a replay of an old watermark. ErrorMissedNotificationEvents, a
// watermark gap and a debouncer overflow run the comparison without a new
// subscription. A net-zero set of read flips during the outage (one
// message read, another marked unread) moves none of the compared props,
// so every recovery is followed by a recheck: the folders it left alone
// are synced from their SyncStates, which ICS answers with every pending
// ReadFlagChange, one every Config.RecheckPause across the engine's
// mailboxes, between live batches; such flips stay unseen at most folders
// × RecheckPause (Metrics.RecheckRepairs counts the folders where a
// recheck found some). A background sweep (Config.SweepInterval, default
// 6 h) syncs the hierarchy and every selected folder the same way, one
// every Config.SweepPause, for whatever else went missing.
//
// # Moving mailboxes
//
// A mailbox with a Locator (Mailbox.Locator; AutodiscoverLocator asks
// Autodiscover) has no fixed Client: the engine asks the Locator before the
// mailbox's first request, again (bypassing any cache) after
// ErrorMailboxMoveInProgress and when the answer's Location.Expires passes
// (the Autodiscover TTL, on Config.Clock). When the EWS URL or
// GroupingInformation changed, it ends the subscription through the old
// client, takes the new clients and affinity group, and recovers: a fresh
// subscription on the new server, then the comparison (EventLocated with
// Moved reports it; MailboxStatus.EwsURL says where the mailbox is). A
// lookup that fails keeps the mailbox where it is. Without a Locator the
// mailbox stays on its Client, and a move is recovered there.
//
// # Errors
//
// Throttling (ErrorServerBusy, HTTP 503) is retried by the ews client; when
// it persists the mailbox backs off per the server's hint and retries the
// same batch, while new events keep accumulating in the debouncer.
// ErrorInvalidSyncStateData drops that folder's state and resyncs it from
// scratch, removing the items the server no longer reports (the rebuild
// commits no intermediate state, so a crash half way starts it over
// instead of leaving phantom items). A folder deleted on the server is
// removed from the mirror by the hierarchy sync.
//
// # Caveats
//
//   - Watermarks are stored with each batch for inspection, but a
//     restarted engine never resumes from one: it always opens a fresh
//     subscription and recovers by comparison.
//   - Folder selection (FolderFilter) is evaluated on each batch against
//     the current tree; moving a folder out of the selection stops its
//     sync but keeps what the mirror holds of it.
//   - Requests in Metrics count EWS calls, not HTTP round trips.
//   - Config.OnEvent runs on the mailbox's goroutine and must not block.
package syncengine

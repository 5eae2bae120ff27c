// Package recovery decides what to resync after a notification subscription
// was lost, by comparing each mirrored folder's MAPI properties with the ones
// stored at its last sync, instead of replaying an old watermark.
//
// # Basics
//
// The sync engine owns the goroutines and the subscriptions; this package
// only detects and plans. After a loss the engine
//
//  1. opens a fresh subscription (no watermark), so that changes from now on
//     raise events (DESIGN.md invariant 2), and syncs the folder hierarchy
//     (before the props are read: a folder's resync writes the name and
//     parent its props carry, which must not be older than the hierarchy
//     sync's);
//  2. reads PR_LOCAL_COMMIT_TIME_MAX (0x670A), PR_DELETED_COUNT_TOTAL
//     (0x670B), TotalCount and UnreadCount of every mirrored folder with
//     ReadProps: batched GetFolder calls, several batches at once;
//  3. calls Compare with what the mirror stored, which returns a Plan: the
//     folders to resync (each with its Reason), the folders that vanished
//     (to remove once SyncFolderHierarchy confirms it) and how many were
//     unchanged;
//  4. syncs the planned folders from their stored SyncStates and commits
//     each with its new pair, as in live sync; and
//  5. reports what happened as a Report.
//
// Classify maps the error that ended a subscription (or a call) to an
// Action, through the methods the ews error types carry (SubscriptionLost,
// NeedsResync, IsTransient), never by matching strings. A recovery that
// fails half way is retried by the engine with ews.Backoff; it is safe to
// restart from the top because nothing is committed for a folder that was
// not synced.
//
// # What the comparison can and cannot see
//
// PR_LOCAL_COMMIT_TIME_MAX has one-second granularity, and Exchange's
// store tracks read state apart from other changes, so a read-flag-only
// change may not move it (the fake's default). Compare therefore also
// compares DeletedCountTotal, TotalCount and UnreadCount, and treats a pair
// read less than UncertainWindow (default one second) after the folder's
// commit time as uncertain: such a folder is resynced, since a change in
// the same second would not have moved the stored time.
//
// The stored values were read before the folder's last sync, so they can
// lag what that sync brought in: a message read just before the sync, then
// another marked unread after the subscription was lost, leaves the
// server's UnreadCount equal to the stored one. Stored.Mirrored, the
// counts the mirror holds now, closes that gap: a complete folder whose
// server counts differ from the mirror's is resynced (ReasonMirrorCount).
//
// A set of read flips that leaves UnreadCount where it was (one message
// read, another marked unread) during one outage changes none of the four
// values. The engine therefore follows every recovery with a recheck:
// the non-empty folders the comparison left alone are synced from their
// SyncStates (ICS reports every pending ReadFlagChange; a folder with no
// change costs one SyncFolderItems that returns nothing), paced by
// syncengine.Config.RecheckPause (100 ms a folder across the engine by
// default), between live batches. The comparison still decides what is
// resynced while the mailbox is down to it; the recheck only bounds how
// long read flags can stay stale after a lost subscription: folders ×
// RecheckPause (tested by syncengine's
// TestEngine_RecheckFindsNetZeroReadFlips). With the recheck disabled, the
// background sweep (every six hours by default; SweepInterval and
// SweepPause) is that bound (TestEngine_SweepCatchesNetZeroReadFlips).
// Everything else converges when recovery ends.
//
// # Caveats
//
//   - Clocks: the uncertainty rule compares the time the engine read the
//     props (its clock) with the server's commit time. A client clock
//     running behind the server's makes more folders uncertain (more
//     resyncs, never fewer); one running ahead by more than UncertainWindow
//     weakens the rule, so keep clocks synchronised (NTP).
//   - A folder whose previous sync never reached IncludesLastItemInRange
//     (Stored.Complete false) is always resynced.
package recovery

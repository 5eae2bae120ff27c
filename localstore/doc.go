// Package localstore is the mailbox mirror: folders, message metadata,
// optional MIME and sync state of many mailboxes in one bbolt file.
//
// # Basics
//
// [Open] creates or opens a file (mode 0600) and starts the store's single
// writer. The sync engine translates what Exchange reports into a [Batch] and
// calls [Store.Apply]; everything in a batch (item and folder changes, the
// folders' SyncStates and MAPI props, the hierarchy SyncState, the
// subscription watermark, the batch's Seq) commits in one transaction or not
// at all, so progress is never recorded ahead of the data it covers.
// Applying a batch twice is harmless; a batch with a Seq not above the
// stored one is skipped.
//
// Batches from many goroutines queue for the writer, which commits whatever
// has queued up in one transaction (group commit). Each caller gets its own
// result: a batch that fails is answered with its error and the rest of the
// group is committed without it.
//
// Reads run in bbolt read transactions and never wait for the writer:
// [Store.Folders] (the tree), [Store.Items] (newest first, limit, cursor,
// unread only), [Store.Item], [Store.MIME] and [Store.MIMEBytes],
// [Store.Search], [Store.Stats], [Store.MailboxState], [Store.Mailboxes].
// "Newest 50 of a folder" is a key-range read of an index keyed by folder
// number, inverted receive time and item id; the unread index has the same
// keys; an item by id is one lookup. MIME lives in its own bucket, apart
// from the metadata.
//
// [Store.Watch] returns a [Watcher] of what each commit changed, fired only
// after the commit (bbolt's Tx.OnCommit); [Store.Notify] is the lighter
// "something changed" signal. [Store.Backup] writes a
// consistent snapshot while writes go on. [Store.Check] verifies the
// indexes, counters and bbolt pages.
//
// Values returned by the store are copies: they stay valid after the call.
//
// # Caveats
//
//   - One process per file: a second opener (another process, or another
//     Open in this one) fails with [ErrLocked] after Options.LockTimeout.
//   - A Watcher that falls behind by more than its buffer loses the
//     buffered events and gets an Event with Resync set: re-read the store.
//     Commits never wait for watchers.
//   - Listings longer than 256 items are read in several transactions and
//     may see commits made between them. [Store.MIME] holds a read
//     transaction until its reader is closed.
//   - [Store.Search] scans every item of the mailbox or folder: it is meant
//     for occasional use, not as a full-text index.
//   - Times are stored to the nanosecond and come back in UTC.
//   - Files from a newer schema fail to open with [ErrSchemaTooNew] and are
//     left untouched; older schemas are migrated on a read-write Open, in
//     one transaction that rewrites every record (minutes for millions of
//     items).
//   - The bbolt freelist is not written on commit (cheaper commits); Open
//     rebuilds it by scanning the file, which takes longer for big files.
//   - Folders are numbered per mailbox; numbers are never reused, so a
//     mailbox can create about four billion folders over its lifetime.
package localstore

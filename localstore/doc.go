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
// # Reading while another process writes
//
// The writer holds the file's lock for as long as it runs (a sync runs for
// hours), and bbolt lets no other process open the file meanwhile, not even
// read-only. So the writer publishes snapshots instead: [Store.Snapshot]
// writes a consistent copy to [SnapshotPath] (the store's path +
// ".snapshot") through a temporary file and a rename, and
// [Store.PublishSnapshots] keeps it current (at once, then after changes,
// at most once per interval). A reader calls [OpenReader]: it opens the
// store itself when no writer holds it, and the snapshot when one does, at
// once, without waiting for the lock; with neither it fails with
// [ErrLocked] and [ErrNoSnapshot]. A reader sees the snapshot as of when it
// opened it; [Store.Path] says which file it got. This keeps one writer and
// one file format, and needs no cooperation between the processes beyond
// the file name: a reader never blocks the writer, and the snapshot is
// never seen half written.
//
// # Damaged files
//
// [Open] checks the file's page structure before bbolt reads it and never
// crashes on a damaged or foreign file: it fails with an error matching
// [ErrCorrupt] (a [*CorruptError] naming the file) or, for a file with no
// bbolt meta page at all, [ErrNotStore]. Reads, Check and commits turn the
// panics bbolt raises on damage that appears later into ErrCorrupt. The
// mirror is a cache of the server: the way on from ErrCorrupt is
// [MoveAside], which renames the file to path.corrupt-<time>, after which
// Open creates an empty store and a sync fetches everything again.
//
// Values returned by the store are copies: they stay valid after the call.
//
// # Caveats
//
//   - One process per file: a second opener (another process, or another
//     Open in this one) fails with [ErrLocked] after Options.LockTimeout.
//     Readers beside a writer use [OpenReader] and the writer's snapshots.
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
//     Open also checks the page structure first, reading the file's branch
//     and leaf pages once more (the pages of large values are skipped).
//   - A damaged file fails Open with ErrCorrupt and is left as it is:
//     nothing repairs it in place. Decide (ask the user, or a flag) and call
//     [MoveAside], then Open again and sync from scratch. A file that fails
//     with ErrNotStore is most likely not a store: do not move it without
//     asking. A file with both meta pages destroyed also reads as
//     ErrNotStore. An empty file opens as a new store.
//   - Damage that appears while the store is open (another program writes
//     or truncates the file) is reported as ErrCorrupt by the reads and
//     writes that meet it; bbolt's own page check (part of Check) runs after
//     a check of the pages it will walk, so it meets none either.
//   - A read-write Open tightens an existing file that others may read or
//     write to mode 0600 and logs a warning.
//   - Snapshots: readers of a snapshot see the data as of the last
//     Snapshot, not live. On Windows, renaming over a snapshot that a
//     reader has open may fail; Snapshot then returns the error and the
//     reader keeps the old one. A reader of the store itself (no writer running)
//     holds a shared lock, and a writer that starts meanwhile waits for it
//     up to its LockTimeout.
//   - Folders are numbered per mailbox; numbers are never reused, so a
//     mailbox can create about four billion folders over its lifetime.
package localstore

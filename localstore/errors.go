package localstore

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned when opening or closing a store.
var (
	// ErrClosed is returned by every method after Close, and by a second
	// Close.
	ErrClosed = errors.New("localstore: store closed")

	// ErrLocked is returned by Open when another process (or another Open
	// in this process) holds the file and did not let go within
	// Options.LockTimeout.
	ErrLocked = errors.New("localstore: file is locked by another opener")

	// ErrSchemaTooNew is returned by Open for a file written by a newer
	// version of this package. The file is left untouched. The error is a
	// *SchemaError.
	ErrSchemaTooNew = errors.New("localstore: file schema is newer than this program")

	// ErrNeedsMigration is returned by a read-only Open of a file with an
	// older schema; open it read-write once to migrate it.
	ErrNeedsMigration = errors.New("localstore: file schema needs migration")

	// ErrNotStore is returned by Open for a file that is not a store: a
	// bbolt file not written by this package, or a file that is not a bbolt
	// file at all (no bbolt meta page in it). A store whose two meta pages
	// are both destroyed looks the same. Such a file is left untouched.
	// (A damaged store file fails with ErrCorrupt instead.)
	ErrNotStore = errors.New("localstore: not a localstore file")

	// ErrReadOnly is returned by writes to a store opened read-only.
	ErrReadOnly = errors.New("localstore: store is read-only")

	// ErrNoSnapshot is returned, together with ErrLocked, by OpenReader
	// when a writer holds the file and has published no snapshot (see
	// Store.Snapshot).
	ErrNoSnapshot = errors.New("localstore: no snapshot published")
)

// Errors returned by Apply. Each comes wrapped in a *BatchError naming the
// part of the batch at fault; nothing of a failed batch is written.
var (
	// ErrInvalidBatch is returned for a batch that is malformed on its own:
	// an empty or oversized id, a negative counter, an unknown kind.
	ErrInvalidBatch = errors.New("localstore: invalid batch")

	// ErrUnknownFolder is returned for a batch that puts an item into,
	// checkpoints or moves a folder the mirror does not hold.
	ErrUnknownFolder = errors.New("localstore: unknown folder")

	// ErrUnknownItem is returned for a batch that stores MIME for an item
	// the mirror does not hold.
	ErrUnknownItem = errors.New("localstore: unknown item")

	// ErrFolderCycle is returned for a batch that would make a folder its
	// own ancestor.
	ErrFolderCycle = errors.New("localstore: folder cycle")
)

// Errors returned by queries.
var (
	// ErrNotFound is returned when the mailbox, folder, item or MIME asked
	// for is not in the mirror.
	ErrNotFound = errors.New("localstore: not found")

	// ErrInvalidQuery is returned for a query that cannot be answered,
	// such as a search for the empty string.
	ErrInvalidQuery = errors.New("localstore: invalid query")

	// ErrCorrupt is returned when a stored record cannot be decoded, the
	// indexes disagree with the records, or (by Open, Check and reads) the
	// file's page structure is damaged. The error is a *CorruptError. The
	// mirror is a cache of the server: MoveAside the file and sync again.
	ErrCorrupt = errors.New("localstore: corrupt store")
)

// BatchError reports which part of a batch Apply rejected.
type BatchError struct {
	Mailbox Mailbox
	Part    string // the Batch field at fault, e.g. "Items"
	Index   int    // the index in that field
	ID      string // the id at fault, if any
	Err     error  // one of the Err* sentinels, possibly wrapped
}

// Error describes the rejected part.
func (e *BatchError) Error() string {
	return fmt.Sprintf("localstore: apply %s: %s[%d] %q: %v", e.Mailbox, e.Part, e.Index, e.ID, e.Err)
}

// Unwrap returns the cause.
func (e *BatchError) Unwrap() error { return e.Err }

// CorruptError reports a record that cannot be decoded, an index that
// disagrees with the records, or a damaged file: for damage to bbolt's page
// structure, found by Open or Check, Bucket is "file" and Key names the page.
type CorruptError struct {
	Path    string // the store file, when known (set by Open)
	Mailbox Mailbox
	Bucket  string // e.g. "items", or "file" for the page structure
	Key     string // the key or page at fault, printable
	Reason  string
}

// Error describes the damage.
func (e *CorruptError) Error() string {
	var b strings.Builder
	b.WriteString("localstore: corrupt store")
	if e.Path != "" {
		fmt.Fprintf(&b, " %s", e.Path)
	}
	b.WriteString(":")
	if e.Mailbox != "" {
		fmt.Fprintf(&b, " mailbox %q", e.Mailbox)
	}
	if e.Bucket != "" {
		fmt.Fprintf(&b, " bucket %s", e.Bucket)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, " key %q", e.Key)
	}
	fmt.Fprintf(&b, ": %s", e.Reason)
	return b.String()
}

// Is reports ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// SchemaError reports a schema version this package cannot open.
type SchemaError struct {
	Found     uint32 // version in the file
	Supported uint32 // newest version this package writes
}

// Error describes the mismatch.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("localstore: file has schema version %d, this program supports up to %d", e.Found, e.Supported)
}

// Is reports ErrSchemaTooNew.
func (e *SchemaError) Is(target error) bool { return target == ErrSchemaTooNew }

package localstore

import (
	"fmt"
	"unicode/utf8"
)

// MaxIDLen is the longest Mailbox, FolderID or ItemID the store accepts, in
// bytes. Exchange ids are around 150 bytes.
const MaxIDLen = 1024

// Batch is one atomic change to one mailbox's mirror. [Store.Apply] writes all
// of it in one transaction or none of it.
//
// The parts are applied in this fixed order, each slice in its own order:
//
//  1. Folders: create a folder or replace its metadata (a new ParentID moves it).
//  2. FolderMoves.
//  3. Items: create an item or replace it (a new FolderID moves it).
//  4. MIME: store an item's MIME content, replacing any earlier one.
//  5. ReadFlags: set an item's read state; unknown items are skipped.
//  6. ItemDeletes: remove items with their MIME; unknown items are skipped.
//  7. Checkpoints: set folders' SyncState, props and LastSynced.
//  8. FolderDeletes: remove folders with their subfolders, items and MIME;
//     unknown folders are skipped.
//  9. Hierarchy and Subscription, when not nil; then Seq.
//
// Applying the same batch twice leaves the mirror as applying it once. (The
// second Apply fails, writing nothing, if the batch deleted a folder that
// its own items go into; give batches a Seq and a repeat is simply
// skipped.)
type Batch struct {
	Mailbox Mailbox

	// Seq, when not zero, sequences batches of this mailbox: a batch whose
	// Seq is not above the stored one was applied already, and Apply skips
	// it and returns nil. The stored Seq is then set to this one. Zero
	// applies the batch unconditionally and leaves the stored Seq alone.
	Seq uint64

	Folders       []FolderInfo
	FolderMoves   []FolderMove
	Items         []Item
	MIME          []MIME
	ReadFlags     []ReadFlag
	ItemDeletes   []ItemID
	Checkpoints   []Checkpoint
	FolderDeletes []FolderID

	// Hierarchy, when not nil, replaces the SyncFolderHierarchy state.
	Hierarchy *HierarchySync
	// Subscription, when not nil, replaces the subscription state
	// (including the watermark).
	Subscription *Subscription
}

// HierarchySync is the mailbox's SyncFolderHierarchy checkpoint.
type HierarchySync struct {
	// SyncState is the state the last applied SyncFolderHierarchy page
	// returned.
	SyncState string
}

// FolderMove moves a folder under a new parent.
type FolderMove struct {
	ID        FolderID
	NewParent FolderID
}

// MIME is the full MIME content of an item.
type MIME struct {
	ID   ItemID
	Data []byte
}

// ReadFlag sets an item's read state (an ICS ReadFlagChange).
type ReadFlag struct {
	ID     ItemID
	IsRead bool
	// ChangeKey, when not empty, replaces the item's change key: Exchange
	// gives an item a new ChangeKey when its read flag changes, and the
	// ReadFlagChange's ItemId carries it.
	ChangeKey string
}

// Checkpoint sets the sync checkpoint of folder ID.
type Checkpoint struct {
	ID FolderID
	FolderSync
}

// ops is the number of changes in b, used to cap group commits.
func (b *Batch) ops() int {
	n := len(b.Folders) + len(b.FolderMoves) + len(b.Items) + len(b.MIME) +
		len(b.ReadFlags) + len(b.ItemDeletes) + len(b.Checkpoints) + len(b.FolderDeletes)
	if b.Hierarchy != nil || b.Subscription != nil {
		n++
	}
	return n
}

// validate checks what can be checked without the mirror: ids, kinds and
// counters. Everything that needs the stored state is checked in the
// transaction.
func (b *Batch) validate() error {
	if err := checkID("mailbox", string(b.Mailbox)); err != nil {
		return &BatchError{Mailbox: b.Mailbox, Part: "Mailbox", Err: err}
	}
	fail := func(part string, i int, id string, err error) error {
		return &BatchError{Mailbox: b.Mailbox, Part: part, Index: i, ID: id, Err: err}
	}
	for i, f := range b.Folders {
		if err := checkID("folder id", string(f.ID)); err != nil {
			return fail("Folders", i, string(f.ID), err)
		}
		if f.ParentID != "" {
			if err := checkID("parent id", string(f.ParentID)); err != nil {
				return fail("Folders", i, string(f.ID), err)
			}
		}
		if f.ParentID == f.ID {
			return fail("Folders", i, string(f.ID), fmt.Errorf("%w: folder is its own parent", ErrFolderCycle))
		}
		if f.TotalCount < 0 || f.UnreadCount < 0 || f.ChildFolderCount < 0 {
			return fail("Folders", i, string(f.ID), fmt.Errorf("%w: negative count", ErrInvalidBatch))
		}
	}
	for i, m := range b.FolderMoves {
		if err := checkID("folder id", string(m.ID)); err != nil {
			return fail("FolderMoves", i, string(m.ID), err)
		}
		if m.NewParent != "" {
			if err := checkID("parent id", string(m.NewParent)); err != nil {
				return fail("FolderMoves", i, string(m.ID), err)
			}
		}
		if m.NewParent == m.ID {
			return fail("FolderMoves", i, string(m.ID), fmt.Errorf("%w: folder is its own parent", ErrFolderCycle))
		}
	}
	for i := range b.Items {
		it := &b.Items[i]
		if err := checkID("item id", string(it.ID)); err != nil {
			return fail("Items", i, string(it.ID), err)
		}
		if err := checkID("folder id", string(it.FolderID)); err != nil {
			return fail("Items", i, string(it.ID), err)
		}
		if it.Size < 0 {
			return fail("Items", i, string(it.ID), fmt.Errorf("%w: negative size", ErrInvalidBatch))
		}
		if it.Importance > ImportanceHigh {
			return fail("Items", i, string(it.ID), fmt.Errorf("%w: importance %d", ErrInvalidBatch, it.Importance))
		}
	}
	for i, m := range b.MIME {
		if err := checkID("item id", string(m.ID)); err != nil {
			return fail("MIME", i, string(m.ID), err)
		}
		if len(m.Data) > maxMIME {
			return fail("MIME", i, string(m.ID), fmt.Errorf("%w: MIME of %d bytes exceeds %d", ErrInvalidBatch, len(m.Data), maxMIME))
		}
	}
	for i, r := range b.ReadFlags {
		if err := checkID("item id", string(r.ID)); err != nil {
			return fail("ReadFlags", i, string(r.ID), err)
		}
	}
	for i, id := range b.ItemDeletes {
		if err := checkID("item id", string(id)); err != nil {
			return fail("ItemDeletes", i, string(id), err)
		}
	}
	for i, c := range b.Checkpoints {
		if err := checkID("folder id", string(c.ID)); err != nil {
			return fail("Checkpoints", i, string(c.ID), err)
		}
		if c.DeletedCountTotal < 0 {
			return fail("Checkpoints", i, string(c.ID), fmt.Errorf("%w: negative deleted count", ErrInvalidBatch))
		}
	}
	for i, id := range b.FolderDeletes {
		if err := checkID("folder id", string(id)); err != nil {
			return fail("FolderDeletes", i, string(id), err)
		}
	}
	if s := b.Subscription; s != nil && s.Kind > Push {
		return fail("Subscription", 0, s.ID, fmt.Errorf("%w: subscription kind %d", ErrInvalidBatch, s.Kind))
	}
	return nil
}

// maxMIME caps one item's MIME content (bbolt's value limit is 2 GiB).
const maxMIME = 1 << 30

func checkID(what, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty %s", ErrInvalidBatch, what)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%w: %s of %d bytes exceeds %d", ErrInvalidBatch, what, len(id), MaxIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidBatch, what)
	}
	return nil
}

package localstore

import (
	"context"
	"sync"
	"sync/atomic"
)

// ChangeKind says what a Change did.
type ChangeKind uint8

// The change kinds.
const (
	ItemCreated         ChangeKind = iota + 1
	ItemUpdated                    // metadata replaced in the same folder
	ItemMoved                      // upserted into another folder; OldFolder says where from
	ItemReadChanged                // read flag flipped
	ItemDeleted                    // removed (not reported per item when its folder is deleted)
	ItemMIMEStored                 // MIME stored or replaced
	FolderCreated                  //
	FolderUpdated                  // metadata replaced, same parent
	FolderMoved                    // new parent; OldFolder is the old parent
	FolderDeleted                  // removed with its items; subfolders get their own FolderDeleted
	FolderSynced                   // checkpoint written
	MailboxStateChanged            // hierarchy SyncState or subscription state written
	MailboxRemoved                 // RemoveMailbox
	MailboxCreated                 // the first batch of a mailbox
)

var changeKindNames = [...]string{"", "ItemCreated", "ItemUpdated", "ItemMoved", "ItemReadChanged", "ItemDeleted",
	"ItemMIMEStored", "FolderCreated", "FolderUpdated", "FolderMoved", "FolderDeleted", "FolderSynced",
	"MailboxStateChanged", "MailboxRemoved", "MailboxCreated"}

// String returns the kind's name.
func (k ChangeKind) String() string {
	if int(k) < len(changeKindNames) && k != 0 {
		return changeKindNames[k]
	}
	return "ChangeKind(?)"
}

// Change is one thing a commit changed.
type Change struct {
	Kind      ChangeKind
	Mailbox   Mailbox
	Folder    FolderID // the folder concerned (for items: the folder now holding it)
	Item      ItemID   // empty for folder and mailbox changes
	OldFolder FolderID // ItemMoved: previous folder; FolderMoved: previous parent
}

// String formats c as "Kind mailbox folder [item] [from old]".
func (c Change) String() string {
	s := c.Kind.String() + " " + string(c.Mailbox)
	if c.Folder != "" {
		s += " " + string(c.Folder)
	}
	if c.Item != "" {
		s += " " + string(c.Item)
	}
	if c.OldFolder != "" {
		s += " from " + string(c.OldFolder)
	}
	return s
}

// Event is what a Watcher receives: the changes of one commit, in the order
// applied; or, when the watcher fell behind, a Resync.
type Event struct {
	// Commit numbers commits since Open, starting at 1; gaps mean commits
	// this watcher did not see (see Resync).
	Commit uint64
	// Changes of the commit. Shared with other watchers: do not modify.
	Changes []Change
	// Resync reports that events were dropped because the watcher fell
	// behind: re-read what you mirror from the store. Changes is empty.
	Resync bool
}

// DefaultWatchBuffer is the Watcher buffer used for a buffer size of 0.
const DefaultWatchBuffer = 256

// MaxWatchChanges caps the changes a Watcher buffers across its events, so a
// slow watcher of large batches holds bounded memory. An event that would go
// past it counts as falling behind.
const MaxWatchChanges = 1 << 16

// feed fans committed changes out to watchers.
type feed struct {
	mu       sync.Mutex
	watchers map[*Watcher]struct{}
	commit   uint64
	closed   bool
	notify   chan struct{} // closed and replaced by every commit
}

func (f *feed) init() {
	f.watchers = map[*Watcher]struct{}{}
	f.notify = make(chan struct{})
}

// publish runs from tx.OnCommit on the writer goroutine: it only appends to
// bounded queues and never blocks on a watcher.
func (f *feed) publish(changes []Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commit++
	close(f.notify)
	f.notify = make(chan struct{})
	ev := Event{Commit: f.commit, Changes: changes}
	for w := range f.watchers {
		w.push(ev)
	}
}

func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	close(f.notify)
	for w := range f.watchers {
		w.end()
	}
	clear(f.watchers)
}

// Notify returns a channel that is closed by the next commit that changes
// something (or by Close): a "changed, come and read" signal that never
// drops and never blocks the writer. Call Notify again after it fires.
func (s *Store) Notify() <-chan struct{} {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	return s.feed.notify
}

// Watcher receives the store's committed changes.
//
// Policy for a slow reader: a Watcher buffers up to its buffer size of
// events and up to MaxWatchChanges changes. When a commit's event does not
// fit, the buffered events and that event are dropped (counted by Dropped)
// and the next event the reader gets is a Resync; events after the drop
// follow it. Commits never wait for a Watcher.
type Watcher struct {
	f       *feed
	max     int
	mu      sync.Mutex
	queue   []Event
	changes int // changes in queue
	maxChg  int // MaxWatchChanges; lowered by tests
	resync  bool
	ended   bool
	signal  chan struct{} // capacity 1: something to read or ended
	dropped atomic.Uint64
}

// Watch returns a Watcher of changes committed from now on, buffering up to
// buffer events (0 means DefaultWatchBuffer). The Watcher ends when ctx ends,
// when it is closed, or when the store is closed.
func (s *Store) Watch(ctx context.Context, buffer int) *Watcher {
	if buffer <= 0 {
		buffer = DefaultWatchBuffer
	}
	w := &Watcher{f: &s.feed, max: buffer, maxChg: MaxWatchChanges, signal: make(chan struct{}, 1)}
	s.feed.mu.Lock()
	if s.feed.closed {
		w.ended = true
	} else {
		s.feed.watchers[w] = struct{}{}
	}
	s.feed.mu.Unlock()
	if ctx.Done() != nil {
		context.AfterFunc(ctx, func() { _ = w.Close() })
	}
	return w
}

func (w *Watcher) push(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	if len(w.queue) >= w.max || w.changes+len(ev.Changes) > w.maxChg {
		w.dropped.Add(uint64(len(w.queue)) + 1)
		clear(w.queue)
		w.queue = w.queue[:0]
		w.changes = 0
		w.resync = true
	} else {
		w.queue = append(w.queue, ev)
		w.changes += len(ev.Changes)
	}
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *Watcher) end() {
	w.mu.Lock()
	w.ended = true
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// Next returns the next event, waiting for one. It returns ctx.Err() when ctx
// ends first, and ErrClosed once the Watcher has ended and its buffer is
// drained.
func (w *Watcher) Next(ctx context.Context) (Event, error) {
	for {
		w.mu.Lock()
		switch {
		case w.resync:
			w.resync = false
			w.mu.Unlock()
			return Event{Resync: true}, nil
		case len(w.queue) > 0:
			ev := w.queue[0]
			w.queue[0] = Event{}
			w.queue = w.queue[1:]
			w.changes -= len(ev.Changes)
			w.mu.Unlock()
			return ev, nil
		case w.ended:
			w.mu.Unlock()
			return Event{}, ErrClosed
		}
		w.mu.Unlock()
		select {
		case <-w.signal:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Dropped returns how many events were dropped because the Watcher fell
// behind.
func (w *Watcher) Dropped() uint64 { return w.dropped.Load() }

// Close ends the Watcher; Next returns what is buffered and then ErrClosed.
// Close is idempotent.
func (w *Watcher) Close() error {
	w.f.mu.Lock()
	delete(w.f.watchers, w)
	w.f.mu.Unlock()
	w.end()
	return nil
}

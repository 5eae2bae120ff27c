package syncengine

import (
	"context"
	"errors"
	"sync"

	"github.com/mailsync/mailsync/localstore"
)

// accumulator gathers the parts of one logical batch (several folders'
// pages, each with its checkpoint) and commits them in one transaction,
// or in several when the batch outgrows limit. Each part is added whole,
// with the checkpoint that covers it, so any commit is a consistent
// prefix (DESIGN.md invariant 1).
//
// A pipelined accumulator (newPipeline) commits in the background instead:
// add returns as soon as the part is queued, and one committer goroutine
// commits everything queued since its last commit in one transaction, so
// the folders' fetches go on while a commit (and its fsync) runs, and the
// transactions grow with the rate pages arrive. Parts keep the order they
// were added in, so every commit is still a consistent prefix: a crash may
// lose pages not yet committed, never record a state past what is stored.
type accumulator struct {
	m     *mailbox
	limit int // commit once this many changes are pending; ≤ 1 commits every part

	mu    sync.Mutex
	b     localstore.Batch
	ops   int
	after []func() // run once the pending parts are committed

	// Pipelined mode.
	ctx       context.Context // of the committer's Apply calls
	pipelined bool
	cond      *sync.Cond // signals a commit's end and space in the queue
	busy      bool       // the committer goroutine is running
	added     uint64     // parts added so far
	committed uint64     // parts committed so far
	err       error      // the first commit failure; later adds fail with it
}

// errAccumulatorClosed fails an add after close (a bug).
var errAccumulatorClosed = errors.New("syncengine: accumulator closed")

func newAccumulator(m *mailbox, limit int) *accumulator {
	return &accumulator{m: m, limit: limit, b: localstore.Batch{Mailbox: m.mb}}
}

// newPipeline returns a pipelined accumulator whose commits use ctx. add
// blocks while limit changes wait for the committer. Call close before
// dropping it: close waits for the committer goroutine.
func newPipeline(ctx context.Context, m *mailbox, limit int) *accumulator {
	a := newAccumulator(m, limit)
	a.ctx, a.pipelined = ctx, true
	a.cond = sync.NewCond(&a.mu)
	return a
}

func parts(b *localstore.Batch) int {
	return len(b.Folders) + len(b.FolderMoves) + len(b.Items) + len(b.MIME) + len(b.ReadFlags) +
		len(b.ItemDeletes) + len(b.Checkpoints) + len(b.FolderDeletes)
}

// add appends p to the pending batch and commits when the batch is big
// enough (or, pipelined, hands it to the committer). The accumulator may
// keep p's slices.
func (a *accumulator) add(ctx context.Context, p localstore.Batch) error {
	return a.addThen(ctx, p, nil)
}

// addThen is add with fn, when set, run after the commit that stores p (on
// the committer goroutine when pipelined). fn must not call a.
func (a *accumulator) addThen(ctx context.Context, p localstore.Batch, fn func()) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	b := &a.b
	supersede(b, p.Items)
	b.Folders = append(b.Folders, p.Folders...)
	b.FolderMoves = append(b.FolderMoves, p.FolderMoves...)
	if len(b.Items) == 0 {
		b.Items = p.Items // a page into an empty batch: no copy
	} else {
		b.Items = append(b.Items, p.Items...)
	}
	b.MIME = append(b.MIME, p.MIME...)
	b.ReadFlags = append(b.ReadFlags, p.ReadFlags...)
	b.ItemDeletes = append(b.ItemDeletes, p.ItemDeletes...)
	b.Checkpoints = append(b.Checkpoints, p.Checkpoints...)
	b.FolderDeletes = append(b.FolderDeletes, p.FolderDeletes...)
	if p.Hierarchy != nil {
		b.Hierarchy = p.Hierarchy
	}
	if p.Subscription != nil {
		b.Subscription = p.Subscription
	}
	if fn != nil {
		a.after = append(a.after, fn)
	}
	a.ops += parts(&p)
	a.added++
	if a.pipelined {
		a.kickLocked()
		for a.ops >= a.limit && a.err == nil && ctx.Err() == nil {
			a.cond.Wait() // the committer takes the whole queue, and signals
		}
		return a.err
	}
	if a.ops >= a.limit {
		return a.commitLocked(ctx)
	}
	return nil
}

// supersede drops from b the read flags and deletes of items that items
// replace. Apply runs a batch in fixed phases (items, then read flags, then
// deletes), so without this an earlier page's ReadFlagChange or Delete
// merged into one batch with a later page's full record of the same item
// would be applied after it, undoing the newer state.
func supersede(b *localstore.Batch, items []localstore.Item) {
	if len(items) == 0 || len(b.ReadFlags) == 0 && len(b.ItemDeletes) == 0 {
		return
	}
	ids := make(map[localstore.ItemID]bool, len(items))
	for _, it := range items {
		ids[it.ID] = true
	}
	rf := b.ReadFlags[:0]
	for _, r := range b.ReadFlags {
		if !ids[r.ID] {
			rf = append(rf, r)
		}
	}
	clear(b.ReadFlags[len(rf):])
	b.ReadFlags = rf
	del := b.ItemDeletes[:0]
	for _, id := range b.ItemDeletes {
		if !ids[id] {
			del = append(del, id)
		}
	}
	b.ItemDeletes = del
}

// then runs fn after the commit of everything added so far (at once when
// nothing is pending).
func (a *accumulator) then(fn func()) {
	a.mu.Lock()
	if a.added == a.committed && len(a.after) == 0 && !a.pendingLocked() {
		a.mu.Unlock()
		fn()
		return
	}
	a.after = append(a.after, fn)
	if a.pipelined {
		a.kickLocked()
	}
	a.mu.Unlock()
}

// flush commits whatever is pending, and returns once it is committed.
func (a *accumulator) flush(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.pipelined {
		return a.commitLocked(ctx)
	}
	target := a.added
	a.kickLocked()
	for a.committed < target && a.err == nil {
		a.cond.Wait()
	}
	return a.err
}

// close flushes a pipelined accumulator and waits for its committer to
// stop; the accumulator takes no more parts.
func (a *accumulator) close() error {
	if !a.pipelined {
		return nil
	}
	err := a.flush(a.ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = errAccumulatorClosed
	}
	for a.busy {
		a.cond.Wait()
	}
	return err
}

func (a *accumulator) pendingLocked() bool {
	b := &a.b
	return parts(b) > 0 || b.Hierarchy != nil || b.Subscription != nil
}

// kickLocked starts the committer unless it runs already.
func (a *accumulator) kickLocked() {
	if !a.busy && a.err == nil {
		a.busy = true
		go a.commitLoop()
	}
}

// commitLoop commits the queue until it finds it empty.
func (a *accumulator) commitLoop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.cond.Broadcast()
	defer func() { a.busy = false }()
	for a.err == nil && (a.committed < a.added || a.pendingLocked() || len(a.after) > 0) {
		b, after, upto := a.b, a.after, a.added
		a.b, a.after, a.ops = localstore.Batch{Mailbox: a.m.mb}, nil, 0
		a.cond.Broadcast() // room for the producers
		a.mu.Unlock()
		err := a.apply(a.ctx, b, after)
		a.mu.Lock()
		if err != nil {
			a.err = err
			return
		}
		a.committed = upto
		a.cond.Broadcast()
	}
}

func (a *accumulator) commitLocked(ctx context.Context) error {
	if a.err != nil {
		return a.err
	}
	b, after := a.b, a.after
	a.b, a.after = localstore.Batch{Mailbox: a.m.mb}, nil
	a.ops = 0
	if err := a.apply(ctx, b, after); err != nil {
		// Sticky, as in pipelined mode: what this commit dropped must not
		// be passed by a later checkpoint of another folder's sync.
		a.err = err
		return err
	}
	a.committed = a.added
	return nil
}

// apply commits b, if it holds anything, and then runs after.
func (a *accumulator) apply(ctx context.Context, b localstore.Batch, after []func()) error {
	if parts(&b) > 0 || b.Hierarchy != nil || b.Subscription != nil {
		if err := a.m.e.store.Apply(ctx, b); err != nil {
			return err
		}
		a.m.e.metrics.commits.Add(1)
		now := a.m.e.cfg.Clock.Now()
		a.m.st.update(func(s *MailboxStatus) { s.LastCommit = now })
	}
	for _, fn := range after {
		fn()
	}
	return nil
}

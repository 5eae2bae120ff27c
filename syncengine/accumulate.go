package syncengine

import (
	"context"
	"sync"

	"github.com/mailsync/mailsync/localstore"
)

// accumulator gathers the parts of one logical batch (several folders'
// pages, each with its checkpoint) and commits them in one transaction,
// or in several when the batch outgrows limit. Each part is added whole,
// with the checkpoint that covers it, so any commit is a consistent
// prefix (DESIGN.md invariant 1).
type accumulator struct {
	m     *mailbox
	limit int // commit once this many changes are pending; ≤ 1 commits every part

	mu      sync.Mutex
	b       localstore.Batch
	ops     int
	commits int
}

func newAccumulator(m *mailbox, limit int) *accumulator {
	return &accumulator{m: m, limit: limit, b: localstore.Batch{Mailbox: m.mb}}
}

func parts(b *localstore.Batch) int {
	return len(b.Folders) + len(b.FolderMoves) + len(b.Items) + len(b.MIME) + len(b.ReadFlags) +
		len(b.ItemDeletes) + len(b.Checkpoints) + len(b.FolderDeletes)
}

// add appends p to the pending batch and commits when the batch is big
// enough.
func (a *accumulator) add(ctx context.Context, p localstore.Batch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := &a.b
	b.Folders = append(b.Folders, p.Folders...)
	b.FolderMoves = append(b.FolderMoves, p.FolderMoves...)
	b.Items = append(b.Items, p.Items...)
	b.MIME = append(b.MIME, p.MIME...)
	b.ReadFlags = append(b.ReadFlags, p.ReadFlags...)
	b.ItemDeletes = append(b.ItemDeletes, p.ItemDeletes...)
	b.Checkpoints = append(b.Checkpoints, p.Checkpoints...)
	b.FolderDeletes = append(b.FolderDeletes, p.FolderDeletes...)
	if p.HierarchySyncState != nil {
		b.HierarchySyncState = p.HierarchySyncState
	}
	if p.Subscription != nil {
		b.Subscription = p.Subscription
	}
	a.ops += parts(&p)
	if a.ops >= a.limit {
		return a.commitLocked(ctx)
	}
	return nil
}

// flush commits whatever is pending.
func (a *accumulator) flush(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.commitLocked(ctx)
}

func (a *accumulator) commitLocked(ctx context.Context) error {
	b := a.b
	if parts(&b) == 0 && b.HierarchySyncState == nil && b.Subscription == nil {
		return nil
	}
	a.b = localstore.Batch{Mailbox: a.m.mb}
	a.ops = 0
	if err := a.m.e.store.Apply(ctx, b); err != nil {
		return err
	}
	a.commits++
	a.m.e.metrics.commits.Add(1)
	now := a.m.e.cfg.Clock.Now()
	a.m.st.update(func(s *MailboxStatus) { s.LastCommit = now })
	return nil
}

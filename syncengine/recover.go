package syncengine

import (
	"context"

	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/recovery"
)

// recover runs a recovery (package recovery plans it) and reports it,
// retrying with back-off until it completes or the mailbox stops.
func (m *mailbox) recover(ctx context.Context, a recovery.Action, cause string) {
	rep := &recovery.Report{Mailbox: m.cfg.Address, Cause: cause, Action: a}
	if err := m.recoverWith(ctx, a, rep); err != nil {
		m.log.Warn("recovery stopped", "err", err)
		return
	}
	m.setPhase(PhaseLive)
}

// recoverWith is the advised path after a lost subscription: a fresh
// subscription first (for Resubscribe and MailboxMoved; after a move, on
// the server the mailbox's Locator names now), then the hierarchy synced,
// then the props of every mirrored folder, compared with the stored ones;
// and only the folders that moved (or are new, or were left incomplete)
// synced from their stored SyncStates. (The hierarchy goes before the
// props: see recoverOnce.) A failure half way
// backs off and starts over from the top, which is safe: nothing is
// committed for a folder that was not synced.
func (m *mailbox) recoverWith(ctx context.Context, a recovery.Action, rep *recovery.Report) error {
	if err := m.e.initSem.Acquire(ctx, 1); err != nil {
		return err
	}
	defer m.e.initSem.Release(1)
	m.setPhase(PhaseRecovering)
	rep.Started = m.e.cfg.Clock.Now()
	calls0 := m.calls.total.Load()
	if a == recovery.MailboxMoved {
		rep.MailboxMoved = true
	}
	resub := a == recovery.Resubscribe || a == recovery.MailboxMoved
	relocate := a == recovery.MailboxMoved
	var err error
	for attempt := 0; ; attempt++ {
		rep.Attempts++
		if relocate {
			if err = m.relocateForRecovery(ctx, rep.Cause); err == nil {
				relocate = false
			}
		}
		if err == nil {
			err = m.recoverOnce(ctx, resub, rep)
		}
		if err == nil {
			break
		}
		m.log.Warn("recovery failed", "err", err, "attempt", attempt+1)
		switch recovery.Classify(err) {
		case recovery.Resubscribe:
			resub = true
		case recovery.MailboxMoved:
			resub, relocate = true, true
			rep.MailboxMoved = true
		}
		if !m.backoff(ctx, attempt, err) {
			rep.Err = err
			break
		}
		m.setPhase(PhaseRecovering)
	}
	rep.Duration = m.e.cfg.Clock.Now().Sub(rep.Started)
	rep.Requests = m.calls.total.Load() - calls0
	if rep.Err != nil {
		return rep.Err
	}
	m.pending = nil
	m.e.metrics.recoveries.Add(1)
	r := *rep
	m.st.update(func(s *MailboxStatus) {
		s.Recoveries++
		s.LastRecovery = &r
		s.Err = nil
	})
	m.log.Info(rep.String())
	m.emit(Event{Kind: EventRecovery, Recovery: &r})
	return nil
}

func (m *mailbox) recoverOnce(ctx context.Context, resub bool, rep *recovery.Report) error {
	if resub {
		if err := m.resubscribe(ctx); err != nil {
			return err
		}
		rep.Resubscribed = true
	}
	// Subscribe before you look: the hierarchy and the props are read only
	// now. The hierarchy goes first: a folder's resync below writes the
	// name, parent and class its props carry, so props read before the
	// hierarchy sync would write back what a rename in between changed,
	// and the rename's event would then find the hierarchy sync state
	// already past it.
	sel, err := m.selectFolders(ctx)
	if err != nil {
		return err
	}
	stored := make([]recovery.Stored, 0, len(sel.selected))
	ids := make([]string, 0, len(sel.selected))
	for _, f := range sel.selected {
		stored = append(stored, storedOf(f))
		ids = append(ids, string(f.ID))
	}
	hres, err := m.syncHierarchy(ctx)
	if err != nil {
		return err
	}
	m.hierDirty.Store(false)
	rep.Removed = len(hres.deleted)
	readAt := m.e.cfg.Clock.Now()
	var fresh *recovery.Fresh
	if len(ids) > 0 {
		fresh, err = recovery.ReadProps(ctx, m.remote, ids, &recovery.ReadOptions{Shape: folderShape(), Concurrency: m.e.cfg.FolderConcurrency})
		if err != nil {
			return err
		}
	} else {
		fresh = &recovery.Fresh{}
	}
	plan := recovery.Compare(stored, fresh.Props(), nil)
	rep.Compared = plan.Compared
	rep.Reasons = plan.Reasons()

	if len(plan.Vanished) > 0 {
		m.log.Info("folders not returned by GetFolder", "count", len(plan.Vanished), "removed by the hierarchy sync", len(hres.deleted))
	}

	// The records as the hierarchy sync left them. A folder it removed is
	// not resynced, even when GetFolder still finds it (in Recoverable
	// Items, say): its first page would put it back.
	sel2, err := m.selectFolders(ctx)
	if err != nil {
		return err
	}
	var runs []folderRun
	planned := make(map[localstore.FolderID]bool, len(plan.Resync))
	for _, d := range plan.Resync {
		id := localstore.FolderID(d.Folder)
		if f, ok := sel2.byID[id]; ok {
			runs = append(runs, folderRun{folder: f, props: fresh.Folders[d.Folder], readAt: readAt})
			planned[id] = true
		}
	}
	// Folders with events in a batch the loss interrupted are resynced
	// whatever their props say: the comparison cannot see a set of read
	// flips that left the counts where they were.
	for id := range m.pending {
		p, ok := fresh.Folders[string(id)]
		f, known := sel2.byID[id]
		if !ok || !known || planned[id] || !sel2.isSelected(id) {
			continue
		}
		runs = append(runs, folderRun{folder: f, props: p, readAt: readAt})
		planned[id] = true
		if rep.Reasons == nil {
			rep.Reasons = map[recovery.Reason]int{}
		}
		rep.Reasons[recovery.ReasonPending]++
	}
	// Folders the hierarchy sync brought in (or selected folders the
	// comparison could not see) are synced as new.
	var extra []localstore.Folder
	for _, f := range sel2.selected {
		if _, ok := sel.byID[f.ID]; !ok || (!sel.isSelected(f.ID) && f.LastSynced.IsZero()) {
			extra = append(extra, f)
		}
	}
	if len(extra) > 0 {
		more, _, err := m.readRuns(ctx, extra)
		if err != nil {
			return err
		}
		rep.New = len(more)
		if rep.Reasons == nil {
			rep.Reasons = map[recovery.Reason]int{}
		}
		rep.Reasons[recovery.ReasonNew] += len(more)
		runs = append(runs, more...)
	}
	rep.Resynced = len(runs)
	m.st.update(func(s *MailboxStatus) { s.FoldersTotal, s.FoldersDone = len(runs), 0 })
	acc := newAccumulator(m, m.e.cfg.MaxBatchChanges)
	n, err := m.syncFolders(ctx, runs, acc, func(localstore.Folder, changeCount) {
		m.st.update(func(s *MailboxStatus) { s.FoldersDone++ })
	})
	rep.Items += n.total()
	if err != nil {
		return err
	}
	if err := m.refreshUnselected(ctx, sel2, sel2.unselectedIDs(), acc); err != nil {
		return err
	}
	if err := acc.add(ctx, localstore.Batch{Subscription: m.subState()}); err != nil {
		return err
	}
	if err := acc.flush(ctx); err != nil {
		return err
	}
	// The folders the comparison left alone go to the recheck (sweep.go),
	// but for empty ones: with their counts unchanged, only a create and a
	// delete could have happened, which move the compared props.
	m.recheck = m.recheck[:0]
	if m.e.cfg.RecheckPause >= 0 {
		for _, f := range sel2.selected {
			if _, ok := sel.byID[f.ID]; ok && !planned[f.ID] && (f.LocalItems > 0 || f.TotalCount > 0) {
				m.recheck = append(m.recheck, f.ID)
			}
		}
	}
	rep.Recheck = len(m.recheck)
	return nil
}

// storedOf is what the comparison needs of a mirrored folder: the pair and
// counters stored with its checkpoint, when they were read, and whether
// that sync reached its end.
func storedOf(f localstore.Folder) recovery.Stored {
	return recovery.Stored{
		ID: string(f.ID),
		Props: recovery.Props{
			LocalCommitTimeMax: f.LocalCommitTimeMax,
			DeletedCountTotal:  f.DeletedCountTotal,
			TotalCount:         f.TotalCount,
			UnreadCount:        f.UnreadCount,
		},
		ReadAt:   f.LastSynced,
		Complete: !f.LastSynced.IsZero() && f.SyncState != "",
		Mirrored: &recovery.Counts{Items: f.LocalItems, Unread: f.LocalUnread},
	}
}

// resubscribe replaces the current subscription with a fresh one (no
// watermark): the old one is dropped from its source and unsubscribed,
// best effort.
func (m *mailbox) resubscribe(ctx context.Context) error {
	m.endSubscription(ctx, false)
	return m.subscribe(ctx)
}

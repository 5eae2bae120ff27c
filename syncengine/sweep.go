package syncengine

import (
	"context"
	"time"

	"github.com/mailsync/mailsync/localstore"
)

// sweeper schedules a mailbox's background syncs, between its batches: the
// recheck that follows each recovery, then the periodic sweep. It belongs
// to the mailbox's run goroutine; its one timer signals m.sweepC.
//
// A recovery compares props and resyncs only the folders that moved; the
// recheck then syncs the others from their SyncStates, one every
// Config.RecheckPause across the engine, because a set of read flips
// during the outage that left a folder's counts unchanged moves no
// compared prop. The sweep (every Config.SweepInterval, one folder every
// Config.SweepPause) bounds whatever else was missed.
type sweeper struct {
	m       *mailbox
	timer   func() bool           // stops the armed timer
	sweep   []localstore.FolderID // folders the running sweep has still to sync
	recheck []localstore.FolderID // folders recoveries left to recheck
	due     time.Time             // when the next sweep starts; zero: never
}

// start schedules the first sweep.
func (s *sweeper) start() {
	if iv := s.m.e.cfg.SweepInterval; iv > 0 {
		s.due = s.m.e.cfg.Clock.Now().Add(iv)
	}
	s.arm()
}

// cancel stops the timer.
func (s *sweeper) cancel() {
	if s.timer != nil {
		s.timer()
		s.timer = nil
	}
}

// addRecheck queues the folders the last recovery left to its recheck.
func (s *sweeper) addRecheck() {
	ids := s.m.recheck
	s.m.recheck = nil
	if len(ids) == 0 {
		return
	}
	queued := make(map[localstore.FolderID]bool, len(s.recheck))
	for _, id := range s.recheck {
		queued[id] = true
	}
	for _, id := range ids {
		if !queued[id] {
			s.recheck = append(s.recheck, id)
		}
	}
	s.arm()
}

// arm sets the timer for the next step: a recheck at the engine's next
// free slot, the running sweep's next folder after SweepPause, or the next
// sweep when it is due.
func (s *sweeper) arm() {
	s.cancel()
	cfg := &s.m.e.cfg
	now := cfg.Clock.Now()
	var at time.Time
	switch {
	case len(s.recheck) > 0:
		at = s.m.e.recheckSlot(now)
	case len(s.sweep) > 0:
		at = now.Add(cfg.SweepPause)
	case !s.due.IsZero():
		at = s.due
	default:
		return
	}
	s.timer = cfg.Clock.AfterFunc(at.Sub(now), func() {
		select {
		case s.m.sweepC <- struct{}{}:
		default:
		}
	})
}

// step runs when the timer fires: one folder of the recheck, else one of
// the sweep (starting it when it is due). A signal with nothing due (from a
// timer stopped too late) only re-arms.
func (s *sweeper) step(ctx context.Context) {
	m := s.m
	cfg := &m.e.cfg
	switch {
	case len(s.recheck) > 0:
		id := s.recheck[0]
		s.recheck = s.recheck[1:]
		if n, ok := m.syncStored(ctx, id, "recheck", false); ok {
			m.e.metrics.rechecked.Add(1)
			if n.total() > 0 {
				m.e.metrics.recheckRepairs.Add(1)
			}
		}
	case len(s.sweep) > 0 || !s.due.IsZero() && !cfg.Clock.Now().Before(s.due):
		s.sweep = m.sweepStep(ctx, s.sweep)
		if len(s.sweep) == 0 {
			s.due = cfg.Clock.Now().Add(cfg.SweepInterval)
		}
	}
	s.arm()
}

// recheckSlot reserves the engine's next recheck slot, at or after now:
// the rechecks of all mailboxes share one pace, so that a server restart
// that every mailbox recovers from is not followed by a burst of them.
func (e *Engine) recheckSlot(now time.Time) time.Time {
	e.recheckMu.Lock()
	defer e.recheckMu.Unlock()
	at := e.recheckNext
	if at.Before(now) {
		at = now
	}
	e.recheckNext = at.Add(e.cfg.RecheckPause)
	return at
}

// sweepStep syncs the next folder of a sweep (starting one when queue is
// empty) and returns the folders left. A folder that fails is left to the
// next sweep; the failure is logged.
func (m *mailbox) sweepStep(ctx context.Context, queue []localstore.FolderID) []localstore.FolderID {
	if len(queue) == 0 {
		// A cycle starts with the hierarchy: folders created, moved or
		// deleted while their events went missing are found here (the
		// per-folder syncs below only visit folders the mirror knows).
		if _, err := m.syncHierarchy(ctx); err != nil {
			m.log.Warn("sweep: hierarchy sync failed", "err", err)
			return nil
		}
		sel, err := m.selectFolders(ctx)
		if err != nil {
			m.log.Warn("sweep: reading the folders failed", "err", err)
			return nil
		}
		for _, f := range sel.selected {
			queue = append(queue, f.ID)
		}
		m.log.Debug("sweep started", "folders", len(queue))
	}
	if len(queue) == 0 {
		return nil
	}
	m.syncStored(ctx, queue[0], "sweep", true)
	return queue[1:]
}

// syncStored syncs one mirrored folder from its stored SyncState, for a
// sweep or a recheck (what, in the logs). With fresh, its props are read
// just before (GetFolder) and stored with the checkpoint, as any sync's
// are. Without, the checkpoint keeps the props already stored: they were
// read before an older sync, so the next comparison can only find more
// to resync, never less; this saves the GetFolder, and a folder the
// server no longer has fails its SyncFolderItems and is left to the
// hierarchy sync. It reports the changes found, and false when the folder
// is gone or the sync failed (logged; the folder is left to the next
// sweep).
func (m *mailbox) syncStored(ctx context.Context, id localstore.FolderID, what string, fresh bool) (changeCount, bool) {
	f, err := m.e.store.Folder(ctx, m.mb, id)
	if err != nil {
		return changeCount{}, false // gone meanwhile
	}
	runs := []folderRun{{folder: f, props: storedProps(f), readAt: f.LastSynced}}
	if fresh {
		var gone []localstore.FolderID
		runs, gone, err = m.readRuns(ctx, []localstore.Folder{f})
		if err == nil && len(gone) > 0 {
			m.markHierarchyDirty()
		}
	}
	var n changeCount
	if err == nil {
		acc := newAccumulator(m, m.e.cfg.MaxBatchChanges)
		if n, err = m.syncFolders(ctx, runs, acc, nil); err == nil {
			err = acc.flush(ctx)
		}
	}
	if err != nil {
		m.log.Warn(what+": folder sync failed", "folder", f.DisplayName, "err", err)
		return n, false
	}
	if n.total() > 0 {
		m.log.Info(what+" found changes", "folder", f.DisplayName, "changes", n.total())
	}
	return n, len(runs) > 0
}

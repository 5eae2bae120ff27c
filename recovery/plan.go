package recovery

import (
	"slices"
	"time"
)

// DefaultUncertainWindow is the default Options.UncertainWindow: the
// granularity of PR_LOCAL_COMMIT_TIME_MAX.
const DefaultUncertainWindow = time.Second

// Props are the folder values the comparison looks at.
type Props struct {
	// LocalCommitTimeMax is PR_LOCAL_COMMIT_TIME_MAX (0x670A).
	LocalCommitTimeMax time.Time
	// DeletedCountTotal is PR_DELETED_COUNT_TOTAL (0x670B); -1 when the
	// server did not return it.
	DeletedCountTotal int64
	// TotalCount and UnreadCount are the folder's counters; -1 when
	// absent.
	TotalCount  int64
	UnreadCount int64
}

// Stored is what the mirror holds for one folder: the props read just
// before its last sync and when they were read.
type Stored struct {
	// ID is the folder id.
	ID string
	// Props are the props stored with the folder's SyncState.
	Props Props
	// ReadAt is when those props were read (the engine's clock).
	ReadAt time.Time
	// Complete reports whether the last sync reached
	// IncludesLastItemInRange. An incomplete folder is always resynced.
	Complete bool
	// Mirrored, when set, is what the mirror holds of the folder now: for
	// a complete folder it equals the server's counters unless a change
	// is missing. Props were read before the last sync, so a read flag
	// that sync picked up, followed by an opposite flip in another item
	// after the subscription was lost, leaves UnreadCount where Props has
	// it; the mirror's own count has moved, and shows the second flip.
	Mirrored *Counts
}

// Counts are a folder's item and unread counts.
type Counts struct {
	Items, Unread int64
}

// Reason says why a folder is resynced.
type Reason string

// The reasons Compare gives.
const (
	ReasonNew          Reason = "new"           // not synced before
	ReasonIncomplete   Reason = "incomplete"    // the last sync stopped before its end
	ReasonCommitTime   Reason = "commit-time"   // PR_LOCAL_COMMIT_TIME_MAX moved
	ReasonDeletedCount Reason = "deleted-count" // PR_DELETED_COUNT_TOTAL moved
	ReasonTotalCount   Reason = "total-count"   // TotalCount differs
	ReasonUnreadCount  Reason = "unread-count"  // UnreadCount differs
	ReasonMirrorCount  Reason = "mirror-count"  // the server's counts differ from what the mirror holds
	ReasonPending      Reason = "pending"       // a batch the loss interrupted had events for the folder
	ReasonUncertain    Reason = "uncertain"     // the stored pair was read within the commit time's second
	ReasonNoProps      Reason = "no-props"      // the server returned no comparable props
)

// Decision is one folder to resync and why.
type Decision struct {
	Folder string
	Reason Reason
}

// Plan is the outcome of a comparison.
type Plan struct {
	// Resync lists the folders to sync from their stored SyncState, in
	// the order the stored folders were given.
	Resync []Decision
	// Vanished lists stored folders the server no longer returned: remove
	// them once SyncFolderHierarchy confirms the deletion.
	Vanished []string
	// Unchanged counts the folders whose props all matched.
	Unchanged int
	// Compared counts the folders compared (stored folders with fresh
	// props).
	Compared int
}

// Reasons counts the planned resyncs by reason.
func (p Plan) Reasons() map[Reason]int {
	m := make(map[Reason]int)
	for _, d := range p.Resync {
		m[d.Reason]++
	}
	return m
}

// Options tune Compare.
type Options struct {
	// UncertainWindow: a stored pair read less than this after the folder's
	// stored commit time is uncertain, and the folder is resynced. Zero
	// means DefaultUncertainWindow; negative disables the rule.
	UncertainWindow time.Duration
}

// Compare plans a recovery: every stored folder is looked up in fresh
// (the props just read from the server, by folder id) and resynced when
// its previous sync was incomplete, when any of the four values differs,
// when the server's counts differ from the Mirrored ones, or when the
// stored pair is uncertain. Stored folders missing from fresh
// are Vanished. Folders in fresh but not in stored are not planned here:
// new folders arrive through SyncFolderHierarchy, which the engine runs
// after the comparison, and are synced as new.
func Compare(stored []Stored, fresh map[string]Props, opts *Options) Plan {
	window := DefaultUncertainWindow
	if opts != nil && opts.UncertainWindow != 0 {
		window = opts.UncertainWindow
	}
	var p Plan
	for _, s := range stored {
		f, ok := fresh[s.ID]
		if !ok {
			p.Vanished = append(p.Vanished, s.ID)
			continue
		}
		p.Compared++
		if r, resync := decide(s, f, window); resync {
			p.Resync = append(p.Resync, Decision{Folder: s.ID, Reason: r})
			continue
		}
		p.Unchanged++
	}
	return p
}

func decide(s Stored, f Props, window time.Duration) (Reason, bool) {
	switch {
	case !s.Complete && s.ReadAt.IsZero():
		return ReasonNew, true
	case !s.Complete:
		return ReasonIncomplete, true
	case f.LocalCommitTimeMax.IsZero() || f.DeletedCountTotal < 0:
		return ReasonNoProps, true
	case !f.LocalCommitTimeMax.Equal(s.Props.LocalCommitTimeMax):
		return ReasonCommitTime, true
	case f.DeletedCountTotal != s.Props.DeletedCountTotal:
		return ReasonDeletedCount, true
	case f.TotalCount >= 0 && f.TotalCount != s.Props.TotalCount:
		return ReasonTotalCount, true
	case f.UnreadCount >= 0 && f.UnreadCount != s.Props.UnreadCount:
		return ReasonUnreadCount, true
	case s.Mirrored != nil && (f.TotalCount >= 0 && f.TotalCount != s.Mirrored.Items ||
		f.UnreadCount >= 0 && f.UnreadCount != s.Mirrored.Unread):
		return ReasonMirrorCount, true
	case window > 0 && s.ReadAt.Sub(s.Props.LocalCommitTimeMax) < window:
		return ReasonUncertain, true
	}
	return "", false
}

// Folders returns the ids of the planned resyncs.
func (p Plan) Folders() []string {
	ids := make([]string, 0, len(p.Resync))
	for _, d := range p.Resync {
		ids = append(ids, d.Folder)
	}
	return slices.Clip(ids)
}

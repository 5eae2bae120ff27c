package syncengine

import (
	"sync"
	"time"

	"github.com/mailsync/mailsync/recovery"
)

// Phase is what a mailbox is doing.
type Phase string

// The phases of a mailbox.
const (
	PhaseStarting    Phase = "starting"
	PhaseInitialSync Phase = "initial-sync"
	PhaseLive        Phase = "live"
	PhaseRecovering  Phase = "recovering"
	PhaseBackingOff  Phase = "backing-off"
	PhaseStopped     Phase = "stopped"
)

// MailboxStatus is a snapshot of one mailbox.
type MailboxStatus struct {
	Address string
	Mode    Mode
	Phase   Phase
	// FoldersDone and FoldersTotal count the folders of the current
	// initial sync or recovery (or the last one).
	FoldersDone, FoldersTotal int
	// ItemsDone counts item changes applied since Start; ItemsTotal is
	// the server's item count over the selected folders, as last read.
	ItemsDone, ItemsTotal int64
	// LastCommit is when the last batch committed.
	LastCommit time.Time
	// Recoveries counts completed recoveries; LastRecovery is the latest.
	Recoveries   int
	LastRecovery *recovery.Report
	// Requests counts EWS calls made for the mailbox.
	Requests int64
	// EwsURL and GroupingInformation are where the mailbox's Locator
	// placed it last (empty without a Locator).
	EwsURL, GroupingInformation string
	// Err is the last error that made the mailbox back off, nil once it
	// recovered.
	Err error
}

// Metrics is a snapshot of the engine's counters since Start.
type Metrics struct {
	// Requests counts EWS calls (not HTTP round trips: NTLM handshakes
	// and the client's own retries are not counted); RequestsByOp splits
	// them by operation.
	Requests     int64
	RequestsByOp map[string]int64
	// Events counts notification events received (StatusEvents aside).
	Events int64
	// Batches counts live batches applied; Commits the store transactions
	// the engine asked for.
	Batches, Commits int64
	// Items counts item changes applied (creates, updates, deletes, read
	// flags).
	Items int64
	// Recoveries counts completed recoveries; Throttles the back-offs
	// after the server asked to slow down.
	Recoveries, Throttles int64
	// Rechecked counts the folders synced by the rechecks that follow
	// recoveries (Config.RecheckPause); RecheckRepairs those in which a
	// recheck found changes: ones the recovery's comparison could not
	// see, or, while the mailbox is busy, newer ones a live batch would
	// have synced as well.
	Rechecked, RecheckRepairs int64
}

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of Event.
const (
	// EventPhase: the mailbox entered Status.Phase.
	EventPhase EventKind = iota + 1
	// EventBatch: a live batch was applied (Batch is set).
	EventBatch
	// EventRecovery: a recovery finished (Recovery is set).
	EventRecovery
	// EventInitialSync: the initial sync finished (Batch holds its totals).
	EventInitialSync
	// EventError: the mailbox backs off after Err.
	EventError
	// EventSyncPass: a SyncOnce pass over the mailbox finished (Batch holds
	// its totals).
	EventSyncPass
	// EventLocated: the mailbox's Locator was asked where it lives
	// (Location is set; Location.Moved when it was re-homed).
	EventLocated
)

// Event is what Config.OnEvent receives.
type Event struct {
	Kind     EventKind
	Mailbox  string
	Phase    Phase
	Batch    *BatchReport
	Recovery *recovery.Report
	Location *LocationReport
	Err      error
}

// BatchReport describes one applied batch.
type BatchReport struct {
	// Events is the number of notification events the batch coalesced.
	Events int
	// Hierarchy reports whether the folder hierarchy was synced.
	Hierarchy bool
	// Folders are the display names of the folders synced.
	Folders []string
	// Created, Updated, Deleted and ReadFlags count the item changes.
	Created, Updated, Deleted, ReadFlags int
	// FirstEvent is when the oldest event of the batch arrived; Cut when
	// the debouncer delivered it; Committed when the last commit ended.
	FirstEvent, Cut, Committed time.Time
	// Requests is the number of EWS calls the batch made.
	Requests int64
}

// Changes returns the number of item changes.
func (b *BatchReport) Changes() int { return b.Created + b.Updated + b.Deleted + b.ReadFlags }

func (b *BatchReport) add(c changeCount) {
	b.Created += c.created
	b.Updated += c.updated
	b.Deleted += c.deleted
	b.ReadFlags += c.readFlags
}

// changeCount counts applied item changes.
type changeCount struct{ created, updated, deleted, readFlags int }

func (c *changeCount) add(o changeCount) {
	c.created += o.created
	c.updated += o.updated
	c.deleted += o.deleted
	c.readFlags += o.readFlags
}

func (c changeCount) total() int { return c.created + c.updated + c.deleted + c.readFlags }

// status is a mailbox's mutable status, guarded by its mutex.
type status struct {
	mu sync.Mutex
	s  MailboxStatus
}

func (st *status) update(f func(*MailboxStatus)) {
	st.mu.Lock()
	f(&st.s)
	st.mu.Unlock()
}

func (st *status) get() MailboxStatus {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.s
	if s.LastRecovery != nil {
		r := *s.LastRecovery
		s.LastRecovery = &r
	}
	return s
}

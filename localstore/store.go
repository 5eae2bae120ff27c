package localstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options configures a Store. A nil *Options means the zero value, and every
// zero field takes the default documented on it.
type Options struct {
	// LockTimeout bounds how long Open waits for another opener of the same
	// file to let go before it fails with ErrLocked. Default 2 s.
	LockTimeout time.Duration

	// ReadOnly opens the file with a shared lock; writes fail with
	// ErrReadOnly. Several read-only openers may share a file, but not with
	// a writer.
	ReadOnly bool

	// NoSync skips fsync on commit. A process crash loses nothing, but a
	// power loss or kernel crash may lose or corrupt the file. For tests and
	// rebuildable caches only.
	NoSync bool

	// MaxGroupBatches caps how many queued batches one transaction commits.
	// 1 disables group commit. Default 256.
	MaxGroupBatches int

	// MaxGroupOps caps the changes one group commit takes on, so a queue
	// of large batches still commits in bounded transactions; a single
	// batch larger than this commits alone. Default 50,000.
	MaxGroupOps int

	// QueueLength is how many Apply calls may wait for the writer before
	// further callers block. Default 1024.
	QueueLength int

	// Logger receives commit failures and retries. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports whether o is usable.
func (o *Options) Validate() error {
	if o.LockTimeout < 0 || o.MaxGroupBatches < 0 || o.MaxGroupOps < 0 || o.QueueLength < 0 {
		return errors.New("localstore: negative option")
	}
	return nil
}

func (o Options) withDefaults() Options {
	o.LockTimeout = cmp.Or(o.LockTimeout, 2*time.Second)
	o.MaxGroupBatches = cmp.Or(o.MaxGroupBatches, 256)
	o.MaxGroupOps = cmp.Or(o.MaxGroupOps, 50_000)
	o.QueueLength = cmp.Or(o.QueueLength, 1024)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is a mirror of many mailboxes in one bbolt file. All methods are safe
// for concurrent use. Writes go through one writer goroutine owned by the
// Store; reads run in bbolt read transactions and never wait for it.
type Store struct {
	db   *bolt.DB
	file *os.File // db's file, for Check to verify
	path string
	opts Options
	log  *slog.Logger

	reqs     chan *request
	stop     chan struct{} // closed by Close: no more requests
	done     chan struct{} // closed when the writer has exited
	closing  sync.RWMutex  // held for reading while sending to reqs
	closed   atomic.Bool
	feed     feed
	arena    arena
	writerSt writerStats
	// commitMu is held by the writer around each commit and by Check
	// around bbolt's page check, which reads the freelist without bbolt's
	// own locking and so must not overlap a commit.
	commitMu sync.Mutex

	// testHookFill, when set before the first Apply, runs on the writer
	// after it took a group's first request and before it collects the
	// rest; tests use it to build a group deterministically.
	testHookFill func()

	// testHookSnapshot, when set, runs after each snapshot that
	// PublishSnapshots wrote.
	testHookSnapshot func()
}

// request is one Apply or RemoveMailbox call waiting for the writer.
type request struct {
	ctx    context.Context
	batch  *Batch  // nil for a mailbox removal
	remove Mailbox // the mailbox to remove when batch is nil
	result chan error
}

func (r *request) ops() int {
	if r.batch == nil {
		return 1
	}
	return r.batch.ops()
}

func (r *request) mailbox() Mailbox {
	if r.batch == nil {
		return r.remove
	}
	return r.batch.Mailbox
}

// Open opens or creates the store at path (file mode 0600), migrating an
// older schema forward. It fails with ErrLocked when another opener holds
// the file for longer than Options.LockTimeout, with ErrSchemaTooNew for a
// file from a newer version and with ErrNotStore for a foreign bbolt file
// or a file that is not a bbolt file at all. Close the Store to release
// the file.
//
// Open never trusts the file: before bbolt reads it, it checks every page
// the file's tree reaches (in range, referenced once, elements inside
// their page, keys in order), reading the file's branch and leaf pages once.
// A damaged file fails with an error matching ErrCorrupt (a *CorruptError
// with Path set); see MoveAside. An empty file opens as a new store.
//
// A read-write Open tightens an existing file readable or writable by
// others to mode 0600, with a warning to Options.Logger.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	return open(path, o, o.LockTimeout)
}

// open opens path with lockWait as the time to wait for the file's lock.
func open(path string, o Options, lockWait time.Duration) (*Store, error) {
	log := o.Logger.With(logKeyStore, path)
	f, err := openChecked(path, o, lockWait, log)
	if err != nil {
		return nil, err
	}
	db, err := boltOpen(path, f, o, lockWait)
	if err != nil {
		_ = f.Close()
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, lockWait)
		}
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrChecksum) {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotStore, path, err)
		}
		return nil, withPath(fmt.Errorf("localstore: open %s: %w", path, err), path)
	}
	if err := guard("schema check", log, func() error { return checkSchema(db, o.ReadOnly) }); err != nil {
		_ = db.Close()
		return nil, withPath(fmt.Errorf("localstore: open %s: %w", path, err), path)
	}
	s := &Store{
		db:   db,
		file: f,
		path: path,
		opts: o,
		log:  log,
		reqs: make(chan *request, o.QueueLength),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	s.feed.init()
	if o.ReadOnly {
		close(s.done)
	} else {
		go s.writer()
	}
	return s, nil
}

// checkSchema reads the file's schema version and migrates an older one
// (read-write only).
func checkSchema(db *bolt.DB, readOnly bool) error {
	if readOnly {
		return db.View(func(tx *bolt.Tx) error {
			v, err := readSchema(tx)
			switch {
			case err != nil:
				return err
			case v > SchemaVersion:
				return &SchemaError{Found: v, Supported: SchemaVersion}
			case v < SchemaVersion:
				return fmt.Errorf("%w: schema %d, current %d", ErrNeedsMigration, v, SchemaVersion)
			}
			return nil
		})
	}
	// Check before writing anything, so a newer or foreign file is left
	// exactly as it was.
	var v uint32
	err := db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = readSchema(tx)
		if err == nil && v > SchemaVersion {
			return &SchemaError{Found: v, Supported: SchemaVersion}
		}
		return err
	})
	if err == nil && v != SchemaVersion {
		err = db.Update(prepareSchema)
	}
	return err
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Close waits for queued Apply calls to finish, stops the writer, ends every
// Watcher and closes the file; it also waits for open MIME readers and
// running backups. A second Close returns ErrClosed.
func (s *Store) Close() error {
	s.closing.Lock()
	if s.closed.Load() {
		s.closing.Unlock()
		return ErrClosed
	}
	s.closed.Store(true)
	close(s.stop)
	s.closing.Unlock()
	<-s.done
	s.feed.close()
	return s.db.Close()
}

// Apply writes b in one transaction, or nothing of it, and returns when the
// outcome is durable (or known to have failed). Batches from many goroutines
// are committed together when they queue up (group commit); each caller
// still gets its own result, and a batch that fails does not affect the
// others committed with it.
//
// If ctx ends before the writer starts on b, Apply returns ctx.Err() and
// nothing is written; once the writer has started, Apply waits for the
// commit. Apply does not retain b or its slices after it returns.
//
// Errors: *BatchError wrapping ErrInvalidBatch, ErrUnknownFolder,
// ErrUnknownItem, ErrFolderCycle or a *CorruptError; ErrReadOnly; ErrClosed;
// or an I/O error from the commit.
func (s *Store) Apply(ctx context.Context, b Batch) error {
	if err := b.validate(); err != nil {
		return err
	}
	return s.enqueue(ctx, &request{ctx: ctx, batch: &b})
}

// RemoveMailbox deletes everything the store holds for mb, through the same
// writer as Apply. Removing an unknown mailbox is not an error.
func (s *Store) RemoveMailbox(ctx context.Context, mb Mailbox) error {
	if err := checkID("mailbox", string(mb)); err != nil {
		return err
	}
	return s.enqueue(ctx, &request{ctx: ctx, remove: mb})
}

func (s *Store) enqueue(ctx context.Context, r *request) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.result = make(chan error, 1)
	s.closing.RLock()
	if s.closed.Load() {
		s.closing.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- r:
		s.closing.RUnlock()
	case <-ctx.Done():
		s.closing.RUnlock()
		return ctx.Err()
	}
	return <-r.result
}

// writerStats counts the writer's work; see WriterStats.
type writerStats struct {
	commits, batches, failed, retries atomic.Uint64
}

// WriterStats reports the writer's work since Open.
type WriterStats struct {
	Commits uint64 // successful transactions
	Batches uint64 // batches and removals committed
	Failed  uint64 // batches and removals rejected or failed
	Retries uint64 // group transactions re-run without a failed batch
}

// WriterStats returns counters of the writer's work since Open. Batches /
// Commits is the average group size.
func (s *Store) WriterStats() WriterStats {
	return WriterStats{
		Commits: s.writerSt.commits.Load(),
		Batches: s.writerSt.batches.Load(),
		Failed:  s.writerSt.failed.Load(),
		Retries: s.writerSt.retries.Load(),
	}
}

// writer is the single goroutine that writes. It takes the oldest request
// and, without waiting, whatever else is queued (up to the group caps), and
// commits them in one transaction.
func (s *Store) writer() {
	defer close(s.done)
	var group []*request
	for {
		var first *request
		select {
		case first = <-s.reqs:
		case <-s.stop:
			// Close holds no request back: finish what is queued.
			for {
				select {
				case r := <-s.reqs:
					s.commitGroup([]*request{r})
				default:
					return
				}
			}
		}
		if s.testHookFill != nil {
			s.testHookFill()
		}
		group = append(group[:0], first)
		ops := first.ops()
	fill:
		for len(group) < s.opts.MaxGroupBatches && ops < s.opts.MaxGroupOps {
			select {
			case r := <-s.reqs:
				group = append(group, r)
				ops += r.ops()
			default:
				break fill
			}
		}
		s.commitGroup(group)
		clear(group)
	}
}

// errRollback aborts a group transaction after one batch failed.
var errRollback = errors.New("localstore: rollback")

// commitGroup commits the requests in one transaction. A request that fails
// is answered with its error and the transaction is re-run without it, so
// the others commit as if it had never been sent. If the commit itself fails,
// each request is retried in a transaction of its own.
func (s *Store) commitGroup(group []*request) {
	pending := make([]*request, 0, len(group))
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			s.writerSt.failed.Add(1)
			r.result <- err
			continue
		}
		pending = append(pending, r)
	}
	for len(pending) > 0 {
		failed, failErr := -1, error(nil)
		var changes []Change
		s.commitMu.Lock()
		// guard: a page bbolt does not expect fails the group instead of
		// crashing the writer.
		err := guard("commit", s.log, func() error {
			return s.db.Update(func(tx *bolt.Tx) error {
				changes = changes[:0]
				for i, r := range pending {
					var err error
					if r.batch != nil {
						err = s.applyBatchSafe(tx, r.batch, &changes)
					} else {
						err = removeMailbox(tx, r.remove, &changes)
					}
					if err != nil {
						failed, failErr = i, err
						return errRollback
					}
				}
				if len(changes) > 0 {
					ev := changes
					tx.OnCommit(func() { s.feed.publish(ev) })
				}
				return nil
			})
		})
		s.commitMu.Unlock()
		s.arena = arena{buf: s.arena.buf[:0]}
		if failed >= 0 {
			s.writerSt.failed.Add(1)
			pending[failed].result <- failErr
			pending = append(pending[:failed], pending[failed+1:]...)
			if len(pending) > 0 {
				s.writerSt.retries.Add(1)
			}
			continue
		}
		if err != nil {
			if len(pending) > 1 {
				s.log.Warn("group commit failed; retrying batches one by one", logKeyBatches, len(pending), logKeyErr, err)
				for _, r := range pending {
					s.commitGroup([]*request{r})
				}
				return
			}
			s.log.Error("commit failed", logKeyMailbox, pending[0].mailbox(), logKeyErr, err)
			s.writerSt.failed.Add(1)
			pending[0].result <- fmt.Errorf("localstore: commit: %w", err)
			return
		}
		s.writerSt.commits.Add(1)
		s.writerSt.batches.Add(uint64(len(pending)))
		for _, r := range pending {
			r.result <- nil
		}
		return
	}
}

// applyBatchSafe applies b and turns a panic (a bug, or a store damaged in a
// way bbolt does not catch) into an error for this batch alone.
func (s *Store) applyBatchSafe(tx *bolt.Tx, b *Batch, changes *[]Change) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("apply panicked", logKeyMailbox, b.Mailbox, logKeyErr, p)
			err = &BatchError{Mailbox: b.Mailbox, Part: "Batch", Err: &CorruptError{Mailbox: b.Mailbox, Bucket: "?", Reason: fmt.Sprint("panic: ", p)}}
		}
	}()
	return applyBatch(tx, &s.arena, b, changes)
}

// Log keys.
const (
	logKeyStore   = "store"
	logKeyMailbox = "mailbox"
	logKeyBatches = "batches"
	logKeyErr     = "err"
	logKeyMode    = "mode"
)

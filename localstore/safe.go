package localstore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// guard runs fn and turns a panic, or a fault reading the mapped file
// (which debug.SetPanicOnFault makes a panic on this goroutine), into a
// *CorruptError. bbolt panics on pages it does not expect, and a file
// changed behind the store's back (truncated, overwritten) can still
// present them after Open checked it. log, if not nil, records the panic.
func guard(what string, log *slog.Logger, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if log != nil {
				log.Error(what+" panicked", logKeyErr, p)
			}
			err = &CorruptError{Bucket: "file", Reason: fmt.Sprintf("%s panicked: %v", what, p)}
		}
	}()
	return fn()
}

// withPath sets Path on the *CorruptError in err, if there is one.
func withPath(err error, path string) error {
	var ce *CorruptError
	if errors.As(err, &ce) && ce.Path == "" {
		ce.Path = path
	}
	return err
}

// readTx runs fn in a read transaction, guarded, and maps bbolt's closed
// database to ErrClosed.
func (s *Store) readTx(fn func(tx *bolt.Tx) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	err := guard("read", s.log, func() error { return s.db.View(fn) })
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return withPath(err, s.path)
}

// openChecked opens and locks path the way bbolt would and checks its page
// structure (verifyFile) while holding the lock, so that bbolt, handed the
// same open file, never reads a damaged one. A read-write open tightens a
// mode wider than 0600.
func openChecked(path string, o Options, lockWait time.Duration, log *slog.Logger) (*os.File, error) {
	flag := os.O_RDWR | os.O_CREATE
	if o.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localstore: open %s: %w", path, err)
	}
	fail := func(err error) (*os.File, error) {
		_ = f.Close()
		return nil, err
	}
	if err := lockFile(f, !o.ReadOnly, lockWait); err != nil {
		if errors.Is(err, errLockTimeout) {
			return fail(fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, lockWait))
		}
		return fail(fmt.Errorf("localstore: open %s: %w", path, err))
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("localstore: open %s: %w", path, err))
	}
	if perm := fi.Mode().Perm(); !o.ReadOnly && perm&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			log.Warn("store file is accessible to others and its mode could not be tightened", logKeyMode, perm.String(), logKeyErr, err)
		} else {
			log.Warn("store file was accessible to others; mode tightened to 0600", logKeyMode, perm.String())
		}
	}
	if o.ReadOnly && fi.Size() == 0 {
		return fail(fmt.Errorf("%w: %s: empty file", ErrNotStore, path))
	}
	if err := verifyOpenFile(f, 0); err != nil {
		return fail(withPath(fmt.Errorf("localstore: open %s: %w", path, err), path))
	}
	return f, nil
}

// boltOpen opens the checked, locked file f with bbolt, guarded. bbolt gets
// f itself for its first open (and locks it again, at once, on Unix); any
// later open (Tx.WriteTo with WriteFlag, Tx.CopyFile) gets a new file.
func boltOpen(path string, f *os.File, o Options, lockWait time.Duration) (*bolt.DB, error) {
	var handed atomic.Bool
	var db *bolt.DB
	err := guard("bbolt open", o.Logger, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:  max(lockWait, time.Nanosecond), // 0 would wait for ever
			ReadOnly: o.ReadOnly,
			NoSync:   o.NoSync,
			// The freelist is rebuilt on open instead of written per
			// commit: fewer pages per commit, and commits are what we are
			// bound by.
			NoFreelistSync: true,
			FreelistType:   bolt.FreelistMapType,
			// Map address space for a large file at once: each time bbolt
			// outgrows its mapping it waits for the readers, then copies
			// every node the write transaction holds to the heap before
			// it remaps (a fifth of an initial mirror's commit time).
			InitialMmapSize: writerMmapSize(o.ReadOnly),
			OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
				if handed.CompareAndSwap(false, true) {
					return f, nil
				}
				return os.OpenFile(name, flag, mode)
			},
		})
		return err
	})
	return db, err
}

package localstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// SnapshotPath returns where, by convention, the read-only snapshot of the
// store at path lives: path + ".snapshot". Store.Snapshot and
// Store.PublishSnapshots write it there by default, and OpenReader looks
// for it there.
func SnapshotPath(path string) string { return path + ".snapshot" }

// Snapshot publishes a consistent copy of the store at path
// (SnapshotPath(s.Path()) when path is ""), for readers in other processes
// while this one holds the store: it writes a Backup into a temporary file
// beside path (mode 0600), syncs it (unless Options.NoSync), checks its
// page structure, and renames it over path, so that a reader opens either
// the previous snapshot or this one, never a part. A reader that has the
// previous snapshot open keeps reading it until it closes it. Snapshot
// returns the bytes written.
//
// Writes go on during the copy, as with Backup; the copy is as of the
// moment Snapshot began.
func (s *Store) Snapshot(ctx context.Context, path string) (int64, error) {
	if path == "" {
		path = SnapshotPath(s.path)
	}
	if abs, err := filepath.Abs(path); err == nil {
		if own, err := filepath.Abs(s.path); err == nil && abs == own {
			return 0, fmt.Errorf("localstore: snapshot %s: that is the store itself", path)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("localstore: snapshot: %w", err)
	}
	published := false
	defer func() {
		if !published {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	n, err := s.Backup(ctx, w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil && !s.opts.NoSync {
		err = tmp.Sync()
	}
	if err == nil {
		err = verifyOpenFile(tmp, 0)
	}
	if err == nil {
		err = tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return n, fmt.Errorf("localstore: snapshot %s: %w", path, err)
	}
	published = true
	if !s.opts.NoSync {
		syncDir(filepath.Dir(path))
	}
	return n, nil
}

// syncDir makes a rename in dir durable, where the platform allows.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// PublishSnapshots keeps the snapshot at path (SnapshotPath(s.Path()) when
// path is "") current until ctx ends or the store is closed: it writes one
// at once, and then after each commit that changed something, at most once
// per interval (0: after every such commit). It returns ctx.Err(),
// ErrClosed, or the first error of Snapshot. Run it in a goroutine of its
// own beside the writer.
func (s *Store) PublishSnapshots(ctx context.Context, path string, interval time.Duration) error {
	for {
		// Take the signal before the copy: a commit during the copy
		// brings another one.
		changed := s.Notify()
		if _, err := s.Snapshot(ctx, path); err != nil {
			if s.closed.Load() {
				return ErrClosed
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return err
		}
		if s.testHookSnapshot != nil {
			s.testHookSnapshot()
		}
		if interval > 0 {
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
		if s.closed.Load() {
			return ErrClosed
		}
	}
}

// OpenReader opens the store at path read-only, for queries, without
// waiting for a writer: when another process (or another Store in this
// one) holds path for writing, it opens the writer's snapshot,
// SnapshotPath(path), instead. Store.Path tells which file it opened; the
// snapshot's modification time is when it was taken. With a writer and no
// snapshot it fails with an error matching both ErrLocked and
// ErrNoSnapshot. opts.ReadOnly is implied; opts.LockTimeout applies to the
// snapshot only.
//
// A reader of path itself (no writer running) holds a shared lock: a
// writer that starts meanwhile waits for it, up to its own LockTimeout.
func OpenReader(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.ReadOnly = true
	o = o.withDefaults()
	s, err := open(path, o, 0) // one try: a writer holds its lock for hours
	if !errors.Is(err, ErrLocked) {
		return s, err
	}
	snap := SnapshotPath(path)
	s, err = open(snap, o, o.LockTimeout)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is held by a writer, and there is no snapshot %s: %w", ErrLocked, path, snap, ErrNoSnapshot)
	}
	return s, err
}

// MoveAside renames the store file at path out of the way, to
// path.corrupt-<UTC time> (with -2, -3 ... when that is taken), and
// returns the new name. It is the way on from a store that Open rejected
// with ErrCorrupt: the mirror is a cache of the server, so the next Open
// creates an empty store and the sync engine fetches everything again. The
// damaged file is kept for inspection; delete it when it is no longer
// wanted. bbolt keeps no lock or journal file beside the store, so the
// file is all there is to move; a snapshot (SnapshotPath) is left alone.
//
// MoveAside fails with ErrLocked when a Store has the file open, in this
// process or another: close it first. Do not move a file that failed with
// ErrNotStore without asking: it is most likely not a store at all.
func MoveAside(path string) (string, error) {
	return moveAside(path, time.Now())
}

func moveAside(path string, now time.Time) (string, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("localstore: move aside: %w", err)
	}
	defer f.Close()
	if err := lockFile(f, true, 0); err != nil {
		if errors.Is(err, errLockTimeout) {
			return "", fmt.Errorf("%w: %s: close the store before moving it aside", ErrLocked, path)
		}
		return "", fmt.Errorf("localstore: move aside: %w", err)
	}
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	dst := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			return "", fmt.Errorf("localstore: move aside: %w", err)
		}
		dst = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("localstore: move aside: %w", err)
	}
	syncDir(filepath.Dir(path))
	return dst, nil
}

package localstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A second Open of a file in this process holds its own open file and
// flock, exactly as another process would: two Opens here simulate a
// writer process and a reader process.

func TestOpenReader_WhileWriting(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mirror.db")
	w, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mb := Mailbox("a@x")
	mustApply(t, w, inboxBatch(mb, testItem("inbox", 1)))

	// A plain read-only Open waits for the writer and gives up.
	if _, err := Open(path, &Options{ReadOnly: true, LockTimeout: time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only Open beside a writer = %v, want ErrLocked", err)
	}
	// OpenReader says there is no snapshot yet, at once.
	start := time.Now()
	_, err = OpenReader(path, nil)
	if !errors.Is(err, ErrLocked) || !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("OpenReader without a snapshot = %v, want ErrLocked and ErrNoSnapshot", err)
	}
	if !strings.Contains(err.Error(), SnapshotPath(path)) {
		t.Errorf("error does not name the snapshot: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("OpenReader waited %v for the writer", d)
	}

	if _, err := w.Snapshot(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(SnapshotPath(path)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v, %v", fi, err)
	}
	r1, err := OpenReader(path, nil)
	if err != nil {
		t.Fatalf("OpenReader with a snapshot: %v", err)
	}
	defer r1.Close()
	if r1.Path() != SnapshotPath(path) {
		t.Fatalf("reader opened %s, want the snapshot", r1.Path())
	}
	if err := r1.Check(ctx); err != nil {
		t.Fatalf("snapshot Check: %v", err)
	}
	if _, err := r1.Item(ctx, mb, testItem("", 1).ID); err != nil {
		t.Fatalf("item in snapshot: %v", err)
	}
	if err := r1.Apply(ctx, inboxBatch(mb)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Apply on a reader = %v, want ErrReadOnly", err)
	}

	// The writer goes on and publishes again while r1 reads: r1 keeps
	// its snapshot, a new reader sees the new one.
	mustApply(t, w, inboxBatch(mb, testItem("inbox", 2)))
	if _, err := w.Snapshot(ctx, ""); err != nil {
		t.Fatalf("second snapshot while a reader has the first open: %v", err)
	}
	if _, err := r1.Item(ctx, mb, testItem("", 2).ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old reader sees item 2: %v", err)
	}
	if _, err := r1.Item(ctx, mb, testItem("", 1).ID); err != nil {
		t.Fatalf("old reader lost item 1: %v", err)
	}
	r2, err := OpenReader(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := r2.Item(ctx, mb, testItem("", 2).ID); err != nil {
		t.Fatalf("new reader misses item 2: %v", err)
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp-*"))
	if len(matches) != 0 {
		t.Fatalf("temporary files left: %v", matches)
	}

	// With the writer gone, OpenReader reads the store itself.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r3, err := OpenReader(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	if r3.Path() != path {
		t.Fatalf("reader opened %s with no writer, want the store", r3.Path())
	}
}

func TestStore_SnapshotErrors(t *testing.T) {
	s := MustOpenStore(t)
	if _, err := s.Snapshot(context.Background(), s.Path()); err == nil {
		t.Fatal("snapshot over the store itself accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	snap := SnapshotPath(s.Path())
	if _, err := s.Snapshot(ctx, snap); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Snapshot = %v", err)
	}
	if _, err := os.Stat(snap); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cancelled Snapshot left %s: %v", snap, err)
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(snap), "*.tmp-*"))
	if len(matches) != 0 {
		t.Fatalf("temporary files left: %v", matches)
	}
}

func TestStore_PublishSnapshots(t *testing.T) {
	s := MustOpenStore(t)
	published := make(chan struct{}, 16)
	s.testHookSnapshot = func() { published <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.PublishSnapshots(ctx, "", 0) }()
	<-published // the first one, at once
	mb := Mailbox("a@x")
	mustApply(t, s, inboxBatch(mb, testItem("inbox", 7)))
	<-published // after the commit
	r, err := Open(SnapshotPath(s.Path()), &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Item(context.Background(), mb, testItem("", 7).ID); err != nil {
		t.Fatalf("published snapshot misses the commit: %v", err)
	}
	r.Close()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("PublishSnapshots = %v, want context.Canceled", err)
	}
}

func TestMoveAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mirror.db")
	s, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, inboxBatch("a@x", testItem("inbox", 1)))
	if _, err := MoveAside(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("MoveAside of an open store = %v, want ErrLocked", err)
	}
	s.Close()
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Damage it; Open says ErrCorrupt; move it aside; Open starts afresh.
	ps := uint64(parseMeta(want).pageSize)
	m, err := pickMeta(parseMeta(want), parseMeta(want[ps:]), 0)
	if err != nil {
		t.Fatal(err)
	}
	clear(want[m.root*ps : (m.root+1)*ps])
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, &Options{NoSync: true})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != path {
		t.Fatalf("Open of the damaged file = %v, want a *CorruptError for %s", err, path)
	}
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	got, err := moveAside(path, now)
	if err != nil {
		t.Fatal(err)
	}
	if got != path+".corrupt-20240501T080000Z" {
		t.Fatalf("moved to %s", got)
	}
	if b, err := os.ReadFile(got); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("moved file differs: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("store still there: %v", err)
	}
	// The same second again gets its own name.
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	if got2, err := moveAside(path, now); err != nil || got2 != got+"-2" {
		t.Fatalf("second move = %s, %v", got2, err)
	}
	s, err = Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open after MoveAside: %v", err)
	}
	defer s.Close()
	if mbs, err := s.Mailboxes(context.Background()); err != nil || len(mbs) != 0 {
		t.Fatalf("fresh store holds %v, %v", mbs, err)
	}
	if _, err := MoveAside(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("MoveAside of a missing file = %v", err)
	}
}

func TestOpen_TightensMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mirror.db")
	s, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))

	// A read-only Open leaves the mode alone.
	r, err := Open(path, &Options{ReadOnly: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Fatalf("read-only Open changed the mode to %v", fi.Mode().Perm())
	}

	s, err = Open(path, &Options{NoSync: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after a read-write Open: %v, want 0600", fi.Mode().Perm())
	}
	if out := logged.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "mode tightened") || !strings.Contains(out, "-rw-r--r--") {
		t.Fatalf("warning not logged: %q", out)
	}
}

package localstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// MustOpenStore opens a store in a fresh temporary directory (NoSync: a test
// process crash loses nothing) and registers a cleanup that checks the
// store's integrity and closes it.
func MustOpenStore(t testing.TB, opts ...func(*Options)) *Store {
	t.Helper()
	o := &Options{NoSync: true}
	for _, f := range opts {
		f(o)
	}
	path := filepath.Join(t.TempDir(), "mirror.db")
	s, err := Open(path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if s.closed.Load() {
			return
		}
		if err := s.Check(context.Background()); err != nil {
			t.Errorf("integrity check after test: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// mustApply applies b and fails the test on error.
func mustApply(t testing.TB, s *Store, b Batch) {
	t.Helper()
	if err := s.Apply(context.Background(), b); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// collect drains an iterator.
func collect[T any](t testing.TB, seq func(func(T, error) bool)) []T {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			t.Fatalf("iterate: %v", err)
		}
		out = append(out, v)
	}
	return out
}

var baseTime = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// testItem returns a plausible item number n in folder f, received n
// minutes after baseTime.
func testItem(f FolderID, n int) Item {
	return Item{
		ID:                ItemID(fmt.Sprintf("AAMkItem%06d", n)),
		ChangeKey:         fmt.Sprintf("CQAAAB%d", n),
		FolderID:          f,
		ItemClass:         "IPM.Note",
		Subject:           fmt.Sprintf("Quarterly report %d", n),
		From:              Address{Name: "Alice Example", Email: "alice@example.com"},
		To:                []Address{{Name: "Bob", Email: "bob@example.com"}},
		Received:          baseTime.Add(time.Duration(n) * time.Minute),
		Sent:              baseTime.Add(time.Duration(n)*time.Minute - time.Second),
		Size:              int64(2000 + n),
		IsRead:            n%3 == 0,
		Importance:        ImportanceNormal,
		InternetMessageID: fmt.Sprintf("<msg%d@example.com>", n),
		ConversationID:    fmt.Sprintf("AAQkConv%d", n/4),
	}
}

package syncengine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/localstore"
)

// gatedStore records the batches applied to it; each Apply first waits
// for a value on gate (nil: no wait) and returns fail when set.
type gatedStore struct {
	Store // unused methods
	gate  chan struct{}
	mu    sync.Mutex
	fail  error
	seen  [][]localstore.FolderID // the checkpoints of each applied batch
	began chan struct{}           // a value per Apply started
}

func (s *gatedStore) Apply(ctx context.Context, b localstore.Batch) error {
	if s.began != nil {
		s.began <- struct{}{}
	}
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	var ids []localstore.FolderID
	for _, c := range b.Checkpoints {
		ids = append(ids, c.ID)
	}
	s.seen = append(s.seen, ids)
	return nil
}

func (s *gatedStore) batches() [][]localstore.FolderID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func gatedMailbox(s *gatedStore) *mailbox {
	return &mailbox{e: &Engine{store: s, cfg: Config{Clock: debounce.SystemClock{}}}, mb: "a@example.com"}
}

// part is a page's batch: one item and its checkpoint, named by n.
func part(n int) localstore.Batch {
	f := localstore.FolderID(fmt.Sprintf("f%d", n))
	return localstore.Batch{
		Mailbox:     "a@example.com",
		Items:       []localstore.Item{{ID: localstore.ItemID(fmt.Sprintf("i%d", n)), FolderID: f}},
		Checkpoints: []localstore.Checkpoint{{ID: f}},
	}
}

// A pipelined accumulator lets producers go on while a commit runs, and
// commits what queued meanwhile in one transaction, in the order added;
// each part's callback runs after the commit that stored it.
func TestPipeline_CommitsQueuedPartsInOrder(t *testing.T) {
	ctx := context.Background()
	s := &gatedStore{gate: make(chan struct{}), began: make(chan struct{}, 10)}
	a := newPipeline(ctx, gatedMailbox(s), 100)
	var mu sync.Mutex
	var done []int
	cb := func(n int) func() {
		return func() { mu.Lock(); done = append(done, n); mu.Unlock() }
	}
	if err := a.addThen(ctx, part(1), cb(1)); err != nil {
		t.Fatal(err)
	}
	<-s.began // the committer holds part 1 and waits on the gate
	for n := 2; n <= 4; n++ {
		if err := a.addThen(ctx, part(n), cb(n)); err != nil { // does not wait for the commit
			t.Fatal(err)
		}
	}
	mu.Lock()
	if len(done) != 0 {
		t.Errorf("callbacks ran before any commit: %v", done)
	}
	mu.Unlock()
	s.gate <- struct{}{}
	<-s.began
	s.gate <- struct{}{}
	if err := a.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	want := [][]localstore.FolderID{{"f1"}, {"f2", "f3", "f4"}}
	if got := s.batches(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("commits %v, want %v", got, want)
	}
	if !slices.Equal(done, []int{1, 2, 3, 4}) {
		t.Errorf("callbacks %v, want 1 to 4 in order", done)
	}
	if err := a.add(ctx, part(5)); err == nil {
		t.Error("add after close succeeded")
	}
}

// A failed commit fails every later add and the flush, and nothing after
// it is committed or reported.
func TestPipeline_FailureStops(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("disk full")
	s := &gatedStore{gate: make(chan struct{}), began: make(chan struct{}, 10), fail: boom}
	a := newPipeline(ctx, gatedMailbox(s), 100)
	ran := false
	if err := a.addThen(ctx, part(1), func() { ran = true }); err != nil {
		t.Fatal(err)
	}
	<-s.began
	s.gate <- struct{}{}
	if err := a.flush(ctx); !errors.Is(err, boom) {
		t.Fatalf("flush: %v, want %v", err, boom)
	}
	if err := a.add(ctx, part(2)); !errors.Is(err, boom) {
		t.Errorf("add after the failure: %v, want %v", err, boom)
	}
	if err := a.close(); !errors.Is(err, boom) {
		t.Errorf("close: %v, want %v", err, boom)
	}
	if ran || len(s.batches()) != 0 {
		t.Errorf("a failed commit was reported (callback %v, batches %v)", ran, s.batches())
	}
}

// Producers wait once limit changes queue behind a running commit, and go
// on when the committer takes the queue.
func TestPipeline_Backpressure(t *testing.T) {
	ctx := context.Background()
	s := &gatedStore{gate: make(chan struct{}), began: make(chan struct{}, 10)}
	a := newPipeline(ctx, gatedMailbox(s), 4) // a part is 2 changes
	if err := a.add(ctx, part(1)); err != nil {
		t.Fatal(err)
	}
	<-s.began
	if err := a.add(ctx, part(2)); err != nil { // 2 queued: below the limit
		t.Fatal(err)
	}
	returned := make(chan error, 1)
	go func() { returned <- a.add(ctx, part(3)) }() // 4 queued: waits
	for queued := false; !queued; runtime.Gosched() {
		a.mu.Lock()
		queued = a.added == 3
		a.mu.Unlock()
	}
	select {
	case err := <-returned:
		t.Fatalf("add returned (%v) with the limit queued behind a running commit", err)
	default:
	}
	s.gate <- struct{}{} // commit 1 ends; the committer takes 2 and 3
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	<-s.began
	s.gate <- struct{}{}
	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	want := [][]localstore.FolderID{{"f1"}, {"f2", "f3"}}
	if got := s.batches(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("commits %v, want %v", got, want)
	}
}

// then with nothing pending runs at once; after pending parts it runs
// after their commit (a plain accumulator commits on flush).
func TestAccumulator_Then(t *testing.T) {
	ctx := context.Background()
	s := &gatedStore{}
	a := newAccumulator(gatedMailbox(s), 100)
	ran := 0
	a.then(func() { ran++ })
	if ran != 1 {
		t.Fatalf("then with nothing pending: ran %d times", ran)
	}
	if err := a.add(ctx, part(1)); err != nil {
		t.Fatal(err)
	}
	a.then(func() { ran++ })
	if ran != 1 {
		t.Fatal("then ran before the pending part was committed")
	}
	if err := a.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if ran != 2 || len(s.batches()) != 1 {
		t.Errorf("after flush: ran %d, batches %v", ran, s.batches())
	}
}

// recordingStore keeps every batch applied to it.
type recordingStore struct {
	Store
	mu  sync.Mutex
	got []localstore.Batch
	err error
}

func (s *recordingStore) Apply(_ context.Context, b localstore.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.got = append(s.got, b)
	return nil
}

// Pages merged into one batch keep their order for each item: a later
// page's full record of an item supersedes an earlier page's read flag or
// delete of it, which Apply's fixed phases would otherwise run after it.
func TestAccumulator_LaterRecordSupersedesReadFlagAndDelete(t *testing.T) {
	ctx := context.Background()
	s := &recordingStore{}
	m := &mailbox{e: &Engine{store: s, cfg: Config{Clock: debounce.SystemClock{}}}, mb: "a@example.com"}
	for _, pipelined := range []bool{false, true} {
		s.got = nil
		var a *accumulator
		if pipelined {
			a = newPipeline(ctx, m, 1000)
		} else {
			a = newAccumulator(m, 1000)
		}
		page1 := localstore.Batch{
			ReadFlags:   []localstore.ReadFlag{{ID: "x", IsRead: true, ChangeKey: "ck2"}, {ID: "y", IsRead: true}},
			ItemDeletes: []localstore.ItemID{"z", "w"},
		}
		page2 := localstore.Batch{Items: []localstore.Item{{ID: "x", FolderID: "f", ChangeKey: "ck3"}, {ID: "z", FolderID: "f"}}}
		if err := a.add(ctx, page1); err != nil {
			t.Fatal(err)
		}
		if err := a.add(ctx, page2); err != nil {
			t.Fatal(err)
		}
		if err := a.flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.close(); err != nil {
			t.Fatal(err)
		}
		if len(s.got) != 1 {
			t.Fatalf("pipelined=%v: %d commits, want the two pages in one", pipelined, len(s.got))
		}
		b := s.got[0]
		if len(b.ReadFlags) != 1 || b.ReadFlags[0].ID != "y" || !slices.Equal(b.ItemDeletes, []localstore.ItemID{"w"}) || len(b.Items) != 2 {
			t.Errorf("pipelined=%v: read flags %+v, deletes %v, items %d", pipelined, b.ReadFlags, b.ItemDeletes, len(b.Items))
		}
	}
}

// A failed commit stops the accumulator: nothing added after it commits,
// so no later checkpoint can pass the pages it dropped.
func TestAccumulator_FailedCommitIsSticky(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("disk full")
	s := &recordingStore{err: boom}
	m := &mailbox{e: &Engine{store: s, cfg: Config{Clock: debounce.SystemClock{}}}, mb: "a@example.com"}
	a := newAccumulator(m, 1)
	if err := a.add(ctx, part(1)); !errors.Is(err, boom) {
		t.Fatalf("first commit: %v", err)
	}
	s.err = nil
	if err := a.add(ctx, part(2)); !errors.Is(err, boom) {
		t.Fatalf("add after a failed commit: %v, want the commit's error", err)
	}
	if err := a.flush(ctx); !errors.Is(err, boom) {
		t.Fatalf("flush after a failed commit: %v", err)
	}
	if len(s.got) != 0 {
		t.Fatalf("%d batches committed after the failure", len(s.got))
	}
}

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

package localstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test re-runs the test binary as a child that applies batches in a
// loop; TestMain turns the binary into that child when crashChildEnv is set.
const crashChildEnv = "LOCALSTORE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path))
	}
	if path := os.Getenv(damageChildEnv); path != "" {
		os.Exit(damageChild(path))
	}
	code := m.Run()
	closeBigFolder()
	os.Exit(code)
}

const (
	crashMailboxes = 3
	crashPool      = 800 // item ids per mailbox
)

func crashMailbox(k int) Mailbox { return Mailbox(fmt.Sprintf("crash%d@example.com", k)) }

// crashBatch is batch n of mailbox k: a pure function of (k, n), so the
// parent can replay exactly what the child committed.
func crashBatch(k int, n uint64) Batch {
	r := rand.New(rand.NewPCG(uint64(k), n))
	mb := crashMailbox(k)
	b := Batch{Mailbox: mb, Seq: n}
	folders := []FolderID{"inbox", "archive", "sent", "tmp"}
	for _, f := range folders {
		parent := FolderID("root")
		if f == "tmp" {
			parent = "archive"
		}
		b.Folders = append(b.Folders, FolderInfo{ID: f, ParentID: parent, DisplayName: string(f), FolderClass: "IPF.Note",
			TotalCount: r.Int64N(1000), UnreadCount: r.Int64N(100)})
	}
	for range 1 + r.IntN(80) {
		id := ItemID(fmt.Sprintf("item%04d", r.IntN(crashPool)))
		it := testItem(folders[r.IntN(len(folders))], r.IntN(100000))
		it.ID = id
		it.IsRead = r.IntN(2) == 0
		it.Subject = fmt.Sprintf("batch %d item %s", n, id)
		b.Items = append(b.Items, it)
	}
	for range r.IntN(4) {
		b.MIME = append(b.MIME, MIME{ID: b.Items[r.IntN(len(b.Items))].ID, Data: make([]byte, 1+r.IntN(20000))})
	}
	for range r.IntN(20) {
		b.ReadFlags = append(b.ReadFlags, ReadFlag{ID: ItemID(fmt.Sprintf("item%04d", r.IntN(crashPool))), IsRead: r.IntN(2) == 0})
	}
	for range r.IntN(20) {
		b.ItemDeletes = append(b.ItemDeletes, ItemID(fmt.Sprintf("item%04d", r.IntN(crashPool))))
	}
	for _, f := range folders {
		b.Checkpoints = append(b.Checkpoints, Checkpoint{ID: f, FolderSync: FolderSync{
			SyncState:          fmt.Sprintf("ss-%d-%d-%s", k, n, f),
			LocalCommitTimeMax: baseTime.Add(time.Duration(n) * time.Second),
			DeletedCountTotal:  int64(n),
			LastSynced:         baseTime.Add(time.Duration(n) * time.Second),
		}})
	}
	if r.IntN(10) == 0 {
		b.FolderDeletes = []FolderID{"archive"} // and "tmp" with it
	}
	h := fmt.Sprintf("h-%d-%d", k, n)
	b.Hierarchy = &HierarchySync{SyncState: h}
	b.Subscription = &Subscription{Kind: Pull, ID: "sub", Watermark: fmt.Sprintf("wm-%d-%d", k, n), LastEvent: baseTime.Add(time.Duration(n) * time.Second)}
	return b
}

// crashChild applies batches for crashMailboxes mailboxes concurrently until
// killed, reporting each committed (mailbox, seq) on fd 3 after the commit.
func crashChild(path string) int {
	s, err := Open(path, &Options{LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 2
	}
	report := os.NewFile(3, "report")
	var mu sync.Mutex
	ctx := context.Background()
	var wg sync.WaitGroup
	for k := range crashMailboxes {
		wg.Go(func() {
			var n uint64
			st, err := s.MailboxState(ctx, crashMailbox(k))
			if err == nil {
				n = st.Seq
			} else if !errors.Is(err, ErrNotFound) {
				fmt.Fprintln(os.Stderr, "child state:", err)
				os.Exit(2)
			}
			for {
				n++
				if err := s.Apply(ctx, crashBatch(k, n)); err != nil {
					fmt.Fprintln(os.Stderr, "child apply:", err)
					os.Exit(2)
				}
				var rec [16]byte
				binary.BigEndian.PutUint64(rec[:8], uint64(k))
				binary.BigEndian.PutUint64(rec[8:], n)
				mu.Lock()
				_, err := report.Write(rec[:])
				mu.Unlock()
				if err != nil {
					os.Exit(3)
				}
			}
		})
	}
	wg.Wait()
	return 0
}

// TestStore_Crash kills a child writer with SIGKILL at random moments and
// checks after each kill that the reopened store is consistent and holds
// exactly the batches the child committed.
func TestStore_Crash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	const kills = 24
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(42, 42))
	models := newModel()
	replayed := make([]uint64, crashMailboxes) // batches applied to the model
	reported := make([]uint64, crashMailboxes) // highest seq reported per mailbox
	total := 0
	for kill := range kills {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		cmd.ExtraFiles = []*os.File{pw}
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		reports := make(chan [2]uint64, 1024)
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			br := bufio.NewReader(pr)
			var rec [16]byte
			for {
				if _, err := io.ReadFull(br, rec[:]); err != nil {
					close(reports)
					return
				}
				reports <- [2]uint64{binary.BigEndian.Uint64(rec[:8]), binary.BigEndian.Uint64(rec[8:])}
			}
		}()
		// Kill after a random number of commits (0: possibly during Open).
		wait := rng.IntN(40)
		if kill == 0 {
			wait = 5
		}
		for got := 0; got < wait; got++ {
			r, ok := <-reports
			if !ok {
				t.Fatalf("child exited early: %s", stderr.String())
			}
			reported[r[0]] = max(reported[r[0]], r[1])
			total++
			if kill == 0 && got == 0 {
				// A second opener, in another process than the writer,
				// gets ErrLocked instead of hanging.
				if _, err := Open(path, &Options{LockTimeout: 20 * time.Millisecond}); !errors.Is(err, ErrLocked) {
					t.Fatalf("second opener: %v, want ErrLocked", err)
				}
			}
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond) // a random moment, not synchronisation
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		werr := cmd.Wait()
		for r := range reports {
			reported[r[0]] = max(reported[r[0]], r[1])
			total++
		}
		<-readDone
		pr.Close()
		var ee *exec.ExitError
		if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child did not die by SIGKILL: %v\n%s", werr, stderr.String())
		}

		s, err := Open(path, &Options{NoSync: true})
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", kill, err)
		}
		if err := s.Check(context.Background()); err != nil {
			t.Fatalf("kill %d: integrity: %v", kill, err)
		}
		for k := range crashMailboxes {
			mb := crashMailbox(k)
			st, err := s.MailboxState(context.Background(), mb)
			if errors.Is(err, ErrNotFound) {
				st, err = MailboxState{}, nil
			}
			if err != nil {
				t.Fatal(err)
			}
			// The child reports after commit and before the next batch, so
			// at most one committed batch is unreported.
			if st.Seq < reported[k] || st.Seq > reported[k]+1 {
				t.Fatalf("kill %d mailbox %d: stored seq %d, child reported %d", kill, k, st.Seq, reported[k])
			}
			if st.Seq > 0 {
				if want := fmt.Sprintf("wm-%d-%d", k, st.Seq); st.Subscription.Watermark != want || st.HierarchySyncState != fmt.Sprintf("h-%d-%d", k, st.Seq) {
					t.Fatalf("kill %d mailbox %d: watermark %q hierarchy %q, want batch %d's", kill, k, st.Subscription.Watermark, st.HierarchySyncState, st.Seq)
				}
				f, err := s.Folder(context.Background(), mb, "inbox")
				if err != nil || f.SyncState != fmt.Sprintf("ss-%d-%d-inbox", k, st.Seq) {
					t.Fatalf("kill %d mailbox %d: inbox SyncState %q (%v), want batch %d's", kill, k, f.SyncState, err, st.Seq)
				}
			}
			// What is stored is known from here on: a batch committed but
			// not reported before this kill must not count as unreported
			// again when the next child is killed after its own commit.
			reported[k] = st.Seq
			for replayed[k] < st.Seq {
				replayed[k]++
				if err := models.apply(crashBatch(k, replayed[k])); err != nil {
					t.Fatalf("model: %v", err)
				}
			}
			// The full comparison with the replayed model every few kills
			// (and at the end) keeps the test fast under -race.
			if m := models.mbs[mb]; m != nil && (kill%4 == 3 || kill == kills-1) {
				compareMailbox(t, s, mb, m, rng, []string{"batch", "item0"})
				if t.Failed() {
					t.FailNow()
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if total < kills {
		t.Fatalf("only %d commits reported over %d kills", total, kills)
	}
	t.Logf("%d kills, %d commits reported, seqs %v", kills, total, replayed)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

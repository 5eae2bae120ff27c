package ewstest

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
)

func newActivityServer(t *testing.T) (*Server, *debouncetest.Clock) {
	t.Helper()
	clock := debouncetest.NewClock(seedEpoch)
	s := NewUnstartedServer(Options{Clock: clock, Logger: slog.New(slog.DiscardHandler), Users: []User{
		{Name: "alice", Password: "secret", Address: "alice@example.com"},
		{Name: "bob", Password: "secret", Address: "bob@example.com"},
	}})
	for _, u := range []string{"alice@example.com", "bob@example.com"} {
		if _, err := Seed(s.Mailbox(u), SeedOptions{Messages: 300, Folders: 6, Seed: 3}); err != nil {
			t.Fatal(err)
		}
	}
	return s, clock
}

// describe renders a change without ids (which differ between servers).
func describe(s *Server, c ActivityChange) string {
	name := ""
	if f, err := s.Mailbox(c.Mailbox).Folder(c.FolderID); err == nil {
		name = f.DisplayName
	}
	subj := ""
	if it, err := s.Mailbox(c.Mailbox).Item(c.ItemID); err == nil {
		subj = it.Message.Subject
	}
	return fmt.Sprintf("%s %s %s %q %q", c.Time.Format(time.RFC3339Nano), c.Kind, c.Mailbox, name, subj)
}

func TestActivity_DeterministicOnFakeClock(t *testing.T) {
	run := func() ([]string, []string) {
		s, clock := newActivityServer(t)
		var log []string
		a, err := s.StartActivity(ActivityOptions{Rate: 20, Seed: 42, OnChange: func(c ActivityChange) {
			log = append(log, describe(s, c))
		}})
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Second)
		if got := a.Total(); got != 200 {
			t.Fatalf("%d changes in 10 s at 20/s, want 200", got)
		}
		a.Stop()
		clock.Advance(10 * time.Second)
		if got := a.Total(); got != 200 {
			t.Fatalf("changes after Stop: %d", got)
		}
		var fp []string
		for _, u := range []string{"alice@example.com", "bob@example.com"} {
			fp = append(fp, fingerprint(t, s.Mailbox(u))...)
		}
		return log, fp
	}
	log1, fp1 := run()
	log2, fp2 := run()
	if strings.Join(log1, "\n") != strings.Join(log2, "\n") {
		t.Fatalf("same seed, different changes:\n%s\n---\n%s", strings.Join(log1[:5], "\n"), strings.Join(log2[:5], "\n"))
	}
	if strings.Join(fp1, "\n") != strings.Join(fp2, "\n") {
		t.Fatal("same seed, different mailboxes")
	}
	// Timed by the clock: the first change is at 50 ms.
	if !strings.HasPrefix(log1[0], seedEpoch.Add(50*time.Millisecond).Format(time.RFC3339Nano)) {
		t.Fatalf("first change %s", log1[0])
	}
}

func TestActivity_RatesAndKinds(t *testing.T) {
	s, clock := newActivityServer(t)
	a, err := s.StartActivity(ActivityOptions{Rate: 1000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if got := a.Total(); got != 1000 {
		t.Fatalf("%d changes in 1 s at 1000/s", got)
	}
	clock.Advance(1500 * time.Millisecond)
	if got := a.Total(); got != 2500 {
		t.Fatalf("%d changes in 2.5 s at 1000/s", got)
	}
	a.Stop()
	counts := a.Counts()
	for _, k := range ActivityKinds {
		if counts[k] == 0 {
			t.Errorf("no %s in 2500 changes: %v", k, counts)
		}
	}
	if counts[ActNewMail] < counts[ActCreateFolder] {
		t.Errorf("mix off: %v", counts)
	}
	// A slow rate: one change every 4 s.
	b, _ := s.StartActivity(ActivityOptions{Rate: 0.25, Seed: 2})
	clock.Advance(3999 * time.Millisecond)
	if b.Total() != 0 {
		t.Fatal("change before it was due")
	}
	clock.Advance(time.Millisecond)
	if b.Total() != 1 {
		t.Fatalf("%d changes at 4 s", b.Total())
	}
	b.Stop()
}

func TestActivity_ChangesThroughMailboxMethods(t *testing.T) {
	s, _ := newActivityServer(t)
	a, err := s.NewActivity(ActivityOptions{Seed: 5, Mix: map[ActivityKind]int{ActNewMail: 1}})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]FolderInfo{}
	for _, u := range []string{"alice@example.com", "bob@example.com"} {
		f, _ := s.Mailbox(u).Folder("inbox")
		before[u] = f
	}
	added := map[string]int{}
	for range 50 {
		c, err := a.Step()
		if err != nil {
			t.Fatal(err)
		}
		it, err := s.Mailbox(c.Mailbox).Item(c.ItemID)
		if err != nil || it.Message.IsRead || it.FolderID != c.FolderID {
			t.Fatalf("new mail %+v: %+v %v", c, it, err)
		}
		if f, _ := s.Mailbox(c.Mailbox).Folder("inbox"); f.ID == c.FolderID {
			added[c.Mailbox]++
		}
	}
	for u, f := range before {
		now, _ := s.Mailbox(u).Folder("inbox")
		if now.TotalCount != f.TotalCount+added[u] || now.UnreadCount != f.UnreadCount+added[u] {
			t.Fatalf("%s inbox %d/%d unread, was %d/%d, added %d", u, now.TotalCount, now.UnreadCount, f.TotalCount, f.UnreadCount, added[u])
		}
	}

	// Deleting only: items go to Deleted Items or the dumpster.
	d, _ := s.NewActivity(ActivityOptions{Seed: 6, Mix: map[ActivityKind]int{ActDelete: 1}})
	for range 20 {
		c, err := d.Step()
		if err != nil || c.Kind != ActDelete {
			t.Fatalf("%+v %v", c, err)
		}
		if _, err := s.Mailbox(c.Mailbox).Item(c.ItemID); err == nil {
			if it, _ := s.Mailbox(c.Mailbox).Item(c.ItemID); it.FolderID == c.FolderID {
				t.Fatalf("deleted item still in its folder: %+v", c)
			}
		}
	}
}

func TestActivity_FallsBackToNewMail(t *testing.T) {
	s := NewUnstartedServer(Options{Clock: debouncetest.NewClock(seedEpoch),
		Users: []User{{Name: "carol", Password: "x", Address: "carol@example.com"}}})
	a, err := s.NewActivity(ActivityOptions{Seed: 1, Mix: map[ActivityKind]int{ActRenameFolder: 1, ActMove: 1}})
	if err != nil {
		t.Fatal(err)
	}
	// An empty mailbox has nothing to rename or move: new mail instead.
	c, err := a.Step()
	if err != nil || c.Kind != ActNewMail {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestActivity_Invalid(t *testing.T) {
	s, _ := newActivityServer(t)
	for _, o := range []ActivityOptions{
		{Rate: -1},
		{Mix: map[ActivityKind]int{"Explode": 1}},
		{Mix: map[ActivityKind]int{ActNewMail: -1}},
		{Mix: map[ActivityKind]int{ActNewMail: 0}},
	} {
		if _, err := s.NewActivity(o); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("NewActivity(%+v) = %v", o, err)
		}
	}
	a, _ := s.NewActivity(ActivityOptions{})
	if err := a.Start(); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Start with rate 0 = %v", err)
	}
	if _, err := newActivity(s.Clock(), nil, ActivityOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no mailboxes: %v", err)
	}
}

// BenchmarkActivityStep measures one generated change on a mailbox of
// 100,000 messages in 50 folders.
func BenchmarkActivityStep(b *testing.B) {
	s := NewUnstartedServer(Options{Clock: debouncetest.NewClock(seedEpoch), Logger: slog.New(slog.DiscardHandler),
		Users: []User{{Name: "alice", Password: "secret", Address: "alice@example.com"}}})
	if _, err := Seed(s.Mailbox("alice@example.com"), SeedOptions{Messages: 100_000, Folders: 50, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	a, err := s.NewActivity(ActivityOptions{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := a.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}

func TestActivity_LongRunNeverFails(t *testing.T) {
	s, _ := newActivityServer(t)
	// A folder-heavy mix stresses name clashes, deleted parents and empty
	// folders.
	mix := map[ActivityKind]int{ActNewMail: 10, ActMove: 10, ActDelete: 10, ActMarkRead: 5,
		ActCreateFolder: 10, ActRenameFolder: 10, ActDeleteFolder: 10, ActFlag: 5, ActMarkUnread: 5}
	a, err := s.NewActivity(ActivityOptions{Seed: 11, Mix: mix})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if _, err := a.Step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	for _, u := range []string{"alice@example.com", "bob@example.com"} {
		total := 0
		for _, f := range s.Mailbox(u).Folders() {
			items, err := s.Mailbox(u).Items(f.ID)
			if err != nil || len(items) != f.TotalCount {
				t.Fatalf("%s %s: %d items listed, TotalCount %d, %v", u, f.DisplayName, len(items), f.TotalCount, err)
			}
			unread := 0
			for _, it := range items {
				if !it.Message.IsRead {
					unread++
				}
			}
			if unread != f.UnreadCount {
				t.Fatalf("%s %s: %d unread listed, UnreadCount %d", u, f.DisplayName, unread, f.UnreadCount)
			}
			total += f.TotalCount
		}
		if total == 0 {
			t.Fatalf("%s: empty after the run", u)
		}
	}
}

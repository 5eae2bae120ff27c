package syncengine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
)

const (
	testUser = "alice"
	testPass = "secret"
	testAddr = "alice@example.com"
)

// fixture is a fake server with one seeded mailbox and a store.
type fixture struct {
	t     *testing.T
	srv   *ewstest.Server
	box   *ewstest.Mailbox
	store *localstore.Store
	path  string
}

func newFixture(t *testing.T, messages, folders int) *fixture {
	t.Helper()
	srv := ewstest.NewServer(ewstest.Options{
		Users: []ewstest.User{{Name: testUser, Password: testPass, Address: testAddr}},
	})
	t.Cleanup(srv.Close)
	box := srv.Mailbox(testAddr)
	if _, err := ewstest.Seed(box, ewstest.SeedOptions{Messages: messages, Folders: folders, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, srv: srv, box: box, path: filepath.Join(t.TempDir(), "mirror.db")}
	f.open()
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	st, err := localstore.Open(f.path, &localstore.Options{NoSync: true, Logger: quietLogger()})
	if err != nil {
		f.t.Fatal(err)
	}
	f.store = st
	f.t.Cleanup(func() { st.Close() })
}

func (f *fixture) reopen() {
	f.t.Helper()
	if err := f.store.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

func (f *fixture) client() *ews.Client {
	f.t.Helper()
	c, err := ews.New(f.srv.URL, &ews.Options{Logger: quietLogger(), Retry: ews.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond, NetworkBaseDelay: time.Millisecond}})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(c.CloseIdleConnections)
	return c
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig has short windows so that end-to-end tests converge quickly
// on the wall clock.
func testConfig(events chan<- Event) Config {
	c := Config{
		Logger:          quietLogger(),
		Quiet:           20 * time.Millisecond,
		MaxDelay:        100 * time.Millisecond,
		PullInterval:    20 * time.Millisecond,
		StreamDownAfter: 500 * time.Millisecond,
		Backoff:         ews.Backoff{Base: 5 * time.Millisecond, Max: 50 * time.Millisecond},
	}
	if events != nil {
		c.OnEvent = func(ev Event) {
			select {
			case events <- ev:
			default:
			}
		}
	}
	return c
}

// diff compares the mirror with the server's mailbox: every mail folder,
// its counts, and each item's id, change key and read flag.
func (f *fixture) diff(ctx context.Context) []string {
	return f.diffMailbox(ctx, testAddr)
}

func (f *fixture) diffMailbox(ctx context.Context, addr string) []string {
	var out []string
	server := map[string]ewstest.FolderInfo{}
	for _, sf := range f.box.Folders() {
		server[sf.ID] = sf
	}
	mb := localstore.Mailbox(addr)
	mirrored := map[string]bool{}
	for lf, err := range f.store.Folders(ctx, mb) {
		if err != nil {
			return []string{err.Error()}
		}
		sf, ok := server[string(lf.ID)]
		if !ok {
			out = append(out, fmt.Sprintf("folder %q mirrored but not on the server", lf.DisplayName))
			continue
		}
		if lf.DisplayName != sf.DisplayName || string(lf.ParentID) != sf.ParentID {
			out = append(out, fmt.Sprintf("folder %q: name/parent differ (server %q)", lf.DisplayName, sf.DisplayName))
		}
		if !IsMailFolder(lf.FolderClass) {
			continue
		}
		mirrored[sf.ID] = true
		if lf.SyncState == "" {
			out = append(out, fmt.Sprintf("folder %q not synced", lf.DisplayName))
			continue
		}
		if int(lf.LocalItems) != sf.TotalCount || int(lf.LocalUnread) != sf.UnreadCount {
			out = append(out, fmt.Sprintf("folder %q: server %d/%d unread, mirror %d/%d", lf.DisplayName, sf.TotalCount, sf.UnreadCount, lf.LocalItems, lf.LocalUnread))
		}
		if int(lf.TotalCount) != sf.TotalCount || int(lf.UnreadCount) != sf.UnreadCount {
			out = append(out, fmt.Sprintf("folder %q: stored counters %d/%d, server %d/%d", lf.DisplayName, lf.TotalCount, lf.UnreadCount, sf.TotalCount, sf.UnreadCount))
		}
		items, err := f.box.Items(sf.ID)
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		want := map[string]ewstest.ItemInfo{}
		for _, it := range items {
			want[it.ID] = it
		}
		for it, err := range f.store.Items(ctx, mb, lf.ID, localstore.Query{}) {
			if err != nil {
				out = append(out, err.Error())
				break
			}
			w, ok := want[string(it.ID)]
			if !ok {
				out = append(out, fmt.Sprintf("folder %q: phantom item %q", lf.DisplayName, it.Subject))
				continue
			}
			delete(want, string(it.ID))
			if w.ChangeKey != it.ChangeKey || w.Message.IsRead != it.IsRead || w.Message.Subject != it.Subject {
				out = append(out, fmt.Sprintf("folder %q: item %q differs (read %v/%v, change key %v)", lf.DisplayName, it.Subject, it.IsRead, w.Message.IsRead, w.ChangeKey == it.ChangeKey))
			}
		}
		for _, w := range want {
			out = append(out, fmt.Sprintf("folder %q: missing item %q", lf.DisplayName, w.Message.Subject))
		}
	}
	for id, sf := range server {
		if !mirrored[id] && IsMailFolder(sf.FolderClass) && f.underMsgFolderRoot(sf, server) {
			out = append(out, fmt.Sprintf("server folder %q not mirrored", sf.DisplayName))
		}
	}
	slices.Sort(out)
	return out
}

func (f *fixture) underMsgFolderRoot(sf ewstest.FolderInfo, all map[string]ewstest.FolderInfo) bool {
	root, err := f.box.FolderID("msgfolderroot")
	if err != nil {
		return false
	}
	for i := 0; i < 64 && sf.ParentID != ""; i++ {
		if sf.ParentID == root {
			return true
		}
		sf = all[sf.ParentID]
	}
	return false
}

// converge waits until the mirror equals the server, re-checking after
// every commit; it fails the test after timeout with the differences.
func (f *fixture) converge(ctx context.Context, timeout time.Duration) {
	f.t.Helper()
	f.convergeMailbox(ctx, testAddr, timeout)
}

func (f *fixture) convergeMailbox(ctx context.Context, addr string, timeout time.Duration) {
	f.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		notify := f.store.Notify()
		d := f.diffMailbox(ctx, addr)
		if len(d) == 0 {
			if err := f.store.Check(ctx); err != nil {
				f.t.Fatalf("store check: %v", err)
			}
			return
		}
		select {
		case <-notify:
		case <-deadline.C:
			f.t.Fatalf("mirror did not converge in %v:\n  %s", timeout, strings.Join(first(d, 20), "\n  "))
		}
	}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... %d more", len(s)-n))
	}
	return s
}

// waitEvent waits for an event of kind from the engine.
func waitEvent(t *testing.T, events <-chan Event, kind EventKind, timeout time.Duration) Event {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case ev := <-events:
			if ev.Kind == kind {
				return ev
			}
		case <-deadline.C:
			t.Fatalf("no %v event within %v", kind, timeout)
			return Event{}
		}
	}
}

// step makes n deterministic changes with the activity generator.
func (f *fixture) step(n int, seed int64) {
	f.t.Helper()
	a, err := f.srv.NewActivity(ewstest.ActivityOptions{Seed: seed})
	if err != nil {
		f.t.Fatal(err)
	}
	for range n {
		if _, err := a.Step(); err != nil {
			f.t.Fatal(err)
		}
	}
}

var msgSeq atomic.Int64

// testMessage is a new message with a unique subject.
func testMessage(i int) ewstest.Message {
	n := msgSeq.Add(1)
	return ewstest.Message{
		Subject:          fmt.Sprintf("test message %d-%d", n, i),
		From:             ewstest.Address{Name: "Bob", Email: "bob@example.com"},
		To:               []ewstest.Address{{Name: "Alice", Email: testAddr}},
		DateTimeReceived: time.Now().UTC(),
		DateTimeSent:     time.Now().UTC(),
		Body:             "hello",
	}
}

// reopenEmpty replaces the store with an empty one.
func (f *fixture) reopenEmpty() {
	f.t.Helper()
	if err := f.store.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.path = filepath.Join(f.t.TempDir(), "mirror.db")
	f.open()
}

// outOfCommitSecond waits until the wall clock has left the second in
// which the seeded folders were last changed: PR_LOCAL_COMMIT_TIME_MAX has
// one-second granularity, and a pair read within that second is uncertain
// (always resynced by recovery). Tests that count resynced folders need the
// initial sync's pairs to be certain.
func (f *fixture) outOfCommitSecond() {
	var latest time.Time
	for _, sf := range f.box.Folders() {
		if sf.LocalCommitTimeMax.After(latest) {
			latest = sf.LocalCommitTimeMax
		}
	}
	time.Sleep(time.Until(latest.Add(time.Second + 10*time.Millisecond)))
}

// initialSyncThenStop runs an engine on f through its initial sync (the
// pairs it stores certain) and closes it: a mirror left by an earlier run.
func initialSyncThenStop(t *testing.T, f *fixture) {
	t.Helper()
	f.outOfCommitSecond()
	events := make(chan Event, 1024)
	eng := startEngine(t, f, Mailbox{}, testConfig(events))
	waitEvent(t, events, EventInitialSync, 20*time.Second)
	if err := eng.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// syncOnceWith runs one SyncOnce pass of the test mailbox over store,
// through client, on a fresh engine that it closes, and returns the
// pass's error.
func syncOnceWith(t *testing.T, store Store, client Remote) error {
	t.Helper()
	ctx := context.Background()
	eng, err := New(store, testConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	if err := eng.AddMailbox(ctx, Mailbox{Address: testAddr, Client: client}); err != nil {
		t.Fatal(err)
	}
	return eng.SyncOnce(ctx)
}

package syncengine

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
)

// TestEngine_ManyMailboxes runs several mailboxes in one engine and one
// store through a service account: each mailbox's client impersonates it,
// their streaming subscriptions share one connection, and mailboxes are
// added and removed while the engine runs.
func TestEngine_ManyMailboxes(t *testing.T) {
	ctx := context.Background()
	const n = 4
	users := []ewstest.User{{Name: "svc", Password: "pw", Address: "svc@example.com"}}
	for i := range n {
		users = append(users, ewstest.User{Name: fmt.Sprintf("u%d", i), Password: "pw", Address: fmt.Sprintf("u%d@example.com", i)})
	}
	srv := ewstest.NewServer(ewstest.Options{Users: users, ImpersonationUsers: []string{"svc"}, Logger: quietLogger()})
	defer srv.Close()
	for i := range n {
		if _, err := ewstest.Seed(srv.Mailbox(users[i+1].Address), ewstest.SeedOptions{Messages: 150, Folders: 3, Seed: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	store, err := localstore.Open(filepath.Join(t.TempDir(), "m.db"), &localstore.Options{NoSync: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	newClient := func(addr string) *ews.Client {
		o := &ews.Options{Logger: quietLogger()}
		if addr != "" {
			o.Impersonation = &ews.Impersonation{SMTPAddress: addr}
		}
		c, err := ews.New(srv.URL, o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	streamClient := newClient(users[1].Address) // impersonates the anchor
	events := make(chan Event, 4096)
	eng, err := New(store, testConfig(events))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	add := func(i int) {
		addr := users[i+1].Address
		if err := eng.AddMailbox(ctx, Mailbox{Address: addr, Client: newClient(addr), StreamClient: streamClient}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n - 1 {
		add(i)
	}
	if err := eng.AddMailbox(ctx, Mailbox{Address: users[1].Address, Client: newClient("")}); err == nil {
		t.Fatal("duplicate mailbox accepted")
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	add(n - 1) // while running
	live := map[string]bool{}
	deadline := time.After(30 * time.Second)
	for len(live) < n {
		select {
		case ev := <-events:
			if ev.Kind == EventInitialSync {
				live[ev.Mailbox] = true
			}
		case <-deadline:
			t.Fatalf("initial syncs done: %v", live)
		}
	}
	if got := srv.NotificationStats().OpenStreams; got != 1 {
		t.Fatalf("%d streaming connections for %d mailboxes, want 1", got, n)
	}
	// Remove one while running; the others keep converging.
	if err := eng.RemoveMailbox(ctx, users[1].Address); err != nil {
		t.Fatal(err)
	}
	act, err := srv.NewActivity(ewstest.ActivityOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if _, err := act.Step(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < n; i++ {
		f := &fixture{t: t, srv: srv, box: srv.Mailbox(users[i+1].Address), store: store}
		f.convergeMailbox(ctx, users[i+1].Address, 20*time.Second)
	}
	if got := len(eng.Status()); got != n-1 {
		t.Fatalf("%d mailboxes in the status, want %d", got, n-1)
	}
}

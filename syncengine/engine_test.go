package syncengine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/localstore"
)

func TestEngine_LiveConvergesByItself(t *testing.T) {
	for _, mode := range []Mode{Streaming, Pull} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, 600, 6)
			events := make(chan Event, 1024)
			eng, err := New(f.store, testConfig(events))
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.AddMailbox(ctx, Mailbox{Address: testAddr, Client: f.client(), Mode: mode}); err != nil {
				t.Fatal(err)
			}
			if err := eng.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer eng.Close(ctx)
			waitEvent(t, events, EventInitialSync, 20*time.Second)
			if d := f.diff(ctx); len(d) != 0 {
				t.Fatalf("after the initial sync:\n%v", first(d, 10))
			}
			f.step(300, 11)
			f.converge(ctx, 20*time.Second)
			m := eng.Metrics()
			if m.Batches == 0 || m.Events == 0 {
				t.Fatalf("metrics %+v: the live path did not run", m)
			}
			if m.Recoveries != 0 {
				t.Fatalf("%d recoveries, want none", m.Recoveries)
			}
		})
	}
}

// TestEngine_CloseDuringInitialSync: Close does not wait for a long
// initial sync to finish; what was committed stays and the next start
// completes it.
func TestEngine_CloseDuringInitialSync(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 4000, 10)
	events := make(chan Event, 1024)
	cfg := testConfig(events)
	cfg.FolderConcurrency = 1
	slow := &slowRemote{Remote: f.client(), started: make(chan struct{}), release: make(chan struct{})}
	eng := startEngine(t, f, Mailbox{Client: slow}, cfg)
	<-slow.started // the initial sync is under way
	done := make(chan error, 1)
	go func() { done <- eng.Close(ctx) }()
	close(slow.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited for the whole initial sync")
	}
	st, err := f.store.Stats(ctx, localstore.Mailbox(testAddr))
	if err != nil || st.Items >= 4000 {
		t.Fatalf("Close let the initial sync finish: %+v, %v", st, err)
	}
	f.reopen()
	events2 := make(chan Event, 1024)
	startEngine(t, f, Mailbox{}, testConfig(events2))
	waitEvent(t, events2, EventRecovery, 20*time.Second)
	f.converge(ctx, 20*time.Second)
}

// slowRemote holds the second SyncFolderItems call until release is
// closed, signalling started when it is reached.
type slowRemote struct {
	Remote
	calls   atomic.Int64
	started chan struct{}
	release chan struct{}
}

func (r *slowRemote) SyncFolderItems(ctx context.Context, req ews.SyncFolderItemsRequest) (*ews.SyncFolderItemsResult, error) {
	if r.calls.Add(1) == 2 {
		close(r.started)
		<-r.release
	}
	return r.Remote.SyncFolderItems(ctx, req)
}

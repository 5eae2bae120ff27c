package syncengine_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/syncengine"
)

// Mirror a mailbox once (as "syncdemo sync -once" does) and read it
// offline.
func ExampleEngine_SyncOnce() {
	ctx := context.Background()
	srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{{Name: "alice", Password: "secret", Address: "alice@example.com"}}})
	defer srv.Close()
	ewstest.Seed(srv.Mailbox("alice@example.com"), ewstest.SeedOptions{Messages: 500, Folders: 3, Seed: 1})

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, err := localstore.Open(filepath.Join(dir, "mirror.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	client, _ := ews.New(srv.URL, nil)

	eng, _ := syncengine.New(store, syncengine.Config{Logger: slog.New(slog.DiscardHandler)})
	eng.AddMailbox(ctx, syncengine.Mailbox{Address: "alice@example.com", Client: client})
	if err := eng.SyncOnce(ctx); err != nil {
		log.Fatal(err)
	}
	eng.Close(ctx)
	st, _ := store.Stats(ctx, "alice@example.com")
	fmt.Println(st.Items, "items mirrored")
	// Output: 500 items mirrored
}

// Follow a mailbox live: Start subscribes, runs the initial sync, then
// applies debounced batches until Close.
func ExampleEngine_Start() {
	ctx := context.Background()
	srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{{Name: "alice", Password: "secret", Address: "alice@example.com"}}})
	defer srv.Close()
	box := srv.Mailbox("alice@example.com")
	ewstest.Seed(box, ewstest.SeedOptions{Messages: 100, Folders: 2, Seed: 1})

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, _ := localstore.Open(filepath.Join(dir, "mirror.db"), nil)
	defer store.Close()
	client, _ := ews.New(srv.URL, nil)

	live := make(chan struct{})
	eng, _ := syncengine.New(store, syncengine.Config{Logger: slog.New(slog.DiscardHandler), OnEvent: func(ev syncengine.Event) {
		if ev.Kind == syncengine.EventPhase && ev.Phase == syncengine.PhaseLive {
			close(live) // the initial sync is done
		}
	}})
	eng.AddMailbox(ctx, syncengine.Mailbox{Address: "alice@example.com", Client: client, Mode: syncengine.Streaming})
	eng.Start(ctx)
	<-live
	st := eng.Status()[0]
	fmt.Println(st.Address, st.Phase)
	eng.Close(ctx)
	// Output: alice@example.com live
}

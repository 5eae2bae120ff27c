package syncengine_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/syncengine"
)

// Mirror a mailbox known only by its address: the Locator finds its EWS
// URL by Autodiscover, and the engine asks it again when the mailbox moves
// or the answer expires.
func ExampleNewAutodiscoverLocator() {
	ctx := context.Background()
	srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{{Name: "alice", Password: "secret", Address: "alice@example.com"}}})
	defer srv.Close()
	ewstest.Seed(srv.Mailbox("alice@example.com"), ewstest.SeedOptions{Messages: 200, Folders: 2, Seed: 1})

	opts := &ews.Options{Auth: ews.Basic("alice", "secret"), Logger: slog.New(slog.DiscardHandler)}
	// Without URL, the usual candidates of the address's domain are asked.
	ad, err := ews.NewAutodiscoverer(&ews.AutodiscoverOptions{Client: opts, URL: srv.AutodiscoverURL()})
	if err != nil {
		log.Fatal(err)
	}
	loc, err := syncengine.NewAutodiscoverLocator(ad, &syncengine.AutodiscoverLocatorOptions{Client: opts})
	if err != nil {
		log.Fatal(err)
	}

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, _ := localstore.Open(filepath.Join(dir, "mirror.db"), nil)
	defer store.Close()
	eng, _ := syncengine.New(store, syncengine.Config{Logger: slog.New(slog.DiscardHandler)})
	eng.AddMailbox(ctx, syncengine.Mailbox{Address: "alice@example.com", Locator: loc})
	if err := eng.SyncOnce(ctx); err != nil {
		log.Fatal(err)
	}
	st := eng.Status()[0]
	eng.Close(ctx)
	stats, _ := store.Stats(ctx, "alice@example.com")
	fmt.Println(strings.HasSuffix(st.EwsURL, ewstest.Path), st.GroupingInformation, stats.Items)
	// Output: true MBX-DB01 200
}

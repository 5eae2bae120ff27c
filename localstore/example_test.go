package localstore_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mailsync/mailsync/localstore"
)

func tempPath() string {
	dir, err := os.MkdirTemp("", "localstore-example-")
	if err != nil {
		log.Fatal(err)
	}
	return filepath.Join(dir, "mirror.db")
}

// Apply one batch as the sync engine would after a SyncFolderItems page,
// then list the folder newest first.
func Example() {
	ctx := context.Background()
	path := tempPath()
	defer os.RemoveAll(filepath.Dir(path))
	store, err := localstore.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	mb := localstore.Mailbox("alice@example.com")
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	err = store.Apply(ctx, localstore.Batch{
		Mailbox: mb,
		Seq:     1,
		Folders: []localstore.FolderInfo{{ID: "AAMkInbox", DisplayName: "Inbox", FolderClass: "IPF.Note"}},
		Items: []localstore.Item{
			{ID: "AAMkItem1", FolderID: "AAMkInbox", Subject: "Lunch?", Received: t0},
			{ID: "AAMkItem2", FolderID: "AAMkInbox", Subject: "Report", Received: t0.Add(time.Hour), IsRead: true},
		},
		// The folder's SyncState and props commit with its items.
		Checkpoints: []localstore.Checkpoint{{ID: "AAMkInbox", FolderSync: localstore.FolderSync{
			SyncState: "H4sIAAAAAAAEAO29", LocalCommitTimeMax: t0.Add(time.Hour), DeletedCountTotal: 0, LastSynced: t0.Add(2 * time.Hour),
		}}},
		Subscription: &localstore.Subscription{Kind: localstore.Streaming, ID: "SUB1"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for it, err := range store.Items(ctx, mb, "AAMkInbox", localstore.Query{Limit: 50}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(it.Received.Format(time.Kitchen), it.Subject, it.IsRead)
	}
	f, _ := store.Folder(ctx, mb, "AAMkInbox")
	fmt.Println(f.DisplayName, f.LocalItems, f.LocalUnread, f.SyncState)
	// Output:
	// 11:00AM Report true
	// 10:00AM Lunch? false
	// Inbox 2 1 H4sIAAAAAAAEAO29
}

// Page through a folder with the cursor of the last item of each page.
func ExampleStore_Items() {
	ctx := context.Background()
	path := tempPath()
	defer os.RemoveAll(filepath.Dir(path))
	store, err := localstore.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	mb := localstore.Mailbox("alice@example.com")
	b := localstore.Batch{Mailbox: mb, Folders: []localstore.FolderInfo{{ID: "inbox"}}}
	for i := range 5 {
		b.Items = append(b.Items, localstore.Item{ID: localstore.ItemID(fmt.Sprint("item", i)), FolderID: "inbox",
			Received: time.Date(2024, 5, i+1, 0, 0, 0, 0, time.UTC)})
	}
	if err := store.Apply(ctx, b); err != nil {
		log.Fatal(err)
	}
	q := localstore.Query{Limit: 2}
	for page := 1; ; page++ {
		var last localstore.Item
		n := 0
		for it, err := range store.Items(ctx, mb, "inbox", q) {
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println(page, it.ID)
			last, n = it, n+1
		}
		if n < q.Limit {
			break
		}
		q.After = last.Cursor()
	}
	// Output:
	// 1 item4
	// 1 item3
	// 2 item2
	// 2 item1
	// 3 item0
}

// Watch what each commit changed; the event arrives after the commit.
func ExampleStore_Watch() {
	ctx := context.Background()
	path := tempPath()
	defer os.RemoveAll(filepath.Dir(path))
	store, err := localstore.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	w := store.Watch(ctx, 0)
	defer w.Close()
	err = store.Apply(ctx, localstore.Batch{Mailbox: "bob@example.com",
		Folders: []localstore.FolderInfo{{ID: "inbox"}},
		Items:   []localstore.Item{{ID: "m1", FolderID: "inbox"}}})
	if err != nil {
		log.Fatal(err)
	}
	ev, err := w.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if ev.Resync {
		fmt.Println("fell behind: re-read everything")
	}
	for _, c := range ev.Changes {
		fmt.Println(ev.Commit, c)
	}
	// Output:
	// 1 MailboxCreated bob@example.com
	// 1 FolderCreated bob@example.com inbox
	// 1 ItemCreated bob@example.com inbox m1
}

// Back up the whole store while it is in use.
func ExampleStore_Backup() {
	ctx := context.Background()
	path := tempPath()
	defer os.RemoveAll(filepath.Dir(path))
	store, err := localstore.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if err := store.Apply(ctx, localstore.Batch{Mailbox: "bob@example.com", Folders: []localstore.FolderInfo{{ID: "inbox"}}}); err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := store.Backup(ctx, &buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n == int64(buf.Len()), n > 0)
	// Output: true true
}

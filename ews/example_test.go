package ews_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mailsync/mailsync/ews"
)

// fakeExchange answers each operation with a canned response from
// testdata/ews, standing in for a real server in the examples.
func fakeExchange() *httptest.Server {
	files := map[string]string{
		"GetFolder":           "getfolder/recovery.response.xml",
		"FindFolder":          "findfolder/deep.response.xml",
		"SyncFolderHierarchy": "syncfolderhierarchy/initial.response.xml",
		"SyncFolderItems":     "syncfolderitems/changes.response.xml",
		"GetItem":             "getitem/batch.response.xml",
	}
	opRE := regexp.MustCompile(`<m:(\w+)[ >]`)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var op string
		if m := opRE.FindAllSubmatch(body, -1); len(m) > 0 {
			for _, s := range m {
				if _, ok := files[string(s[1])]; ok {
					op = string(s[1])
					break
				}
			}
		}
		b, err := os.ReadFile(filepath.Join("..", "testdata", "ews", files[op]))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Write(b)
	}))
}

func ExampleNew() {
	client, err := ews.New("https://mail.contoso.com/EWS/Exchange.asmx", &ews.Options{
		Auth:          ews.NTLM(`CONTOSO\mara`, "password"),
		Impersonation: &ews.Impersonation{SMTPAddress: "mara@contoso.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = client // no I/O has happened yet
	fmt.Println("ready")
	// Output: ready
}

func ExampleClient_SyncFolderItems() {
	srv := fakeExchange()
	defer srv.Close()
	client, _ := ews.New(srv.URL, nil)
	ctx := context.Background()

	state := "H4sIAAA==" // the SyncState stored with the last applied page
	for {
		page, err := client.SyncFolderItems(ctx, ews.SyncFolderItemsRequest{
			Folder:    ews.DistinguishedFolder("inbox"),
			SyncState: state,
			Shape:     ews.MessageMetadataShape(false),
		})
		if errors.Is(err, ews.ErrInvalidSyncStateData) {
			state = "" // start the folder over
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		for _, ch := range page.Changes {
			fmt.Println(strings.TrimSpace(fmt.Sprintf("%-14s %s", ch.Kind, ch.Item.Subject)))
		}
		state = page.SyncState // commit it together with the changes
		break                  // the canned server always answers the same page
	}
	// Output:
	// Update         RE: Company Soccer Team
	// Create         RE: Review Proposal for Contoso
	// Create         Budget Q3
	// ReadFlagChange
	// Delete
}

func ExampleClient_GetFolder() {
	srv := fakeExchange()
	defer srv.Close()
	client, _ := ews.New(srv.URL, nil)
	results, err := client.GetFolder(context.Background(), ews.GetFolderRequest{
		Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox"), {ID: "AAMk-gone"}, ews.DistinguishedFolder("calendar")},
		Shape:   ews.FolderSyncShape(),
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		if errors.Is(r.Err, ews.ErrFolderNotFound) {
			fmt.Println("folder gone")
			continue
		}
		f := r.Folder
		fmt.Println(f.DisplayName, f.TotalCount, f.DeletedCountTotal, f.LocalCommitTimeMax.Format("2006-01-02T15:04:05Z"))
	}
	// Output:
	// Inbox 120 37 2024-05-01T10:00:05Z
	// folder gone
	// Calendar 0 0 2023-11-20T08:15:00Z
}

func ExampleClient_GetItem() {
	srv := fakeExchange()
	defer srv.Close()
	client, _ := ews.New(srv.URL, nil)
	results, err := client.GetItem(context.Background(), ews.GetItemRequest{
		Items: []ews.ItemID{{ID: "AAMkAGYzZjZmRiZTQ1AEYAAAAAAB4ksAAA="}, {ID: "AAMk-gone"}, {ID: "AAMkAGYzZjZmRiZTQ1AEYAAAAAAB4ktAAA="}},
		Shape: ews.MessageMetadataShape(true),
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			fmt.Println("error:", errors.Is(r.Err, ews.ErrItemNotFound))
			continue
		}
		fmt.Println(r.Item.Subject, r.Item.From.EmailAddress, len(r.Item.MimeContent) > 0)
	}
	// Output:
	// Hello ann@contoso.com true
	// error: true
	// Status bot@contoso.com true
}

func ExampleClient_SyncFolderHierarchy() {
	srv := fakeExchange()
	defer srv.Close()
	client, _ := ews.New(srv.URL, nil)
	root := ews.DistinguishedFolder("msgfolderroot")
	res, err := client.SyncFolderHierarchy(context.Background(), ews.SyncFolderHierarchyRequest{
		SyncFolder: &root,
		Shape:      ews.FolderSyncShape(),
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, ch := range res.Changes {
		if ch.Kind == ews.ChangeDelete {
			fmt.Println(ch.Kind, ch.Folder.ID.ID)
			continue
		}
		fmt.Println(ch.Kind, ch.Folder.Kind, ch.Folder.DisplayName)
	}
	fmt.Println("complete:", res.IncludesLastFolderInRange)
	// Output:
	// Create Folder Inbox
	// Create CalendarFolder Calendar
	// Create SearchFolder Unread Mail
	// Update Folder Projects 2024
	// Delete AAMkADM5ZTVkODUwAAA=
	// complete: true
}

func ExampleClient_AllFolders() {
	srv := fakeExchange()
	defer srv.Close()
	client, _ := ews.New(srv.URL, nil)
	n := 0
	for f, err := range client.AllFolders(context.Background(), ews.FindFolderRequest{
		Parent: ews.DistinguishedFolder("msgfolderroot"), Traversal: ews.Deep,
	}, 2) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(f.DisplayName)
		if n++; n == 2 {
			break // the canned server repeats its page forever
		}
	}
	// Output:
	// Projects
	// Contacts
}

func ExampleBearer() {
	tokens := ews.TokenSourceFunc(func(ctx context.Context) (string, error) {
		return "eyJ0eXAi...", nil // e.g. from golang.org/x/oauth2 or MSAL
	})
	_, err := ews.New("https://outlook.office365.com/EWS/Exchange.asmx", &ews.Options{
		Auth:          ews.Bearer(tokens),
		Impersonation: &ews.Impersonation{SMTPAddress: "mara@contoso.com"}, // app-only tokens
	})
	fmt.Println(err)
	// Output: <nil>
}

func ExampleClient_SyncFolderItemsPages() {
	srv := fakeExchange()
	defer srv.Close()
	client, _ := ews.New(srv.URL, nil)
	n := 0
	for page, err := range client.SyncFolderItemsPages(context.Background(), ews.SyncFolderItemsRequest{
		Folder:    ews.DistinguishedFolder("inbox"),
		SyncState: "H4sIAAA==",
	}) {
		if err != nil {
			log.Fatal(err)
		}
		// Apply page.Changes and store page.SyncState in one transaction here.
		fmt.Println(len(page.Changes), "changes, more:", !page.IncludesLastItemInRange)
		if n++; n == 2 {
			break // the canned server repeats its page forever
		}
	}
	// Output:
	// 5 changes, more: true
	// 5 changes, more: true
}

// A Backoff computes the waits between attempts; a server hint wins.
func ExampleBackoff() {
	b := ews.Backoff{Base: time.Second, Max: 8 * time.Second, NoJitter: true}
	for n := range 5 {
		fmt.Print(b.Delay(n, 0), " ")
	}
	fmt.Println(b.Delay(0, 30*time.Second))
	// Output:
	// 1s 2s 4s 8s 8s 30s
}

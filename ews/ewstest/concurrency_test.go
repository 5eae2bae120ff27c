package ewstest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestServer_ConcurrentUse mixes Go-side mutations with SOAP syncs,
// reads and updates from several goroutines; run under -race it checks the
// model's locking, and at the end every client mirror matches the folder.
func TestServer_ConcurrentUse(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	for i := range 40 {
		mustDeliver(t, m, "inbox", testMessage(fmt.Sprint("seed ", i)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	// Writers through the Go handle.
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				it, err := m.Deliver("inbox", testMessage(fmt.Sprint("w", w, " ", i)))
				if err != nil {
					errs <- err
					return
				}
				switch i % 4 {
				case 1:
					_, err = m.SetRead(it.ID, true)
				case 2:
					_, err = m.MoveItem(it.ID, "archive")
				case 3:
					err = m.DeleteItem(it.ID, HardDelete)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// SOAP readers: FindItem and GetFolder.
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				// Not post: t.Fatal must stay on the test goroutine.
				req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(envStart+`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>
					<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/><t:DistinguishedFolderId Id="archive"/></m:ParentFolderIds></m:FindItem>`+envEnd))
				req.Header.Set("X-AnchorMailbox", "alice@example.com")
				resp, err := srv.Client().Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("FindItem HTTP %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	// A syncing client through the Go API.
	var state string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 60 {
			res, err := m.SyncItems("inbox", state, 7)
			next := res.State
			if err != nil {
				errs <- err
				return
			}
			state = next
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Everything settled: a fresh full sync and the folder agree.
	chs, _ := syncAll(t, m, "inbox", "", 512)
	items := mustItems(t, m)
	if len(chs) != len(items) {
		t.Fatalf("fresh sync has %d creates, folder %d items", len(chs), len(items))
	}
	f, _ := m.Folder("inbox")
	if f.TotalCount != len(items) || f.TotalCount != 40+3*20 {
		t.Fatalf("TotalCount %d, items %d, want %d", f.TotalCount, len(items), 40+3*20)
	}
}

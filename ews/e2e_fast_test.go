package ews_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// recordingWriter keeps a copy of a response body.
type recordingWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	return w.ResponseWriter.Write(p)
}

// recorded is one captured exchange.
type recorded struct {
	op   string
	body []byte
}

// TestE2E_FastDecodeMatchesTree mirrors a seeded mailbox (with unicode,
// entities, attachments, categories and recipients of every kind) in
// every shape, captures each SyncFolderItems and GetItem response the fake
// sends, and decodes it again through both decoders: the fast path must
// be taken for every one of them and give exactly the tree's values.
func TestE2E_FastDecodeMatchesTree(t *testing.T) {
	var mu sync.Mutex
	var got []recorded
	record := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req bytes.Buffer
			_, _ = req.ReadFrom(r.Body)
			r.Body.Close()
			r.Body = http.NoBody
			r2 := r.Clone(r.Context())
			r2.Body = readCloser{bytes.NewReader(req.Bytes())}
			rw := &recordingWriter{ResponseWriter: w}
			next.ServeHTTP(rw, r2)
			op := ""
			for _, o := range []string{"SyncFolderItems", "GetItem"} {
				if bytes.Contains(req.Bytes(), []byte("<m:"+o+">")) {
					op = o
				}
			}
			if op != "" {
				mu.Lock()
				got = append(got, recorded{op, bytes.Clone(rw.buf.Bytes())})
				mu.Unlock()
			}
		})
	}
	srv, _ := e2eServer(t, ewstest.AuthBasic, func(o *ewstest.Options) { o.Middleware = append(o.Middleware, record) })
	mb := srv.Mailbox(e2eAddress)
	if _, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 700, Folders: 4, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	inbox, err := mb.FolderID("inbox")
	if err != nil {
		t.Fatal(err)
	}
	odd := []ewstest.Message{
		{Subject: `Tom & Jerry <"quoted"> 'apos' — ünïcödé 日本語 😀`, From: ewstest.Address{Name: "Zoë O'Brien & Co", Email: "zoe@example.org"},
			To:         []ewstest.Address{{Name: "Ålice <A>", Email: e2eAddress}, {Name: "", Email: "bare@example.org"}},
			Cc:         []ewstest.Address{{Name: "Cc Ünit", Email: "cc@example.org"}},
			Bcc:        []ewstest.Address{{Name: "Hidden", Email: "bcc@example.org"}},
			Categories: []string{"Red & Blue", "日本", "<tag>"}, Importance: "High", IsRead: true,
			Body: "line1\r\nline2 & <b>bold</b>\r\n", InternetMessageID: "<odd-1@example.org>",
			Attachments: []ewstest.Attachment{{Name: "a.txt", ContentType: "text/plain", Content: []byte("attached")}}},
		{Subject: "   padded subject with\ttab   ", From: ewstest.Address{Name: "Tab\tName", Email: "tab@example.org"}, Importance: "Low"},
		{Subject: "control \x1a char and \u2028 separator", From: ewstest.Address{Name: "Ctl", Email: "ctl@example.org"}},
	}
	for _, m := range odd {
		m.DateTimeReceived = e2eStart.Add(-time.Hour)
		if _, err := mb.CreateItem(inbox, m); err != nil {
			t.Fatal(err)
		}
	}

	c := e2eClient(t, srv, e2eAuth(ewstest.AuthBasic, false), nil)
	ctx := context.Background()
	var folders []string
	hier := ews.SyncFolderHierarchyRequest{Shape: ews.FolderSyncShape()}
	for page, err := range c.SyncFolderHierarchyPages(ctx, hier) {
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.Changes {
			folders = append(folders, ch.Folder.ID.ID)
		}
	}
	shapes := []ews.ItemShape{
		{},
		ews.MessageMetadataShape(false),
		{Base: ews.DefaultShape},
		{Base: ews.AllProperties, Extended: []ews.ExtendedFieldURI{{PropertyTag: "0x1081", PropertyType: "Integer"}, {PropertyTag: "0x0E08", PropertyType: "Integer"}}},
	}
	var ids []ews.ItemID
	for _, f := range folders {
		for si, sh := range shapes {
			req := ews.SyncFolderItemsRequest{Folder: ews.FolderRef{ID: f}, Shape: sh, MaxChangesReturned: 200}
			for page, err := range c.SyncFolderItemsPages(ctx, req) {
				if err != nil {
					t.Fatal(err)
				}
				if si == 0 {
					for _, ch := range page.Changes {
						ids = append(ids, ch.Item.ID)
					}
				}
			}
		}
	}
	getShapes := []ews.ItemShape{ews.MessageMetadataShape(true), ews.MessageMetadataShape(false), {Base: ews.AllProperties, IncludeMimeContent: true}}
	// The odd messages are the newest in the inbox; take them and a spread
	// of the others.
	pick := slices.Clone(ids[:min(len(ids), 40)])
	for i := 40; i < len(ids); i += 37 {
		pick = append(pick, ids[i])
	}
	for _, sh := range getShapes {
		for start := 0; start < len(pick); start += 10 {
			rs, err := c.GetItem(ctx, ews.GetItemRequest{Items: pick[start:min(start+10, len(pick))], Shape: sh})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
		}
	}

	mu.Lock()
	defer mu.Unlock()
	counts := map[string]int{}
	for i, r := range got {
		d, fast, eligible := ews.DiffDecode(r.op, r.body, ews.DefaultMaxResponseTags)
		if d != "" {
			t.Fatalf("response %d (%s): %s\n%s", i, r.op, d, r.body)
		}
		if eligible && !fast {
			t.Errorf("response %d (%s) did not take the fast path", i, r.op)
		}
		counts[r.op]++
		for _, mark := range []string{"Tom &amp; Jerry", "MimeContent", "ExtendedProperty", "BccRecipients", "Categories"} {
			if strings.Contains(string(r.body), mark) {
				counts[mark]++
			}
		}
	}
	for _, k := range []string{"Tom &amp; Jerry", "MimeContent", "ExtendedProperty", "Categories"} {
		if counts[k] == 0 {
			t.Errorf("no captured response holds %s", k)
		}
	}
	if counts["SyncFolderItems"] < 20 || counts["GetItem"] < 10 {
		t.Fatalf("captured %v", counts)
	}
	t.Logf("compared %v", counts)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

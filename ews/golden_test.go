package ews

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden request and decoded files under testdata/ews")

const testdataDir = "../testdata/ews"

// goldenCase replays testdata/ews/<dir>/<name>.response.xml to one
// operation, compares the request the client sent with <name>.request.xml
// byte-for-byte, the decoded result with <name>.golden.json, and runs
// explicit checks.
type goldenCase struct {
	dir, name string
	status    int
	opts      *Options
	call      func(ctx context.Context, c *Client) (any, error)
	check     func(t *testing.T, res any, err error)
}

func readTestdata(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{testdataDir}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", path, got, want)
	}
}

// replayServer answers every POST with body and status and records the
// request bodies.
type replayServer struct {
	*httptest.Server
	requests [][]byte
	headers  []http.Header
}

func newReplayServer(t testing.TB, status int, body []byte) *replayServer {
	rs := &replayServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rs.requests = append(rs.requests, b)
		rs.headers = append(rs.headers, r.Header.Clone())
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(rs.Close)
	return rs
}

func noRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 1}
}

func runGolden(t *testing.T, gc goldenCase) {
	t.Run(gc.dir+"/"+gc.name, func(t *testing.T) {
		status := gc.status
		if status == 0 {
			status = http.StatusOK
		}
		rs := newReplayServer(t, status, readTestdata(t, gc.dir, gc.name+".response.xml"))
		var o Options
		if gc.opts != nil {
			o = *gc.opts
		}
		o.Retry = noRetry()
		c, err := New(rs.URL+"/EWS/Exchange.asmx", &o)
		if err != nil {
			t.Fatal(err)
		}
		res, err := gc.call(context.Background(), c)
		if len(rs.requests) != 1 {
			t.Fatalf("%d requests, want 1", len(rs.requests))
		}
		compareGolden(t, filepath.Join(testdataDir, gc.dir, gc.name+".request.xml"), rs.requests[0])
		out := struct {
			Result any    `json:"result,omitempty"`
			Error  string `json:"error,omitempty"`
		}{Result: res}
		if err != nil {
			out.Error = err.Error()
		}
		js, jerr := json.MarshalIndent(out, "", "  ")
		if jerr != nil {
			t.Fatal(jerr)
		}
		compareGolden(t, filepath.Join(testdataDir, gc.dir, gc.name+".golden.json"), append(js, '\n'))
		gc.check(t, res, err)
	})
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestGolden(t *testing.T) {
	for _, gc := range goldenCases() {
		runGolden(t, gc)
	}
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{
			dir: "getfolder", name: "recovery",
			opts: &Options{Impersonation: &Impersonation{SMTPAddress: "mara@contoso.com"}},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetFolder(ctx, GetFolderRequest{
					Folders: []FolderRef{DistinguishedFolder("inbox"), {ID: "AAMkADBhNDY1YjA3LTM0ZjQtNGE1Ni1hZTkyLWVhMjM3ZjJjYWI4YQAuAAAAAAB3r1AAAw=="},
						{Distinguished: "calendar", Mailbox: "mara@contoso.com"}},
					Shape: FolderSyncShape(),
				})
			},
			check: func(t *testing.T, res any, err error) {
				if err != nil {
					t.Fatal(err)
				}
				rs := res.([]FolderResult)
				if len(rs) != 3 {
					t.Fatalf("%d results", len(rs))
				}
				in := rs[0].Folder
				if rs[0].Err != nil || in.DisplayName != "Inbox" || in.TotalCount != 120 || in.UnreadCount != 4 ||
					in.ChildFolderCount != 2 || in.FolderClass != "IPF.Note" || in.DeletedCountTotal != 37 ||
					!in.LocalCommitTimeMax.Equal(mustTime("2024-05-01T10:00:05Z")) || in.ParentID.ID == "" {
					t.Errorf("inbox = %+v, err %v", in, rs[0].Err)
				}
				if !errors.Is(rs[1].Err, ErrFolderNotFound) || !errors.Is(rs[1].Err, Code("ErrorFolderNotFound")) {
					t.Errorf("second result err = %v, want ErrorFolderNotFound", rs[1].Err)
				}
				var re *ResponseError
				if !errors.As(rs[1].Err, &re) || re.Message != "The specified folder could not be found in the store." || re.Op != "GetFolder" {
					t.Errorf("second result = %#v", rs[1].Err)
				}
				cal := rs[2].Folder
				if rs[2].Err != nil || cal.Kind != "CalendarFolder" || cal.DeletedCountTotal != 0 || cal.UnreadCount != -1 {
					t.Errorf("calendar = %+v, err %v", cal, rs[2].Err)
				}
			},
		},
		{
			dir: "getfolder", name: "legacy",
			opts: &Options{ServerVersion: "Exchange2007_SP1"},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetFolder(ctx, GetFolderRequest{
					Folders: []FolderRef{DistinguishedFolder("inbox"), {ID: "not-an-id"}},
					Shape:   FolderShape{Base: DefaultShape},
				})
			},
			check: func(t *testing.T, res any, err error) {
				if err != nil {
					t.Fatal(err)
				}
				rs := res.([]FolderResult)
				if rs[0].Err != nil || rs[0].Folder.TotalCount != 2 || rs[0].Folder.DeletedCountTotal != -1 {
					t.Errorf("first = %+v", rs[0])
				}
				if !errors.Is(rs[1].Err, ErrInvalidIDMalformed) {
					t.Errorf("second err = %v", rs[1].Err)
				}
			},
		},
		{
			dir: "findfolder", name: "deep",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.FindFolder(ctx, FindFolderRequest{
					Parent: DistinguishedFolder("msgfolderroot"), Traversal: Deep, MaxEntries: 2,
					Shape: FolderShape{Base: IDOnly, Fields: []string{FieldFolderParentFolderID, FieldFolderDisplayName,
						FieldFolderClass, FieldFolderTotalCount, FieldFolderUnreadCount, FieldFolderChildFolderCount}},
				})
			},
			check: func(t *testing.T, res any, err error) {
				if err != nil {
					t.Fatal(err)
				}
				p := res.(*FindFolderPage)
				if len(p.Folders) != 2 || p.NextOffset != 2 || p.TotalItemsInView != 5 || p.IncludesLastItemInRange {
					t.Errorf("page = %+v", p)
				}
				if p.Folders[1].Kind != "ContactsFolder" || p.Folders[1].TotalCount != 210 || p.Folders[1].UnreadCount != -1 {
					t.Errorf("second folder = %+v", p.Folders[1])
				}
			},
		},
		{
			dir: "syncfolderhierarchy", name: "initial",
			call: func(ctx context.Context, c *Client) (any, error) {
				root := DistinguishedFolder("msgfolderroot")
				return c.SyncFolderHierarchy(ctx, SyncFolderHierarchyRequest{
					SyncFolder: &root,
					Shape:      FolderShape{Base: IDOnly, Fields: []string{FieldFolderParentFolderID, FieldFolderDisplayName, FieldFolderClass}},
				})
			},
			check: func(t *testing.T, res any, err error) {
				if err != nil {
					t.Fatal(err)
				}
				r := res.(*SyncFolderHierarchyResult)
				if !r.IncludesLastFolderInRange || !strings.HasPrefix(r.SyncState, "H4sI") || len(r.Changes) != 5 {
					t.Fatalf("result = %+v", r)
				}
				kinds := ""
				for _, ch := range r.Changes {
					kinds += ch.Kind.String()[:1] + ch.Folder.Kind + " "
				}
				if kinds != "CFolder CCalendarFolder CSearchFolder UFolder D " {
					t.Errorf("kinds = %q", kinds)
				}
				if r.Changes[3].Folder.DisplayName != "Projects 2024" || r.Changes[4].Folder.ID.ID != "AAMkADM5ZTVkODUwAAA=" {
					t.Errorf("changes = %+v", r.Changes)
				}
			},
		},
		{
			dir: "syncfolderitems", name: "changes",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SyncFolderItems(ctx, SyncFolderItemsRequest{
					Folder:    DistinguishedFolder("inbox"),
					SyncState: "H4sIAAA==",
					Shape:     MessageMetadataShape(false),
					Ignore:    []ItemID{{ID: "AAMkADkzNjJjODUzIgnored", ChangeKey: "CQAAAA=="}},
					Scope:     NormalItems,
				})
			},
			check: func(t *testing.T, res any, err error) {
				if err != nil {
					t.Fatal(err)
				}
				r := res.(*SyncFolderItemsResult)
				if r.IncludesLastItemInRange || r.SyncState != "H4sIAAAAAAAEAO29B2AcSZY==" || len(r.Changes) != 5 {
					t.Fatalf("result = %+v", r)
				}
				up := r.Changes[0]
				if up.Kind != ChangeUpdate || up.Item.Subject != "RE: Company Soccer Team" || up.Item.Size != 23110 ||
					!up.Item.IsRead || up.Item.From == nil || up.Item.From.EmailAddress != "Alfred.Welker@contoso.com" ||
					len(up.Item.Categories) != 2 || up.Item.Categories[1] != "Red category" ||
					up.Item.InternetMessageID != "<e5919a09c8fc4d64b6ffd3542e194fc3@BY2SR01MB609.contoso.com>" ||
					!up.Item.DateTimeSent.Equal(mustTime("2013-08-29T15:22:08Z")) || up.Item.ConversationID == "" {
					t.Errorf("update = %+v", up.Item)
				}
				cr := r.Changes[1].Item
				if r.Changes[1].Kind != ChangeCreate || cr.IsRead || !cr.HasAttachments || cr.Importance != "High" ||
					len(cr.CcRecipients) != 2 || cr.Sender.RoutingType != "EX" || cr.ParentFolderID.ID != "AgENAAAA" {
					t.Errorf("create = %+v", cr)
				}
				if r.Changes[2].Item.Kind != "MeetingRequest" || r.Changes[2].Item.ItemClass != "IPM.Schedule.Meeting.Request" {
					t.Errorf("meeting = %+v", r.Changes[2].Item)
				}
				if r.Changes[3].Kind != ChangeReadFlag || !r.Changes[3].IsRead || r.Changes[3].Item.ID.ID == "" {
					t.Errorf("read flag = %+v", r.Changes[3])
				}
				if r.Changes[4].Kind != ChangeDelete || r.Changes[4].Item.ID.ID != "AAMkADkzNjJjODUzLWZhMDMtNDVkMS05ZDdjLWVmMDlkYjQ1Zjc4MwBGAAAAAAq1AwAAAA==" {
					t.Errorf("delete = %+v", r.Changes[4])
				}
			},
		},
		{
			dir: "syncfolderitems", name: "invalidstate",
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SyncFolderItems(ctx, SyncFolderItemsRequest{
					Folder: FolderRef{ID: "AAMkADkzNjJjODUzLWZhMDMtNDVkMS05ZDdjLWVmMDlkYjQ1Zjc4MwAuAAAAAAA="}, SyncState: "corrupt", MaxChangesReturned: 100,
				})
			},
			check: func(t *testing.T, res any, err error) {
				var re *ResponseError
				if !errors.Is(err, ErrInvalidSyncStateData) || !errors.As(err, &re) || !re.NeedsResync() {
					t.Fatalf("err = %v", err)
				}
				if res.(*SyncFolderItemsResult) != nil {
					t.Errorf("result with error: %+v", res)
				}
			},
		},
		{
			dir: "syncfolderitems", name: "meetingrequest",
			opts: &Options{ServerVersion: "Exchange2007_SP1"},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SyncFolderItems(ctx, SyncFolderItemsRequest{
					Folder: DistinguishedFolder("sentitems"), SyncState: "AEbJ94eMOAAA=", Shape: ItemShape{Base: DefaultShape},
					Ignore: []ItemID{{ID: "AQApAHRAA==", ChangeKey: "CQAAABY"}}, MaxChangesReturned: 100,
				})
			},
			check: func(t *testing.T, res any, err error) {
				if err != nil {
					t.Fatal(err)
				}
				r := res.(*SyncFolderItemsResult)
				if len(r.Changes) != 1 || r.Changes[0].Item.Subject != "Budget Q3" || !r.IncludesLastItemInRange {
					t.Errorf("result = %+v", r)
				}
			},
		},
		{
			dir: "getitem", name: "batch",
			opts: &Options{AnchorMailbox: "mara@contoso.com"},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetItem(ctx, GetItemRequest{
					Items: []ItemID{{ID: "AAMkAGYzZjZmRiZTQ1AEYAAAAAAB4ksAAA="}, {ID: "AAMkAGYzZjZmRiZTQ1AEYAAAAAAB4kgone="},
						{ID: "AAMkAGYzZjZmRiZTQ1AEYAAAAAAB4ktAAA=", ChangeKey: "CQAAABYAAAD3NsWUI7AUT6elp9Hm6tRhAAAB3wi6"}},
					Shape: MessageMetadataShape(true),
				})
			},
			check: func(t *testing.T, res any, err error) {
				if err != nil {
					t.Fatal(err)
				}
				rs := res.([]ItemResult)
				if len(rs) != 3 {
					t.Fatalf("%d results", len(rs))
				}
				a := rs[0].Item
				if rs[0].Err != nil || !bytes.Contains(a.MimeContent, []byte("Subject: Hello\r\n")) || a.MimeCharset != "UTF-8" ||
					a.Subject != "Hello" || a.Size != 5120 || len(a.ToRecipients) != 1 || a.InternetMessageID != "<a1b2c3@contoso.com>" {
					t.Errorf("first = %+v, err %v", a, rs[0].Err)
				}
				if !errors.Is(rs[1].Err, ErrItemNotFound) {
					t.Errorf("second err = %v", rs[1].Err)
				}
				if rs[2].Err != nil || string(rs[2].Item.MimeContent) != "Subject: Status\r\n\r\nAll green.\r\n" || !rs[2].Item.IsRead {
					t.Errorf("third = %+v, err %v", rs[2].Item, rs[2].Err)
				}
			},
		},
		{
			dir: "fault", name: "serverbusy", status: 500,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetItem(ctx, GetItemRequest{Items: []ItemID{{ID: "AAMkAGYzZjZmRiZTQ1AEYAAAAAAB4ksAAA="}}})
			},
			check: func(t *testing.T, res any, err error) {
				var fe *FaultError
				if !errors.As(err, &fe) || !errors.Is(err, ErrServerBusy) || fe.BackOff != 30*time.Second || !fe.IsTransient() || fe.StatusCode != 500 {
					t.Fatalf("err = %#v", err)
				}
			},
		},
		{
			dir: "fault", name: "schemavalidation", status: 500,
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.SyncFolderItems(ctx, SyncFolderItemsRequest{Folder: DistinguishedFolder("inbox"), Scope: NormalAndAssociatedItems})
			},
			check: func(t *testing.T, res any, err error) {
				var fe *FaultError
				if !errors.As(err, &fe) || fe.Code != ErrSchemaValidation || len(fe.MessageXML) != 3 || fe.MessageXML[1].Name != "LinePosition" || fe.MessageXML[1].Value != "654" {
					t.Fatalf("err = %#v", err)
				}
			},
		},
		{
			dir: "fault", name: "invalidserverversion", status: 500,
			opts: &Options{ServerVersion: "V2099_01_01"},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.GetFolder(ctx, GetFolderRequest{Folders: []FolderRef{DistinguishedFolder("root")}})
			},
			check: func(t *testing.T, res any, err error) {
				if !errors.Is(err, ErrInvalidServerVersion) || res.([]FolderResult) != nil {
					t.Fatalf("err = %v, res = %v", err, res)
				}
			},
		},
	}
}

package ewstest

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzServeSOAP posts arbitrary bodies to the handler: every answer is a
// SOAP response (200) or a fault (500), never a panic.
func FuzzServeSOAP(f *testing.F) {
	srv := NewUnstartedServer(Options{Users: []User{{Name: "alice", Address: "alice@example.com"}}})
	m := srv.Mailbox("alice@example.com")
	it, _ := m.Deliver("inbox", testMessage("fuzz"))
	h := srv.Handler()
	seeds := []string{
		`<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>`,
		`<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="` + it.ID + `"/></m:ItemIds></m:GetItem>`,
		`<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="inbox"/></m:SyncFolderId><m:SyncState>AAAA</m:SyncState><m:MaxChangesReturned>5</m:MaxChangesReturned></m:SyncFolderItems>`,
		`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:Restriction><t:Not><t:IsLessThan><t:FieldURI FieldURI="item:DateTimeReceived"/><t:FieldURIOrConstant><t:Constant Value="x"/></t:FieldURIOrConstant></t:IsLessThan></t:Not></m:Restriction><m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`,
		`<m:UpdateItem><m:ItemChanges><t:ItemChange><t:ItemId Id="` + it.ID + `"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:Message/></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`,
		`<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:Message><t:MimeContent>!!</t:MimeContent></t:Message></m:Items></m:CreateItem>`,
		`<m:CreateFolder><m:ParentFolderId><t:FolderId Id="AAMk"/></m:ParentFolderId><m:Folders><t:Folder/></m:Folders></m:CreateFolder>`,
		`<m:MoveFolder><m:ToFolderId/><m:FolderIds/></m:MoveFolder>`,
	}
	for _, s := range seeds {
		f.Add(envStart + s + envEnd)
	}
	f.Add("")
	f.Add("<x/>")
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 500 {
			t.Fatalf("status %d", rec.Code)
		}
		if !strings.Contains(rec.Body.String(), "Envelope") {
			t.Fatalf("not a SOAP answer: %q", rec.Body.String())
		}
	})
}

func TestSyncItems_Ignore(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	a := mustDeliver(t, m, "inbox", testMessage("a"))
	b := mustDeliver(t, m, "inbox", testMessage("b"))
	doc := call(t, srv, `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
		<m:SyncFolderId><t:DistinguishedFolderId Id="inbox"/></m:SyncFolderId>
		<m:Ignore><t:ItemId Id="`+b.ID+`"/></m:Ignore><m:MaxChangesReturned>1</m:MaxChangesReturned></m:SyncFolderItems>`)
	ids := find(doc, "ItemId")
	if len(ids) != 1 || ids[0].SelectAttrValue("Id", "") != a.ID || first(t, doc, "IncludesLastItemInRange").Text() != "true" {
		t.Fatalf("Ignore not honoured: %d ids", len(ids))
	}
}

func TestMailbox_FolderDeleteAndErrors(t *testing.T) {
	srv, clk := newTestServer(t, func(o *Options) { o.TombstoneRetention = time.Hour })
	m := srv.Mailbox("alice@example.com")
	p, err := m.CreateFolder("inbox", "P", "")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := m.CreateFolder(p.ID, "C", "")
	it := mustDeliver(t, m, c.ID, testMessage("in C"))
	_, hstate := syncHierarchy(t, m, "")
	// MoveToDeletedItems moves the folder under Deleted Items.
	if err := m.DeleteFolder(p.ID, MoveToDeletedItems); err != nil {
		t.Fatal(err)
	}
	if fi, _ := m.Folder(p.ID); fi.ParentID != mustFolderID(t, m, "deleteditems") {
		t.Fatal("folder not moved to Deleted Items")
	}
	// Deleting it there removes the subtree and its items.
	if err := m.DeleteFolder(p.ID, MoveToDeletedItems); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Folder(c.ID); !errors.Is(err, ErrFolderNotFound) {
		t.Errorf("child after delete: %v", err)
	}
	if _, err := m.Item(it.ID); !errors.Is(err, ErrItemNotFound) {
		t.Errorf("item after folder delete: %v", err)
	}
	chs, _ := syncHierarchy(t, m, hstate)
	// P was moved then deleted: a Delete for P and for C.
	dels := 0
	for _, ch := range chs {
		if ch.kind == changeDelete {
			dels++
		}
	}
	if dels != 2 {
		t.Errorf("hierarchy deletes = %d, want 2 (P and C)", dels)
	}
	// Typed errors for bad input.
	if _, err := m.CreateFolder("inbox", " ", ""); !errors.Is(err, ErrInvalidFolderName) {
		t.Errorf("blank name: %v", err)
	}
	if err := m.DeleteFolder("inbox", HardDelete); !errors.Is(err, ErrDistinguishedFolder) {
		t.Errorf("delete inbox: %v", err)
	}
	if _, err := m.MoveFolder("inbox", "archive"); ResponseCode(err) != "ErrorMoveDistinguishedFolder" {
		t.Errorf("move inbox: %v", err)
	}
	if err := m.DeleteItem("nope", DeleteMode(9)); !errors.Is(err, ErrItemNotFound) {
		t.Errorf("delete unknown item: %v", err)
	}
	x := mustDeliver(t, m, "inbox", testMessage("x"))
	if err := m.DeleteItem(x.ID, DeleteMode(9)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad delete mode: %v", err)
	}
	// A hierarchy state older than the retention is invalid.
	clk.Advance(2 * time.Hour)
	m.mu.Lock()
	_, err = m.folderState("", hstate)
	m.mu.Unlock()
	if !errors.Is(err, ErrInvalidSyncState) {
		t.Errorf("old hierarchy state: %v", err)
	}
}

func syncHierarchy(t *testing.T, m *Mailbox, state string) ([]folderChange, string) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	st, err := m.folderState("", state)
	if err != nil {
		t.Fatal(err)
	}
	chs := m.syncFoldersLocked(m.root, st)
	return chs, st.encode()
}

// TestSyncFolders_MovesAcrossTheSyncRoot syncs the Inbox subtree while
// folders move in and out of it.
func TestSyncFolders_MovesAcrossTheSyncRoot(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	mk := func(parent, name string) FolderInfo {
		t.Helper()
		f, err := m.CreateFolder(parent, name, "")
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a := mk("inbox", "A")
	a1 := mk(a.ID, "A1")
	b := mk("drafts", "B")
	b1 := mk(b.ID, "B1")
	c := mk("inbox", "C")
	sync := func(state string) (map[string]string, string) {
		t.Helper()
		m.mu.Lock()
		defer m.mu.Unlock()
		root := m.dist["inbox"]
		st, err := m.folderState(root.id, state)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, ch := range m.syncFoldersLocked(root, st) {
			got[ch.id] = ch.kind.String()
		}
		return got, st.encode()
	}
	first, state := sync("")
	if len(first) != 3 || first[a.ID] != "Create" || first[a1.ID] != "Create" || first[c.ID] != "Create" {
		t.Fatalf("first sync = %v", first)
	}
	if _, err := m.MoveFolder(a.ID, "drafts"); err != nil { // out, with its child
		t.Fatal(err)
	}
	if _, err := m.MoveFolder(b.ID, "inbox"); err != nil { // in, with its child
		t.Fatal(err)
	}
	if _, err := m.RenameFolder(c.ID, "C2"); err != nil {
		t.Fatal(err)
	}
	d := mk("inbox", "D")
	if _, err := m.MoveFolder(d.ID, "drafts"); err != nil { // created and moved out: nothing
		t.Fatal(err)
	}
	got, state := sync(state)
	want := map[string]string{a.ID: "Delete", a1.ID: "Delete", b.ID: "Create", b1.ID: "Create", c.ID: "Update"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after moves = %v, want %v", got, want)
	}
	if again, _ := sync(state); len(again) != 0 {
		t.Fatalf("second sync = %v", again)
	}
}

// TestResponseCode pins the ResponseCode each sentinel reports, wrapped or
// not, and that an explicit code raised over a sentinel wins.
func TestResponseCode(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, "NoError"},
		{ErrItemNotFound, "ErrorItemNotFound"},
		{ErrFolderNotFound, "ErrorFolderNotFound"},
		{ErrFolderExists, "ErrorFolderExists"},
		{ErrInvalidFolderName, "ErrorFolderSavePropertyError"},
		{ErrDistinguishedFolder, "ErrorDeleteDistinguishedFolder"},
		{ErrMoveIntoSubtree, "ErrorMoveCopyFailed"},
		{ErrConflict, "ErrorIrresolvableConflict"},
		{ErrInvalidSyncState, "ErrorInvalidSyncStateData"},
		{ErrUnknownMailbox, "ErrorNonExistentMailbox"},
		{ErrInvalidID, "ErrorInvalidIdMalformed"},
		{ErrInvalidArgument, "ErrorInvalidRequest"},
		{fmt.Errorf("move %q: %w", "x", ErrFolderNotFound), "ErrorFolderNotFound"},
		{&responseError{code: "ErrorMoveDistinguishedFolder", wrap: ErrDistinguishedFolder}, "ErrorMoveDistinguishedFolder"},
		{errors.New("disk on fire"), "ErrorInternalServerError"},
	}
	for _, c := range cases {
		if got := ResponseCode(c.err); got != c.want {
			t.Errorf("ResponseCode(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	if ErrItemNotFound.Error() != "ewstest: item not found" {
		t.Errorf("ErrItemNotFound.Error() = %q", ErrItemNotFound)
	}
}

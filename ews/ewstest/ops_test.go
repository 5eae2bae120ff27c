package ewstest

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

func TestOps_GetItemShapesAndMIME(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	msg := testMessage("Grüße & <tags>")
	msg.Cc = []Address{{Name: "Carl", Email: "carl@example.net"}}
	msg.Categories = []string{"Red", "Blue"}
	msg.Attachments = []Attachment{{Name: "a.txt", ContentType: "text/plain", Content: []byte("attached")}}
	it := mustDeliver(t, m, "inbox", msg)
	doc := call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent>
		<t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="item:Size"/>
		<t:FieldURI FieldURI="message:IsRead"/><t:FieldURI FieldURI="item:Categories"/><t:FieldURI FieldURI="message:From"/>
		<t:FieldURI FieldURI="item:HasAttachments"/><t:FieldURI FieldURI="message:InternetMessageId"/>
		<t:FieldURI FieldURI="item:ConversationId"/></t:AdditionalProperties></m:ItemShape>
		<m:ItemIds><t:ItemId Id="`+it.ID+`"/><t:ItemId Id="`+strings.Replace(it.ID, "A", "B", 1)+`"/></m:ItemIds></m:GetItem>`)
	if got := codes(doc); len(got) != 2 || got[0] != "NoError" || got[1] == "NoError" {
		t.Fatalf("codes = %v", got)
	}
	if first(t, doc, "Subject").Text() != msg.Subject || first(t, doc, "IsRead").Text() != "false" ||
		first(t, doc, "HasAttachments").Text() != "true" || len(find(doc, "String")) != 2 {
		t.Error("GetItem properties wrong")
	}
	if len(find(doc, "DisplayTo")) != 0 {
		t.Error("IdOnly returned a property that was not asked for")
	}
	raw, err := base64.StdEncoding.DecodeString(first(t, doc, "MimeContent").Text())
	if err != nil {
		t.Fatal(err)
	}
	pm, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("MIME does not parse as RFC 5322: %v", err)
	}
	if pm.Header.Get("Message-Id") != first(t, doc, "InternetMessageId").Text() {
		t.Error("MIME Message-Id differs from InternetMessageId")
	}
	if first(t, doc, "Size").Text() != itoa(int64(len(raw))) {
		t.Errorf("Size %s != MIME length %d", first(t, doc, "Size").Text(), len(raw))
	}
	// Default shape of GetItem has the body and recipients.
	doc = call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>
		<m:ItemIds><t:ItemId Id="`+it.ID+`"/></m:ItemIds></m:GetItem>`)
	if !strings.Contains(first(t, doc, "Message/Body").Text(), "Grüße & <tags>") || len(find(doc, "CcRecipients")) != 1 {
		t.Error("Default GetItem lacks body or recipients")
	}
}

func TestOps_FindItemAndFindFolder(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	base := testStart.Add(-time.Hour)
	for i := range 25 {
		msg := testMessage("item " + itoa(int64(i)))
		msg.DateTimeReceived = base.Add(time.Duration(i) * time.Minute)
		msg.IsRead = i%2 == 0
		mustDeliver(t, m, "inbox", msg)
	}
	doc := call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>
		<t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>
		<m:IndexedPageItemView MaxEntriesReturned="10" Offset="20" BasePoint="Beginning"/>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`)
	rf := first(t, doc, "RootFolder")
	if rf.SelectAttrValue("TotalItemsInView", "") != "25" || rf.SelectAttrValue("IndexedPagingOffset", "") != "25" ||
		rf.SelectAttrValue("IncludesLastItemInRange", "") != "true" || len(find(doc, "Message")) != 5 {
		t.Fatalf("paging attributes wrong: %v, %d items", rf.Attr, len(find(doc, "Message")))
	}
	if first(t, doc, "Subject").Text() != "item 4" {
		t.Errorf("default order is not newest first: %s", first(t, doc, "Subject").Text())
	}
	doc = call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
		<m:Restriction><t:And><t:IsEqualTo><t:FieldURI FieldURI="message:IsRead"/><t:FieldURIOrConstant><t:Constant Value="false"/></t:FieldURIOrConstant></t:IsEqualTo>
		<t:Contains ContainmentMode="Substring" ContainmentComparison="IgnoreCase"><t:FieldURI FieldURI="item:Subject"/><t:Constant Value="ITEM 1"/></t:Contains></t:And></m:Restriction>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`)
	if n := len(find(doc, "Message")); n != 6 { // 1, 11, 13, 15, 17, 19
		t.Errorf("restriction matched %d items, want 6", n)
	}
	status, doc := post(t, srv, envStart+`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
		<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="item:NoSuchProperty"/><t:FieldURIOrConstant><t:Constant Value="x"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 500 || faultCode(t, doc) != "ErrorUnsupportedPathForQuery" {
		t.Errorf("unsupported restriction: %d %s", status, faultCode(t, doc))
	}

	sub, err := m.CreateFolder("inbox", "Sub", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateFolder(sub.ID, "Deeper", ""); err != nil {
		t.Fatal(err)
	}
	shallow := call(t, srv, `<m:FindFolder Traversal="Shallow"><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindFolder>`)
	deep := call(t, srv, `<m:FindFolder Traversal="Deep"><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
		<m:IndexedPageFolderView MaxEntriesReturned="1" Offset="1" BasePoint="Beginning"/>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindFolder>`)
	if len(find(shallow, "Folder")) != 1 || first(t, shallow, "DisplayName").Text() != "Sub" {
		t.Error("Shallow FindFolder wrong")
	}
	if rf := first(t, deep, "RootFolder"); rf.SelectAttrValue("TotalItemsInView", "") != "2" || len(find(deep, "Folder")) != 1 {
		t.Error("Deep FindFolder paging wrong")
	}
}

func TestOps_CreateUpdateDeleteMoveCopy(t *testing.T) {
	srv, clk := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	bob := srv.Mailbox("bob@example.com")
	doc := call(t, srv, `<m:CreateItem MessageDisposition="SaveOnly"><m:SavedItemFolderId><t:DistinguishedFolderId Id="inbox"/></m:SavedItemFolderId>
		<m:Items><t:Message><t:Subject>Saved</t:Subject><t:Body BodyType="Text">b</t:Body>
		<t:Categories><t:String>Green</t:String></t:Categories><t:IsRead>false</t:IsRead></t:Message></m:Items></m:CreateItem>`)
	idEl := first(t, doc, "ItemId")
	id, ck := idEl.SelectAttrValue("Id", ""), idEl.SelectAttrValue("ChangeKey", "")
	if info, err := m.Item(id); err != nil || info.Message.Subject != "Saved" || info.Message.Categories[0] != "Green" || info.Message.IsRead {
		t.Fatalf("CreateItem stored %+v, %v", info, err)
	}
	// Without IsRead a created item is unread (MAPI's initial flags).
	doc = call(t, srv, `<m:CreateItem MessageDisposition="SaveOnly"><m:SavedItemFolderId><t:DistinguishedFolderId Id="drafts"/></m:SavedItemFolderId>
		<m:Items><t:Message><t:Subject>No flag</t:Subject></t:Message></m:Items></m:CreateItem>`)
	if info, _ := m.Item(first(t, doc, "ItemId").SelectAttrValue("Id", "")); info.Message.IsRead {
		t.Error("an item created without IsRead is read")
	}
	call(t, srv, `<m:CreateItem MessageDisposition="SendAndSaveCopy"><m:Items><t:Message><t:Subject>To Bob</t:Subject>
		<t:ToRecipients><t:Mailbox><t:EmailAddress>bob@example.com</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message></m:Items></m:CreateItem>`)
	if f, _ := bob.Folder("inbox"); f.TotalCount != 1 || f.UnreadCount != 1 {
		t.Errorf("bob's inbox after send: %+v", f)
	}
	if f, _ := m.Folder("sentitems"); f.TotalCount != 1 {
		t.Errorf("sent items after SendAndSaveCopy: %d", f.TotalCount)
	}

	clk.Advance(5 * time.Second)
	before, _ := m.Folder("inbox")
	doc = call(t, srv, `<m:UpdateItem ConflictResolution="AutoResolve" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange>
		<t:ItemId Id="`+id+`" ChangeKey="`+ck+`"/><t:Updates>
		<t:SetItemField><t:FieldURI FieldURI="message:IsRead"/><t:Message><t:IsRead>true</t:IsRead></t:Message></t:SetItemField>
		</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	newCK := first(t, doc, "ItemId").SelectAttrValue("ChangeKey", "")
	if newCK == ck || codes(doc)[0] != "NoError" {
		t.Fatalf("read-flag update: code %v, ChangeKey changed %v", codes(doc), newCK != ck)
	}
	after, _ := m.Folder("inbox")
	if !after.LocalCommitTimeMax.Equal(before.LocalCommitTimeMax) || after.UnreadCount != before.UnreadCount-1 {
		t.Errorf("read-flag-only change moved PR_LOCAL_COMMIT_TIME_MAX (%v -> %v) or kept unread", before.LocalCommitTimeMax, after.LocalCommitTimeMax)
	}
	// A stale ChangeKey conflicts under AutoResolve and NeverOverwrite,
	// and is ignored under AlwaysOverwrite.
	for _, mode := range []string{"AutoResolve", "NeverOverwrite", "AlwaysOverwrite"} {
		doc = call(t, srv, `<m:UpdateItem ConflictResolution="`+mode+`" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange>
			<t:ItemId Id="`+id+`" ChangeKey="`+ck+`"/><t:Updates>
			<t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:Message><t:Subject>`+mode+`</t:Subject></t:Message></t:SetItemField>
			<t:DeleteItemField><t:FieldURI FieldURI="item:Categories"/></t:DeleteItemField>
			</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
		want := "ErrorIrresolvableConflict"
		if mode == "AlwaysOverwrite" {
			want = "NoError"
		}
		if got := codes(doc)[0]; got != want {
			t.Errorf("%s with stale ChangeKey: %s, want %s", mode, got, want)
		}
	}
	clk.Advance(3 * time.Second)
	if info, _ := m.Item(id); info.Message.Subject != "AlwaysOverwrite" || len(info.Message.Categories) != 0 {
		t.Errorf("after updates: %q %v", info.Message.Subject, info.Message.Categories)
	}
	if f, _ := m.Folder("inbox"); !f.LocalCommitTimeMax.After(after.LocalCommitTimeMax) {
		t.Error("a subject change did not move PR_LOCAL_COMMIT_TIME_MAX")
	}

	// Move and copy return new ids; the old id is gone after a move.
	doc = call(t, srv, `<m:CopyItem><m:ToFolderId><t:DistinguishedFolderId Id="archive"/></m:ToFolderId>
		<m:ItemIds><t:ItemId Id="`+id+`"/></m:ItemIds></m:CopyItem>`)
	copyID := first(t, doc, "ItemId").SelectAttrValue("Id", "")
	doc = call(t, srv, `<m:MoveItem><m:ToFolderId><t:DistinguishedFolderId Id="junkemail"/></m:ToFolderId>
		<m:ItemIds><t:ItemId Id="`+id+`"/><t:ItemId Id="`+id+`"/></m:ItemIds></m:MoveItem>`)
	if got := codes(doc); got[0] != "NoError" || got[1] != "ErrorItemNotFound" {
		t.Errorf("MoveItem codes = %v", got)
	}
	movedID := first(t, doc, "ItemId").SelectAttrValue("Id", "")
	if f, _ := m.Folder("inbox"); f.TotalCount != 0 || f.DeletedCountTotal != 1 {
		t.Errorf("inbox after move-out: total %d deleted %d", f.TotalCount, f.DeletedCountTotal)
	}
	// Delete in each mode.
	for _, c := range []struct{ id, mode, folder string }{
		{movedID, "MoveToDeletedItems", "deleteditems"},
		{copyID, "SoftDelete", "recoverableitemsdeletions"},
	} {
		doc = call(t, srv, `<m:DeleteItem DeleteType="`+c.mode+`"><m:ItemIds><t:ItemId Id="`+c.id+`"/></m:ItemIds></m:DeleteItem>`)
		if codes(doc)[0] != "NoError" {
			t.Fatalf("DeleteItem %s: %v", c.mode, codes(doc))
		}
		if f, _ := m.Folder(c.folder); f.TotalCount != 1 {
			t.Errorf("%s did not land in %s", c.mode, c.folder)
		}
	}
	items, _ := m.Items("deleteditems")
	call(t, srv, `<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="`+items[0].ID+`"/></m:ItemIds></m:DeleteItem>`)
	if f, _ := m.Folder("deleteditems"); f.TotalCount != 0 || f.DeletedCountTotal != 1 {
		t.Errorf("after HardDelete: %+v", f)
	}
}

func TestOps_Folders(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	doc := call(t, srv, `<m:CreateFolder><m:ParentFolderId><t:DistinguishedFolderId Id="msgfolderroot"/></m:ParentFolderId>
		<m:Folders><t:Folder><t:DisplayName>Projects</t:DisplayName></t:Folder><t:Folder><t:DisplayName>projects</t:DisplayName></t:Folder>
		<t:CalendarFolder><t:DisplayName>Team</t:DisplayName></t:CalendarFolder></m:Folders></m:CreateFolder>`)
	if got := codes(doc); len(got) != 3 || got[0] != "NoError" || got[1] != "ErrorFolderExists" || got[2] != "NoError" {
		t.Fatalf("CreateFolder codes = %v", got)
	}
	if len(find(doc, "CalendarFolder")) != 1 {
		t.Error("CalendarFolder not echoed as CalendarFolder")
	}
	pid := first(t, doc, "FolderId").SelectAttrValue("Id", "")
	sub, _ := m.CreateFolder(pid, "Sub", "")
	doc = call(t, srv, `<m:UpdateFolder><m:FolderChanges><t:FolderChange><t:FolderId Id="`+pid+`"/><t:Updates>
		<t:SetFolderField><t:FieldURI FieldURI="folder:DisplayName"/><t:Folder><t:DisplayName>Renamed</t:DisplayName></t:Folder></t:SetFolderField>
		</t:Updates></t:FolderChange></m:FolderChanges></m:UpdateFolder>`)
	if f, _ := m.Folder(pid); codes(doc)[0] != "NoError" || f.DisplayName != "Renamed" {
		t.Errorf("rename: %v %q", codes(doc), f.DisplayName)
	}
	doc = call(t, srv, `<m:MoveFolder><m:ToFolderId><t:FolderId Id="`+sub.ID+`"/></m:ToFolderId>
		<m:FolderIds><t:FolderId Id="`+pid+`"/><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:MoveFolder>`)
	if got := codes(doc); got[0] != "ErrorMoveCopyFailed" || got[1] != "ErrorMoveDistinguishedFolder" {
		t.Errorf("MoveFolder codes = %v", got)
	}
	doc = call(t, srv, `<m:MoveFolder><m:ToFolderId><t:DistinguishedFolderId Id="inbox"/></m:ToFolderId>
		<m:FolderIds><t:FolderId Id="`+sub.ID+`"/></m:FolderIds></m:MoveFolder>`)
	if f, _ := m.Folder(sub.ID); codes(doc)[0] != "NoError" || f.ParentID != mustFolderID(t, m, "inbox") {
		t.Error("MoveFolder did not move")
	}
	doc = call(t, srv, `<m:DeleteFolder DeleteType="HardDelete"><m:FolderIds><t:FolderId Id="`+pid+`"/>
		<t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:DeleteFolder>`)
	if got := codes(doc); got[0] != "NoError" || got[1] != "ErrorDeleteDistinguishedFolder" {
		t.Errorf("DeleteFolder codes = %v", got)
	}
}

func mustFolderID(t *testing.T, m *Mailbox, name string) string {
	t.Helper()
	id, err := m.FolderID(name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestOps_SyncOverSOAP(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	for i := range 5 {
		mustDeliver(t, m, "inbox", testMessage("s"+itoa(int64(i))))
	}
	req := func(state string) string {
		return `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
			<m:SyncFolderId><t:DistinguishedFolderId Id="inbox"/></m:SyncFolderId><m:SyncState>` + state + `</m:SyncState>
			<m:MaxChangesReturned>3</m:MaxChangesReturned><m:SyncScope>NormalItems</m:SyncScope></m:SyncFolderItems>`
	}
	doc := call(t, srv, req(""))
	if first(t, doc, "IncludesLastItemInRange").Text() != "false" || len(find(doc, "Create")) != 3 {
		t.Fatal("first page wrong")
	}
	doc = call(t, srv, req(first(t, doc, "SyncState").Text()))
	if first(t, doc, "IncludesLastItemInRange").Text() != "true" || len(find(doc, "Create")) != 2 {
		t.Fatal("second page wrong")
	}
	doc = call(t, srv, req("bm9wZQ=="))
	if codes(doc)[0] != "ErrorInvalidSyncStateData" || first(t, doc, "SyncFolderItemsResponseMessage").SelectAttrValue("ResponseClass", "") != "Error" {
		t.Errorf("garbage state: %v", codes(doc))
	}
	srv.Faults().InvalidSyncState(1)
	if doc = call(t, srv, req("")); codes(doc)[0] != "ErrorInvalidSyncStateData" {
		t.Error("injected ErrorInvalidSyncStateData not served")
	}
	doc = call(t, srv, `<m:SyncFolderHierarchy><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape>
		<m:SyncFolderId><t:DistinguishedFolderId Id="msgfolderroot"/></m:SyncFolderId></m:SyncFolderHierarchy>`)
	hstate := first(t, doc, "SyncState").Text()
	if len(find(doc, "Create")) != 13 {
		t.Errorf("hierarchy creates = %d", len(find(doc, "Create")))
	}
	// A hierarchy state used for items is invalid.
	if doc = call(t, srv, req(hstate)); codes(doc)[0] != "ErrorInvalidSyncStateData" {
		t.Error("hierarchy state accepted by SyncFolderItems")
	}
	f, _ := m.CreateFolder("inbox", "New", "")
	m.RenameFolder("archive", "Old Archive")
	m.DeleteFolder(f.ID, HardDelete)
	g, _ := m.CreateFolder("drafts", "Kept", "")
	doc = call(t, srv, `<m:SyncFolderHierarchy><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
		<m:SyncFolderId><t:DistinguishedFolderId Id="msgfolderroot"/></m:SyncFolderId><m:SyncState>`+hstate+`</m:SyncState></m:SyncFolderHierarchy>`)
	if len(find(doc, "Create")) != 1 || len(find(doc, "Update")) != 1 || len(find(doc, "Delete")) != 0 ||
		find(doc, "Create")[0].FindElement(".//FolderId").SelectAttrValue("Id", "") != g.ID {
		s, _ := doc.WriteToString()
		t.Errorf("hierarchy net changes wrong:\n%s", s)
	}
}

func TestSOAP_EnvelopeHandling(t *testing.T) {
	srv, _ := newTestServer(t, func(o *Options) { o.Users = o.Users[:1] })
	// Default namespaces, other prefixes, SOAPAction absent, no version
	// header: accepted.
	body := `<?xml version="1.0"?><Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>
		<GetFolder xmlns="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:x="http://schemas.microsoft.com/exchange/services/2006/types">
		<FolderShape><x:BaseShape> IdOnly </x:BaseShape></FolderShape><FolderIds><x:DistinguishedFolderId Id="inbox"/></FolderIds></GetFolder></Body></Envelope>`
	if status, doc := post(t, srv, body, nil); status != 200 || codes(doc)[0] != "NoError" {
		t.Errorf("default-namespace request: %d %v", status, codes(doc))
	}
	// SOAP 1.2.
	body12 := strings.Replace(strings.Replace(envStart, "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope", 1), "soap:", "env:", -1)
	body12 = strings.Replace(body12, "xmlns:soap=", "xmlns:env=", 1)
	if status, doc := post(t, srv, body12+`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
		<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></env:Body></env:Envelope>`, nil); status != 200 || doc.Root().NamespaceURI() != nsSOAP12 {
		t.Errorf("SOAP 1.2: %d", status)
	}
	for name, c := range map[string]struct{ raw, code string }{
		"malformed":       {"<soap:Envelope", "ErrorSchemaValidation"},
		"not an op":       {envStart + `<m:NoSuchThing/>` + envEnd, "ErrorSchemaValidation"},
		"unimplemented":   {envStart + `<m:GetUserOofSettingsRequest/>` + envEnd, "ErrorSchemaValidation"},
		"known, not here": {envStart + `<m:GetInboxRules/>` + envEnd, "ErrorInvalidRequest"},
		"bad version":     {strings.Replace(envStart, "Exchange2013", "Exchange2099", 1) + `<m:GetFolder/>` + envEnd, "ErrorInvalidServerVersion"},
		"no BaseShape":    {envStart + `<m:GetFolder><m:FolderShape/><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>` + envEnd, "ErrorSchemaValidation"},
		"bad dist id":     {envStart + `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="nope"/></m:FolderIds></m:GetFolder>` + envEnd, "ErrorSchemaValidation"},
		"max changes":     {envStart + `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="inbox"/></m:SyncFolderId><m:MaxChangesReturned>513</m:MaxChangesReturned></m:SyncFolderItems>` + envEnd, "ErrorSchemaValidation"},
	} {
		status, doc := post(t, srv, c.raw, nil)
		if status != 500 || faultCode(t, doc) != c.code {
			t.Errorf("%s: HTTP %d %s, want 500 %s", name, status, faultCode(t, doc), c.code)
		}
	}
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

func TestSOAP_Impersonation(t *testing.T) {
	srv, _ := newTestServer(t, func(o *Options) {
		o.Users = append(o.Users, User{Name: "svc", Password: "pw", Address: "svc@example.com"})
		o.ImpersonationUsers = []string{"svc"}
		o.Auth = AuthOptions{Mode: AuthBasic}
	})
	mustDeliver(t, srv.Mailbox("bob@example.com"), "inbox", testMessage("for bob"))
	imp := strings.Replace(envStart, "</soap:Header>", `<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>bob@example.com</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header>`, 1)
	op := `<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>` + envEnd
	basic := func(u, p string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))}
	}
	status, doc := post(t, srv, imp+op, basic("svc", "pw"))
	if status != 200 || first(t, doc, "TotalCount").Text() != "1" {
		t.Errorf("impersonation by svc: %d", status)
	}
	status, doc = post(t, srv, imp+op, basic("alice", "secret"))
	if status != 500 || faultCode(t, doc) != "ErrorImpersonateUserDenied" {
		t.Errorf("impersonation by alice: %d %s", status, faultCode(t, doc))
	}
	// Without impersonation alice sees her own (empty) inbox.
	status, doc = post(t, srv, envStart+op, basic("alice", "secret"))
	if status != 200 || first(t, doc, "TotalCount").Text() != "0" {
		t.Errorf("alice's own inbox: %d", status)
	}
}

// recordSink collects published events.
type recordSink struct {
	mu  sync.Mutex
	evs []notify.Event
}

func (s *recordSink) Publish(db, mb string, evs ...notify.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evs = append(s.evs, evs...)
}

func (s *recordSink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.evs {
		k := string(e.Kind)
		if e.Folder {
			k += "/folder"
		}
		out = append(out, k)
	}
	s.evs = nil
	return out
}

func TestMailbox_Events(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	sink := &recordSink{}
	srv.setEventSink(sink)
	m := srv.Mailbox("alice@example.com")
	it := mustDeliver(t, m, "inbox", testMessage("x"))
	want := func(step string, exp ...string) {
		t.Helper()
		if got := sink.take(); strings.Join(got, ",") != strings.Join(exp, ",") {
			t.Errorf("%s: events %v, want %v", step, got, exp)
		}
	}
	want("deliver", "CreatedEvent", "NewMailEvent", "ModifiedEvent/folder")
	m.SetRead(it.ID, true)
	want("read", "ModifiedEvent", "ModifiedEvent/folder")
	moved, _ := m.MoveItem(it.ID, "archive")
	want("move", "MovedEvent", "ModifiedEvent/folder", "ModifiedEvent/folder")
	m.CopyItem(moved.ID, "inbox")
	want("copy", "CopiedEvent", "ModifiedEvent/folder")
	m.DeleteItem(moved.ID, HardDelete)
	want("delete", "DeletedEvent", "ModifiedEvent/folder")
	f, _ := m.CreateFolder("inbox", "F", "")
	want("create folder", "CreatedEvent/folder", "ModifiedEvent/folder")
	m.RenameFolder(f.ID, "G")
	want("rename", "ModifiedEvent/folder")
	m.MoveFolder(f.ID, "archive")
	want("move folder", "MovedEvent/folder", "ModifiedEvent/folder", "ModifiedEvent/folder")
	m.DeleteFolder(f.ID, HardDelete)
	want("delete folder", "DeletedEvent/folder", "ModifiedEvent/folder")
}

func TestFaults(t *testing.T) {
	srv, clk := newTestServer(t, nil)
	op := `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>`
	srv.Faults().ServerBusy(1, 1500*time.Millisecond)
	status, doc := post(t, srv, envStart+op+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 500 || faultCode(t, doc) != "ErrorServerBusy" || first(t, doc, "Value").Text() != "1500" {
		t.Errorf("busy fault: %d %s", status, faultCode(t, doc))
	}
	call(t, srv, op) // the next one succeeds
	srv.Faults().DropConnections(1)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(envStart+op+envEnd))
	req.Header.Set("X-AnchorMailbox", "alice@example.com")
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Error("dropped connection answered")
	}
	srv.Faults().SetHook(func(op, mb string) *Fault {
		if op == "GetFolder" && mb == "alice@example.com" {
			return &Fault{Code: "ErrorMailboxMoveInProgress"}
		}
		return nil
	})
	if _, doc := post(t, srv, envStart+op+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"}); faultCode(t, doc) != "ErrorMailboxMoveInProgress" {
		t.Error("hook fault not served")
	}
	srv.Faults().SetHook(nil)
	srv.Faults().SetLatency(2 * time.Second)
	waiting := make(chan struct{})
	srv.faults.mu.Lock()
	srv.faults.waiting = waiting
	srv.faults.mu.Unlock()
	done := make(chan int)
	go func() { // not post: t.Fatal must stay on the test goroutine
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(envStart+op+envEnd))
		req.Header.Set("X-AnchorMailbox", "alice@example.com")
		resp, err := srv.Client().Do(req)
		if err != nil {
			done <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-waiting // the request waits on the fake clock
	select {
	case <-done:
		t.Fatal("the request did not wait for the latency")
	default:
	}
	clk.Advance(2 * time.Second)
	if s := <-done; s != 200 {
		t.Errorf("delayed request: %d", s)
	}
}

func TestMailbox_ReadFlagMovesCommitTimeOption(t *testing.T) {
	srv, clk := newTestServer(t, func(o *Options) { o.ReadFlagMovesCommitTime = true })
	m := srv.Mailbox("alice@example.com")
	it := mustDeliver(t, m, "inbox", testMessage("x"))
	clk.Advance(2 * time.Second)
	m.SetRead(it.ID, true)
	if f, _ := m.Folder("inbox"); !f.LocalCommitTimeMax.Equal(testStart.Add(2 * time.Second)) {
		t.Errorf("commit time = %v", f.LocalCommitTimeMax)
	}
	// Two changes within one second leave it equal (one-second granularity).
	clk.Advance(300 * time.Millisecond)
	s := "a"
	m.UpdateItem(it.ID, ItemUpdate{Subject: &s})
	if f, _ := m.Folder("inbox"); !f.LocalCommitTimeMax.Equal(testStart.Add(2 * time.Second)) {
		t.Errorf("sub-second change moved commit time to %v", f.LocalCommitTimeMax)
	}
}

func TestOps_GetAttachment(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	msg := testMessage("with attachment")
	msg.Attachments = []Attachment{{Name: "a.bin", Content: []byte{1, 2, 3}}}
	it := mustDeliver(t, m, "inbox", msg)
	doc := call(t, srv, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
		<t:FieldURI FieldURI="item:Attachments"/></t:AdditionalProperties></m:ItemShape>
		<m:ItemIds><t:ItemId Id="`+it.ID+`"/></m:ItemIds></m:GetItem>`)
	aid := first(t, doc, "AttachmentId").SelectAttrValue("Id", "")
	doc = call(t, srv, `<m:GetAttachment><m:AttachmentIds><t:AttachmentId Id="`+aid+`"/><t:AttachmentId Id="eA=="/></m:AttachmentIds></m:GetAttachment>`)
	if got := codes(doc); len(got) != 2 || got[0] != "NoError" || got[1] != "ErrorInvalidIdMalformed" {
		t.Fatalf("codes = %v", got)
	}
	if first(t, doc, "Content").Text() != "AQID" || first(t, doc, "ContentType").Text() != "application/octet-stream" {
		t.Error("attachment content or type wrong")
	}
	// FindItem is summary-only: no body, attachments or MIME even if asked.
	doc = call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape>
		<t:IncludeMimeContent>true</t:IncludeMimeContent></m:ItemShape>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`)
	if len(find(doc, "MimeContent"))+len(find(doc, "Attachments"))+len(find(doc, "Message/Body")) != 0 {
		t.Error("FindItem returned non-summary properties")
	}
}

func TestOps_UpdateItemFlagImportanceAndDeleteField(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	msg := testMessage("flag me")
	msg.Categories = []string{"Old"}
	it := mustDeliver(t, m, "inbox", msg)
	res, err := m.SyncItems("inbox", "", 10)
	state := res.State
	if err != nil {
		t.Fatal(err)
	}
	doc := call(t, srv, `<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange>
		<t:ItemId Id="`+it.ID+`"/><t:Updates>
		<t:SetItemField><t:FieldURI FieldURI="item:Flag"/><t:Message><t:Flag><t:FlagStatus>Flagged</t:FlagStatus></t:Flag></t:Message></t:SetItemField>
		<t:SetItemField><t:FieldURI FieldURI="item:Importance"/><t:Message><t:Importance>High</t:Importance></t:Message></t:SetItemField>
		<t:DeleteItemField><t:FieldURI FieldURI="item:Categories"/></t:DeleteItemField>
		<t:SetItemField><t:ExtendedFieldURI PropertyTag="0x1081" PropertyType="Integer"/><t:Message/></t:SetItemField>
		</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if codes(doc)[0] != "NoError" {
		t.Fatalf("codes = %v", codes(doc))
	}
	info, _ := m.Item(it.ID)
	if info.Message.FlagStatus != FlagFlagged || info.Message.Importance != "High" || len(info.Message.Categories) != 0 {
		t.Errorf("after update: flag %s importance %s categories %v", info.Message.FlagStatus, info.Message.Importance, info.Message.Categories)
	}
	res, _ = m.SyncItems("inbox", state, 10)
	chs := res.Changes
	if len(chs) != 1 || chs[0].Kind != "Update" {
		t.Errorf("flag change reported as %v, want one Update", chs)
	}
	// A bad FlagStatus is a schema error.
	status, doc := post(t, srv, envStart+`<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange>
		<t:ItemId Id="`+it.ID+`"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Flag"/><t:Message><t:Flag><t:FlagStatus>Maybe</t:FlagStatus></t:Flag></t:Message></t:SetItemField>
		</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 500 || faultCode(t, doc) != "ErrorSchemaValidation" {
		t.Errorf("bad FlagStatus: %d %s", status, faultCode(t, doc))
	}
}

func TestOps_FindItemCountLimit(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	msgs := make([]Message, 1200)
	for i := range msgs {
		msgs[i] = testMessage("bulk")
	}
	if _, err := m.DeliverBatch("inbox", msgs); err != nil {
		t.Fatal(err)
	}
	doc := call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`)
	rf := first(t, doc, "RootFolder")
	if n := len(find(doc, "Message")); n != 1000 || rf.SelectAttrValue("IncludesLastItemInRange", "") != "false" ||
		rf.SelectAttrValue("IndexedPagingOffset", "") != "1000" || rf.SelectAttrValue("TotalItemsInView", "") != "1200" {
		t.Errorf("unpaged FindItem returned %d rows, attrs %v", n, rf.Attr)
	}
	doc = call(t, srv, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
		<m:IndexedPageItemView MaxEntriesReturned="5000" Offset="0" BasePoint="Beginning"/>
		<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="item:Subject"/><t:FieldURIOrConstant><t:Constant Value="bulk"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`)
	if n := len(find(doc, "Message")); n != 250 {
		t.Errorf("restricted FindItem returned %d rows, want 250", n)
	}
}

func TestOps_MoveItemReturnNewItemIds(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	it := mustDeliver(t, m, "inbox", testMessage("x"))
	doc := call(t, srv, `<m:MoveItem><m:ToFolderId><t:DistinguishedFolderId Id="archive"/></m:ToFolderId>
		<m:ItemIds><t:ItemId Id="`+it.ID+`"/></m:ItemIds><m:ReturnNewItemIds>false</m:ReturnNewItemIds></m:MoveItem>`)
	if codes(doc)[0] != "NoError" || len(find(doc, "ItemId")) != 0 {
		t.Errorf("ReturnNewItemIds=false still returned ids: %v", codes(doc))
	}
	if f, _ := m.Folder("archive"); f.TotalCount != 1 {
		t.Error("item not moved")
	}
}

func TestOps_FindFolderCountLimit(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	for i := range 1001 {
		if _, err := m.CreateFolder("inbox", "f"+itoa(int64(i)), ""); err != nil {
			t.Fatal(err)
		}
	}
	doc := call(t, srv, `<m:FindFolder Traversal="Shallow"><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindFolder>`)
	rf := first(t, doc, "RootFolder")
	if n := len(find(doc, "Folder")); n != 1000 || rf.SelectAttrValue("IncludesLastItemInRange", "") != "false" {
		t.Errorf("FindFolder returned %d folders, attrs %v", n, rf.Attr)
	}
}

func TestOps_UpdateItemInvalidChangeKey(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	it := mustDeliver(t, srv.Mailbox("alice@example.com"), "inbox", testMessage("x"))
	doc := call(t, srv, `<m:UpdateItem ConflictResolution="AutoResolve" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange>
		<t:ItemId Id="`+it.ID+`" ChangeKey="not-a-change-key"/><t:Updates>
		<t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:Message><t:Subject>y</t:Subject></t:Message></t:SetItemField>
		</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`)
	if got := codes(doc)[0]; got != "ErrorInvalidChangeKey" {
		t.Errorf("garbage ChangeKey: %s", got)
	}
}

package ewstest

import (
	"testing"
)

func TestOps_MarkAllItemsAsReadAndEmptyFolder(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	for range 4 {
		mustDeliver(t, m, "inbox", testMessage("unread"))
	}
	read := testMessage("read")
	read.IsRead = true
	mustDeliver(t, m, "inbox", read)
	res, _ := m.SyncItems("inbox", "", 50)
	state := res.State
	doc := call(t, srv, `<m:MarkAllItemsAsRead><m:ReadFlag>true</m:ReadFlag><m:SuppressReadReceipts>true</m:SuppressReadReceipts>
		<m:FolderIds><t:DistinguishedFolderId Id="inbox"/><t:FolderId Id="AAMkAA=="/></m:FolderIds></m:MarkAllItemsAsRead>`)
	if got := codes(doc); len(got) != 2 || got[0] != "NoError" || got[1] != "ErrorInvalidIdMalformed" {
		t.Fatalf("codes = %v", got)
	}
	if f, _ := m.Folder("inbox"); f.UnreadCount != 0 {
		t.Errorf("UnreadCount = %d", f.UnreadCount)
	}
	res, _ = m.SyncItems("inbox", state, 50)
	chs, state := res.Changes, res.State
	if len(chs) != 4 {
		t.Fatalf("changes = %v, want 4 ReadFlagChange", chs)
	}
	for _, c := range chs {
		if c.Kind != "ReadFlagChange" || !c.IsRead {
			t.Fatalf("change %+v", c)
		}
	}
	sub, _ := m.CreateFolder("inbox", "Sub", "")
	doc = call(t, srv, `<m:EmptyFolder DeleteType="MoveToDeletedItems" DeleteSubFolders="true">
		<m:FolderIds><t:DistinguishedFolderId Id="inbox"/><t:DistinguishedFolderId Id="msgfolderroot"/></m:FolderIds></m:EmptyFolder>`)
	if got := codes(doc); got[0] != "NoError" || got[1] != "ErrorCannotEmptyFolder" {
		t.Fatalf("EmptyFolder codes = %v", got)
	}
	if f, _ := m.Folder("inbox"); f.TotalCount != 0 || f.ChildFolderCount != 0 || f.DeletedCountTotal != 5 {
		t.Errorf("inbox after EmptyFolder: %+v", f)
	}
	if f, _ := m.Folder("deleteditems"); f.TotalCount != 5 || f.ChildFolderCount != 1 {
		t.Errorf("deleted items after EmptyFolder: total %d children %d", f.TotalCount, f.ChildFolderCount)
	}
	if fi, _ := m.Folder(sub.ID); fi.ParentID != mustFolderID(t, m, "deleteditems") {
		t.Error("subfolder not moved to Deleted Items")
	}
	res, _ = m.SyncItems("inbox", state, 50)
	chs = res.Changes
	if len(chs) != 5 {
		t.Errorf("sync after EmptyFolder: %d changes, want 5 deletes", len(chs))
	}
	// Before Exchange 2013 MarkAllItemsAsRead does not exist in the schema.
	old := `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="` + nsM + `" xmlns:t="` + nsT + `">
		<soap:Header><t:RequestServerVersion Version="Exchange2010_SP2"/></soap:Header><soap:Body><m:MarkAllItemsAsRead><m:ReadFlag>true</m:ReadFlag>
		<m:SuppressReadReceipts>true</m:SuppressReadReceipts><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:MarkAllItemsAsRead>` + envEnd
	if status, doc := post(t, srv, old, map[string]string{"X-AnchorMailbox": "alice@example.com"}); status != 500 || faultCode(t, doc) != "ErrorSchemaValidation" {
		t.Errorf("MarkAllItemsAsRead with Exchange2010_SP2: %d", status)
	}
}

func TestOps_SendItem(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	bob := srv.Mailbox("bob@example.com")
	doc := call(t, srv, `<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:Message><t:Subject>Draft</t:Subject>
		<t:Body BodyType="Text">hi bob</t:Body><t:ToRecipients><t:Mailbox><t:EmailAddress>bob@example.com</t:EmailAddress></t:Mailbox>
		<t:Mailbox><t:EmailAddress>outside@example.net</t:EmailAddress></t:Mailbox></t:ToRecipients></t:Message></m:Items></m:CreateItem>`)
	draft := first(t, doc, "ItemId").SelectAttrValue("Id", "")
	if f, _ := m.Folder("drafts"); f.TotalCount != 1 {
		t.Fatal("draft not in Drafts")
	}
	doc = call(t, srv, `<m:SendItem SaveItemToFolder="true"><m:ItemIds><t:ItemId Id="`+draft+`"/><t:ItemId Id="`+draft+`"/></m:ItemIds>
		<m:SavedItemFolderId><t:DistinguishedFolderId Id="sentitems"/></m:SavedItemFolderId></m:SendItem>`)
	if got := codes(doc); got[0] != "NoError" || got[1] != "ErrorItemNotFound" {
		t.Fatalf("codes = %v", got)
	}
	sent, _ := m.Items("sentitems")
	if len(sent) != 1 || sent[0].Message.IsDraft || !sent[0].Message.IsRead || sent[0].Message.From.Email != "alice@example.com" {
		t.Fatalf("sent items = %+v", sent)
	}
	in, _ := bob.Items("inbox")
	if len(in) != 1 || in[0].Message.Subject != "Draft" || in[0].Message.IsRead || in[0].Message.IsDraft {
		t.Fatalf("bob's inbox = %+v", in)
	}
	// A received message is not a draft.
	doc = callAs(t, srv, "bob@example.com", `<m:SendItem SaveItemToFolder="false"><m:ItemIds><t:ItemId Id="`+in[0].ID+`"/></m:ItemIds></m:SendItem>`)
	if codes(doc)[0] != "ErrorInvalidRequest" {
		t.Errorf("sending a non-draft: %v", codes(doc))
	}
}

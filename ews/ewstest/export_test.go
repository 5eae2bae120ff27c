package ewstest

import (
	"encoding/base64"
	"slices"
	"testing"
)

func TestExport_RoundTrip(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	m := srv.Mailbox("alice@example.com")
	msg := testMessage("keep me")
	msg.Categories = []string{"Red"}
	msg.Attachments = []Attachment{{Name: "a.bin", Content: []byte{0, 1, 2}}}
	it := mustDeliver(t, m, "inbox", msg)
	other := mustDeliver(t, m, "inbox", testMessage("overwrite me"))
	doc := call(t, srv, `<m:ExportItems><m:ItemIds><t:ItemId Id="`+it.ID+`"/><t:ItemId Id="`+attachmentID(it.ID, 0)+`"/></m:ItemIds></m:ExportItems>`)
	if got := codes(doc); len(got) != 2 || got[0] != "NoError" || got[1] == "NoError" {
		t.Fatalf("ExportItems codes = %v", got)
	}
	data := first(t, doc, "Data").Text()
	inbox, _ := m.FolderID("inbox")
	doc = call(t, srv, `<m:UploadItems><m:Items>
		<t:Item CreateAction="CreateNew"><t:ParentFolderId Id="`+inbox+`"/><t:Data>`+data+`</t:Data></t:Item>
		<t:Item CreateAction="Update"><t:ParentFolderId Id="`+inbox+`"/><t:ItemId Id="`+other.ID+`"/><t:Data>`+data+`</t:Data></t:Item>
		<t:Item CreateAction="CreateNew"><t:ParentFolderId Id="`+inbox+`"/><t:Data>`+base64.StdEncoding.EncodeToString([]byte("not ours"))+`</t:Data></t:Item>
		<t:Item CreateAction="CreateNew"><t:ParentFolderId Id="`+inbox+`"/><t:Data>***</t:Data></t:Item>
		</m:Items></m:UploadItems>`)
	if got := codes(doc); !slices.Equal(got, []string{"NoError", "NoError", "ErrorCorruptData", "ErrorInvalidBase64String"}) {
		t.Fatalf("UploadItems codes = %v", got)
	}
	ids := find(doc, "ItemId")
	if ids[1].SelectAttrValue("Id", "") != other.ID {
		t.Errorf("Update gave a new id")
	}
	for _, id := range []string{ids[0].SelectAttrValue("Id", ""), other.ID} {
		info, err := m.Item(id)
		if err != nil {
			t.Fatal(err)
		}
		if info.Message.Subject != "keep me" || !slices.Equal(info.Message.Categories, []string{"Red"}) ||
			len(info.Message.Attachments) != 1 || string(info.Message.Attachments[0].Content) != "\x00\x01\x02" {
			t.Errorf("uploaded item %+v", info.Message)
		}
	}
	status, fdoc := post(t, srv, envStart+`<m:UploadItems><m:Items><t:Item CreateAction="Merge"><t:ParentFolderId Id="`+inbox+`"/><t:Data>`+data+`</t:Data></t:Item></m:Items></m:UploadItems>`+envEnd,
		map[string]string{"X-AnchorMailbox": "alice@example.com"})
	if status != 500 || faultCode(t, fdoc) != "ErrorSchemaValidation" {
		t.Errorf("bad CreateAction: %d %s", status, faultCode(t, fdoc))
	}
}

package ewstest

import (
	"strings"
	"testing"
)

func TestServer_GetFolderBasics(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	if !strings.HasSuffix(srv.URL, "/EWS/Exchange.asmx") || !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %q", srv.URL)
	}
	m := srv.Mailbox("alice@example.com")
	mustDeliver(t, m, "inbox", testMessage("one"))
	doc := call(t, srv, `<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape><t:AdditionalProperties>
		<t:FieldURI FieldURI="folder:FolderClass"/>
		<t:ExtendedFieldURI PropertyTag="0x670A" PropertyType="SystemTime"/>
		<t:ExtendedFieldURI PropertyTag="26379" PropertyType="Integer"/></t:AdditionalProperties></m:FolderShape>
		<m:FolderIds><t:DistinguishedFolderId Id="inbox"/><t:FolderId Id="AAMkAAAA"/></m:FolderIds></m:GetFolder>`)
	if got := codes(doc); len(got) != 2 || got[0] != "NoError" || got[1] != "ErrorInvalidIdMalformed" {
		t.Fatalf("codes = %v", got)
	}
	if got := first(t, doc, "TotalCount").Text(); got != "1" {
		t.Errorf("TotalCount = %s", got)
	}
	if got := first(t, doc, "UnreadCount").Text(); got != "1" {
		t.Errorf("UnreadCount = %s", got)
	}
	uris := find(doc, "ExtendedFieldURI")
	if len(uris) != 2 || uris[0].SelectAttrValue("PropertyTag", "") != "0x670a" || uris[1].SelectAttrValue("PropertyTag", "") != "0x670b" {
		t.Fatalf("extended properties not echoed in lower-case hex")
	}
	if got := find(doc, "Value")[0].Text(); got != "2026-05-01T10:00:00Z" {
		t.Errorf("commit time = %s", got)
	}
	if first(t, doc, "ServerVersionInfo").SelectAttrValue("MajorVersion", "") != "15" {
		t.Error("no ServerVersionInfo header")
	}
}

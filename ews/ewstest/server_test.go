package ewstest

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
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

func TestOptions_Validate(t *testing.T) {
	for name, o := range map[string]Options{
		"no name":     {Users: []User{{Address: "a@example.com"}}},
		"bad address": {Users: []User{{Name: "a", Address: "nobody"}}},
		"dup name":    {Users: []User{{Name: "a", Address: "a@example.com"}, {Name: "A", Address: "b@example.com"}}},
		"dup address": {Users: []User{{Name: "a", Address: "a@example.com"}, {Name: "b", Address: "A@example.com"}}},
		"retention":   {TombstoneRetention: -1},
	} {
		if err := o.Validate(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
	ok := Options{Users: []User{{Name: "a", Address: "a@example.com"}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestServer_CrossMailboxAccess(t *testing.T) {
	srv, _ := newTestServer(t, func(o *Options) { o.Auth = AuthOptions{Mode: AuthBasic} })
	op := envStart + `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>
		<t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>bob@example.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>
		<t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>nobody@example.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>
		<t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>alice@example.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>
		</m:FolderIds></m:GetFolder>` + envEnd
	auth := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret"))}
	_, doc := post(t, srv, op, auth)
	if got := codes(doc); len(got) != 3 || got[0] != "ErrorAccessDenied" || got[1] != "ErrorNonExistentMailbox" || got[2] != "NoError" {
		t.Errorf("codes = %v", got)
	}
	// An id of bob's folder is refused to alice too.
	bobInbox := mustFolderID(t, srv.Mailbox("bob@example.com"), "inbox")
	_, doc = post(t, srv, envStart+`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>
		<t:FolderId Id="`+bobInbox+`"/></m:FolderIds></m:GetFolder>`+envEnd, auth)
	if got := codes(doc); got[0] != "ErrorAccessDenied" {
		t.Errorf("bob's folder id: %v", got)
	}
}

func TestServer_Compression(t *testing.T) {
	srv, _ := newTestServer(t, func(o *Options) { o.Compression = true })
	m := srv.Mailbox("alice@example.com")
	for range 20 {
		mustDeliver(t, m, "inbox", testMessage("compress me"))
	}
	body := envStart + `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>` + envEnd
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	req.Header.Set("X-AnchorMailbox", "alice@example.com")
	resp, err := srv.Client().Do(req) // the transport asks for gzip and inflates
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !resp.Uncompressed || !strings.Contains(string(data), "FindItemResponse") {
		t.Errorf("response not gzip-compressed (uncompressed=%v)", resp.Uncompressed)
	}
	for v, want := range map[string]bool{"gzip": true, "deflate, gzip;q=1.0": true, "gzip;q=0": false, "br": false, "": false} {
		if acceptsGzip(v) != want {
			t.Errorf("acceptsGzip(%q) = %v", v, !want)
		}
	}
}

func TestSOAP_UnexpectedChild(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	for _, body := range []string{
		`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:Bogus/><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>`,
		`<m:GetFolder><t:FolderShape><t:BaseShape>IdOnly</t:BaseShape></t:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>`,
	} {
		status, doc := post(t, srv, envStart+body+envEnd, map[string]string{"X-AnchorMailbox": "alice@example.com"})
		if status != 500 || faultCode(t, doc) != "ErrorSchemaValidation" {
			t.Errorf("HTTP %d %s for %s", status, faultCode(t, doc), body)
		}
	}
}

func TestServer_CloseReleasesLatencyWaits(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	srv.Faults().SetLatency(time.Hour) // never advanced
	waiting := make(chan struct{})
	srv.faults.mu.Lock()
	srv.faults.waiting = waiting
	srv.faults.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(envStart+`<m:GetFolder/>`+envEnd))
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-waiting
	srv.Close() // must not block on the waiting request
	<-done
}

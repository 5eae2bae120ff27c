package ewstest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/mailsync/mailsync/ews/ewstest"
)

// A test starts the fake, puts mail in a mailbox through the Go handle and
// talks SOAP to it like any EWS client.
func ExampleNewServer() {
	srv := ewstest.NewServer(ewstest.Options{
		Users: []ewstest.User{{Name: "alice", Password: "secret", Address: "alice@example.com"}},
	})
	defer srv.Close()

	mb := srv.Mailbox("alice@example.com")
	if _, err := mb.Deliver("inbox", ewstest.Message{Subject: "Hello", From: ewstest.Address{Email: "ann@example.org"}}); err != nil {
		panic(err)
	}

	body := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
	 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
	 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
	<s:Header><t:RequestServerVersion Version="Exchange2013"/></s:Header><s:Body>
	<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>
	<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></s:Body></s:Envelope>`
	resp, err := srv.Client().Post(srv.URL, "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode == http.StatusOK, strings.Contains(string(data), "<t:TotalCount>1</t:TotalCount>"))
	// Output: true true
}

// Mailbox.SyncItems runs the same ICS computation as SyncFolderItems.
func ExampleMailbox_SyncItems() {
	srv := ewstest.NewUnstartedServer(ewstest.Options{
		Users: []ewstest.User{{Name: "alice", Address: "alice@example.com"}},
	})
	defer srv.Close() // never started: Close releases the listener
	mb := srv.Mailbox("alice@example.com")
	a, _ := mb.Deliver("inbox", ewstest.Message{Subject: "a"})
	first, _ := mb.SyncItems("inbox", "", 512)

	mb.SetRead(a.ID, true)
	b, _ := mb.Deliver("inbox", ewstest.Message{Subject: "b"})
	mb.DeleteItem(b.ID, ewstest.HardDelete) // created and deleted since the state: not reported

	res, _ := mb.SyncItems("inbox", first.State, 512)
	for _, c := range res.Changes {
		fmt.Println(c.Kind, c.ItemID == a.ID, c.IsRead)
	}
	fmt.Println(res.IncludesLast)
	// Output:
	// ReadFlagChange true true
	// true
}

package ews

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func findFolderPage(offset, next, total int, last bool, names ...string) string {
	folders := ""
	for i, n := range names {
		folders += fmt.Sprintf(`<t:Folder><t:FolderId Id="F%d" ChangeKey="K"/><t:DisplayName>%s</t:DisplayName></t:Folder>`, offset+i, n)
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:FindFolderResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:FindFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:RootFolder IndexedPagingOffset="%d" TotalItemsInView="%d" IncludesLastItemInRange="%t"><t:Folders>%s</t:Folders></m:RootFolder></m:FindFolderResponseMessage></m:ResponseMessages></m:FindFolderResponse></s:Body></s:Envelope>`,
		next, total, last, folders)
}

func TestClient_AllFoldersPages(t *testing.T) {
	offRE := regexp.MustCompile(`MaxEntriesReturned="2" Offset="(\d+)" BasePoint="Beginning"`)
	var mu sync.Mutex
	var offsets []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m := offRE.FindSubmatch(b)
		if m == nil {
			http.Error(w, "no paging", 400)
			return
		}
		mu.Lock()
		offsets = append(offsets, string(m[1]))
		mu.Unlock()
		switch string(m[1]) {
		case "0":
			io.WriteString(w, findFolderPage(0, 2, 3, false, "Inbox", "Drafts"))
		case "2":
			io.WriteString(w, findFolderPage(2, 3, 3, true, "Archive"))
		default:
			http.Error(w, "bad offset", 400)
		}
	}))
	defer srv.Close()
	c, _ := New(srv.URL, nil)
	var names []string
	for f, err := range c.AllFolders(context.Background(), FindFolderRequest{Parent: DistinguishedFolder("msgfolderroot"), Traversal: Deep}, 2) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.DisplayName)
	}
	if fmt.Sprint(names) != "[Inbox Drafts Archive]" || fmt.Sprint(offsets) != "[0 2]" {
		t.Fatalf("names %v offsets %v", names, offsets)
	}
	// Breaking out early sends no further request.
	offsets = nil
	for range c.AllFolders(context.Background(), FindFolderRequest{Parent: DistinguishedFolder("msgfolderroot")}, 2) {
		break
	}
	if len(offsets) != 1 {
		t.Fatalf("requests after break: %v", offsets)
	}
}

func TestClient_AllFoldersStopsOnStuckOffset(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, findFolderPage(0, 0, 9, false, "Loop"))
	}))
	defer srv.Close()
	c, _ := New(srv.URL, nil)
	var last error
	n := 0
	for _, err := range c.AllFolders(context.Background(), FindFolderRequest{Parent: DistinguishedFolder("root")}, 1) {
		n++
		last = err
		if n > 10 {
			t.Fatal("no progress check")
		}
	}
	if !errors.Is(last, ErrMalformedResponse) {
		t.Fatalf("last = %v", last)
	}
}

func TestClient_FindFolderError(t *testing.T) {
	body := `<?xml version="1.0" encoding="utf-8" ?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><FindFolderResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"><m:ResponseMessages><m:FindFolderResponseMessage ResponseClass="Error"><m:MessageText>Id is malformed.</m:MessageText><m:ResponseCode>ErrorInvalidIdMalformed</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:FindFolderResponseMessage></m:ResponseMessages></FindFolderResponse></soap:Body></soap:Envelope>`
	srv := httptest.NewServer(&scripted{steps: []step{{status: 200, body: []byte(body)}}})
	defer srv.Close()
	c, _ := New(srv.URL, nil)
	_, err := c.FindFolder(context.Background(), FindFolderRequest{Parent: FolderRef{ID: "bad"}})
	if !errors.Is(err, ErrInvalidIDMalformed) {
		t.Fatalf("err = %v", err)
	}
}

func TestClient_FindFolderOffsetWithoutPagingAttribute(t *testing.T) {
	body := strings.Replace(findFolderPage(5, 0, 9, false, "A", "B"), `IndexedPagingOffset="0" `, "", 1)
	srv := httptest.NewServer(&scripted{steps: []step{{status: 200, body: []byte(body)}}})
	defer srv.Close()
	c, _ := New(srv.URL, nil)
	p, err := c.FindFolder(context.Background(), FindFolderRequest{Parent: DistinguishedFolder("root"), Offset: 5, MaxEntries: 2})
	if err != nil || p.NextOffset != 7 || len(p.Folders) != 2 {
		t.Fatalf("page %+v, err %v", p, err)
	}
}

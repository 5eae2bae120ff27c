package ews

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
)

func syncItemsPage(state string, last bool, ids ...string) string {
	changes := ""
	for _, id := range ids {
		changes += fmt.Sprintf(`<t:Create><t:Message><t:ItemId Id="%s" ChangeKey="CK"/></t:Message></t:Create>`, id)
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:SyncFolderItemsResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:SyncFolderItemsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:SyncState>%s</m:SyncState><m:IncludesLastItemInRange>%t</m:IncludesLastItemInRange><m:Changes>%s</m:Changes></m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse></s:Body></s:Envelope>`, state, last, changes)
}

func TestClient_SyncFolderItemsPages(t *testing.T) {
	stateRE := regexp.MustCompile(`<m:SyncState>([^<]*)</m:SyncState>`)
	var mu sync.Mutex
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		st := ""
		if m := stateRE.FindSubmatch(b); m != nil {
			st = string(m[1])
		}
		mu.Lock()
		sent = append(sent, st)
		mu.Unlock()
		switch st {
		case "":
			io.WriteString(w, syncItemsPage("S1", false, "I1", "I2"))
		case "S1":
			io.WriteString(w, syncItemsPage("S2", false, "I3"))
		case "S2":
			io.WriteString(w, syncItemsPage("S3", true))
		case "bad":
			io.WriteString(w, string(readTestdata(t, "syncfolderitems", "invalidstate.response.xml")))
		}
	}))
	defer srv.Close()
	c, _ := New(srv.URL, nil)
	var got []string
	for page, err := range c.SyncFolderItemsPages(context.Background(), SyncFolderItemsRequest{Folder: DistinguishedFolder("inbox"), MaxChangesReturned: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range page.Changes {
			got = append(got, ch.Item.ID.ID)
		}
		got = append(got, page.SyncState)
	}
	if fmt.Sprint(got) != "[I1 I2 S1 I3 S2 S3]" || fmt.Sprint(sent) != "[ S1 S2]" {
		t.Fatalf("got %v, states sent %v", got, sent)
	}
	sent = nil
	for range c.SyncFolderItemsPages(context.Background(), SyncFolderItemsRequest{Folder: DistinguishedFolder("inbox")}) {
		break
	}
	if len(sent) != 1 {
		t.Fatalf("calls after break: %v", sent)
	}
	n := 0
	for page, err := range c.SyncFolderItemsPages(context.Background(), SyncFolderItemsRequest{Folder: DistinguishedFolder("inbox"), SyncState: "bad"}) {
		n++
		if page != nil || !errors.Is(err, ErrInvalidSyncStateData) {
			t.Fatalf("page %v err %v", page, err)
		}
	}
	if n != 1 {
		t.Fatalf("%d yields after an error", n)
	}
}

func TestClient_SyncFolderHierarchyPages(t *testing.T) {
	body := readTestdata(t, "syncfolderhierarchy", "initial.response.xml")
	srv := httptest.NewServer(&scripted{steps: []step{{status: 200, body: body}}})
	defer srv.Close()
	c, _ := New(srv.URL, nil)
	pages := 0
	for page, err := range c.SyncFolderHierarchyPages(context.Background(), SyncFolderHierarchyRequest{}) {
		if err != nil || len(page.Changes) != 5 {
			t.Fatal(err)
		}
		pages++
	}
	if pages != 1 {
		t.Fatalf("%d pages", pages)
	}
}

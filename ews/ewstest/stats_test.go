package ewstest

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// postCounted sends one request for alice and returns the length of the
// response body as received.
func postCounted(t *testing.T, srv *Server, op string) int64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(envStart+op+envEnd))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("X-AnchorMailbox", "alice@example.com")
	resp, err := srv.Client().Do(req)
	if err != nil {
		return 0 // a dropped connection
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(data))
}

func TestServer_RequestStats(t *testing.T) {
	srv, _ := newTestServer(t, nil)
	if st := srv.RequestStats(); len(st.Requests) != 0 || st.Bytes != 0 {
		t.Fatalf("a new server's stats: %+v", st)
	}
	getFolder := `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
		<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>`
	findItem := `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
		<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`
	var bytes int64
	bytes += postCounted(t, srv, getFolder)
	bytes += postCounted(t, srv, getFolder)
	bytes += postCounted(t, srv, findItem)
	srv.Faults().ServerBusy(1, time.Second)
	bytes += postCounted(t, srv, getFolder) // answered with a fault: seen all the same
	srv.Faults().DropConnections(1)
	postCounted(t, srv, findItem) // dropped before it was read: not seen
	bytes += postCounted(t, srv, `<m:NoSuchOperation/>`)

	st := srv.RequestStats()
	want := map[string]int64{"GetFolder": 3, "FindItem": 1, "NoSuchOperation": 1}
	if !maps.Equal(st.Requests, want) {
		t.Errorf("Requests = %v, want %v", st.Requests, want)
	}
	if st.Bytes != bytes || bytes == 0 {
		t.Errorf("Bytes = %d, want the %d bytes received", st.Bytes, bytes)
	}
	st.Requests["GetFolder"] = 100
	if srv.RequestStats().Requests["GetFolder"] != 3 {
		t.Error("RequestStats returned the server's own map")
	}
}

func TestControl_Stats(t *testing.T) {
	h := newControlHarness(t)
	req := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(envStart+`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
		<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>`+envEnd))
	req.Header.Set("X-AnchorMailbox", "alice@example.com")
	rec := httptest.NewRecorder()
	h.s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GetFolder: %d %s", rec.Code, rec.Body)
	}
	code, out := h.call("GET", "stats", h.token, "")
	if code != http.StatusOK {
		t.Fatalf("GET stats: %d %v", code, out)
	}
	reqs, _ := out["requests"].(map[string]any)
	if reqs["GetFolder"] != float64(1) || out["bytes"] != float64(rec.Body.Len()) || out["bytes"] == float64(0) {
		t.Errorf("GET stats = %v, want one GetFolder and the server's byte count", out)
	}
}

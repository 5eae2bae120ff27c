package ews

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

func TestNew_Validation(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		opts     *Options
	}{
		{"ftp://mail.example.com/EWS/Exchange.asmx", nil},
		{"https:///EWS/Exchange.asmx", nil},
		{"https://user:pw@mail.example.com/EWS/Exchange.asmx", nil},
		{"://bad", nil},
		{"https://user:pw@mail.example.com:badport/EWS", nil},
		{"https://mail.example.com/EWS/Exchange.asmx", &Options{Impersonation: &Impersonation{}}},
		{"https://mail.example.com/EWS/Exchange.asmx", &Options{Impersonation: &Impersonation{SMTPAddress: "a@b", SID: "S-1"}}},
		{"https://mail.example.com/EWS/Exchange.asmx", &Options{ServerVersion: `Exchange2013"/><x`}},
		{"https://mail.example.com/EWS/Exchange.asmx", &Options{MaxResponseBytes: -1}},
	} {
		_, err := New(tc.endpoint, tc.opts)
		if !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("New(%q, %+v) err = %v, want ErrInvalidOptions", tc.endpoint, tc.opts, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("credentials in error: %v", err)
		}
	}
	if _, err := New("https://mail.example.com/EWS/Exchange.asmx", nil); err != nil {
		t.Fatalf("nil options: %v", err)
	}
}

func TestClient_RequestValidation(t *testing.T) {
	c, _ := New("http://127.0.0.1:1/EWS/Exchange.asmx", nil) // never dialled
	ctx := context.Background()
	checks := map[string]error{}
	_, checks["GetFolder none"] = c.GetFolder(ctx, GetFolderRequest{})
	_, checks["GetFolder both"] = c.GetFolder(ctx, GetFolderRequest{Folders: []FolderRef{{ID: "x", Distinguished: "inbox"}}})
	_, checks["GetFolder bad tag"] = c.GetFolder(ctx, GetFolderRequest{Folders: []FolderRef{{ID: "x"}},
		Shape: FolderShape{Extended: []ExtendedFieldURI{{PropertyTag: "0x1FFFF", PropertyType: "Integer"}}}})
	_, checks["GetItem none"] = c.GetItem(ctx, GetItemRequest{})
	_, checks["GetItem empty id"] = c.GetItem(ctx, GetItemRequest{Items: []ItemID{{}}})
	_, checks["Sync 513"] = c.SyncFolderItems(ctx, SyncFolderItemsRequest{Folder: DistinguishedFolder("inbox"), MaxChangesReturned: 513})
	_, checks["Sync -1"] = c.SyncFolderItems(ctx, SyncFolderItemsRequest{Folder: DistinguishedFolder("inbox"), MaxChangesReturned: -1})
	_, checks["Sync mime"] = c.SyncFolderItems(ctx, SyncFolderItemsRequest{Folder: DistinguishedFolder("inbox"), Shape: ItemShape{IncludeMimeContent: true}})
	_, checks["Sync scope"] = c.SyncFolderItems(ctx, SyncFolderItemsRequest{Folder: DistinguishedFolder("inbox"), Scope: "All"})
	_, checks["Find paging"] = c.FindFolder(ctx, FindFolderRequest{Parent: DistinguishedFolder("root"), MaxEntries: 1001})
	_, checks["Find mailbox on id"] = c.FindFolder(ctx, FindFolderRequest{Parent: FolderRef{ID: "x", Mailbox: "a@b"}})
	for name, err := range checks {
		if !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
}

func TestClient_AffinityHeadersAndCookie(t *testing.T) {
	body := readTestdata(t, "getfolder", "legacy.response.xml")
	var mu sync.Mutex
	var seen []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		first := len(seen) == 1
		mu.Unlock()
		if first {
			http.SetCookie(w, &http.Cookie{Name: "X-BackEndOverrideCookie", Value: "MBX01.contoso.com~1941996295", Path: "/", Secure: true, HttpOnly: true})
		}
		w.Write(body)
	}))
	defer srv.Close()
	c, _ := New(srv.URL, &Options{Impersonation: &Impersonation{PrimarySMTPAddress: "mara@contoso.com"}, PreferServerAffinity: true})
	for range 2 {
		if err := getTwoFolders(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	// Another group has no cookie yet and names its own anchor.
	el := newOp("GetFolder")
	addFolderShape(el, FolderShape{})
	addFolderRef(el.CreateElement("m:FolderIds"), DistinguishedFolder("inbox"))
	el.CreateElement("m:FolderIds")
	if _, err := c.call(context.Background(), &callRequest{Op: "GetFolder", Body: el, Group: "g2", Anchor: "anchor@contoso.com"}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("%d requests", len(seen))
	}
	for i, h := range seen {
		if h.Get("X-PreferServerAffinity") != "true" || h.Get("Content-Type") != "text/xml; charset=utf-8" {
			t.Errorf("request %d headers %v", i, h)
		}
	}
	if seen[0].Get("X-AnchorMailbox") != "mara@contoso.com" || seen[0].Get("Cookie") != "" {
		t.Errorf("first request: anchor %q cookie %q", seen[0].Get("X-AnchorMailbox"), seen[0].Get("Cookie"))
	}
	if seen[1].Get("Cookie") != "X-BackEndOverrideCookie=MBX01.contoso.com~1941996295" {
		t.Errorf("second request cookie %q", seen[1].Get("Cookie"))
	}
	if seen[2].Get("Cookie") != "" || seen[2].Get("X-AnchorMailbox") != "anchor@contoso.com" {
		t.Errorf("other group: cookie %q anchor %q", seen[2].Get("Cookie"), seen[2].Get("X-AnchorMailbox"))
	}
	if got := c.backEndCookie(""); got != "MBX01.contoso.com~1941996295" {
		t.Errorf("cached cookie %q", got)
	}
	c.setBackEndCookie("g2", "MBX02~7")
	if c.backEndCookie("g2") != "MBX02~7" {
		t.Errorf("setBackEndCookie did not store")
	}
	c.setBackEndCookie("g2", "")
	if c.backEndCookie("g2") != "" {
		t.Errorf("setBackEndCookie did not forget")
	}
}

func TestClient_OpenStreamIsUnbufferedAndSeparate(t *testing.T) {
	release := make(chan struct{})
	first := "<first-envelope/>\n"
	closed := make(chan struct{}, 4)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(200)
		io.WriteString(w, first)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "<second-envelope/>\n")
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	defer close(release)
	c, _ := New(srv.URL, &Options{MaxResponseBytes: 8})
	el := newOp("GetStreamingEvents")
	resp, err := c.openStream(context.Background(), &callRequest{Op: "GetStreamingEvents", Body: el})
	if err != nil {
		t.Fatal(err)
	}
	// The first envelope is readable while the server still holds the
	// response open, and MaxResponseBytes does not apply.
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != first {
		t.Fatalf("read %q, %v", line, err)
	}
	// Closing the body drops the dedicated connection.
	resp.Body.Close()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("stream connection not closed after Body.Close")
	}
}

func TestClient_OpenStreamNTLMAuthenticatesItsOwnConnection(t *testing.T) {
	ns, _ := newNTLMFake(t, false, nil)
	ctx := context.Background()
	c, _ := New(ns.URL, &Options{Auth: NTLM(`CONTOSO\mara`, ntlmPassword)})
	sub, err := c.Subscribe(ctx, &SubscribeRequest{Kind: Streaming, AllFolders: true})
	if err != nil {
		t.Fatal(err)
	}
	op := newOp("GetStreamingEvents")
	op.CreateElement("m:SubscriptionIds").CreateElement("t:SubscriptionId").SetText(sub.ID)
	op.CreateElement("m:ConnectionTimeout").SetText("30")
	resp, err := c.openStream(ctx, &callRequest{Op: "GetStreamingEvents", Body: op})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// A sync call while the stream hangs uses (and authenticates) another
	// connection and is not blocked.
	if err := getTwoFolders(ctx, c); err != nil {
		t.Fatal(err)
	}
	authed := ns.authenticated()
	var streamConn string
	for _, l := range ns.snapshot() {
		if l.stream && l.kind == 3 && l.code == http.StatusOK {
			streamConn = l.conn
		}
	}
	if len(authed) != 2 || streamConn == "" || authed[streamConn] != 1 {
		t.Fatalf("authenticated connections %v, stream on %q, want 2 (legs %+v)", authed, streamConn, ns.snapshot())
	}
}

func TestClient_OpenStreamErrors(t *testing.T) {
	sc := &scripted{steps: []step{{status: 500, body: readTestdata(t, "fault", "serverbusy.response.xml")}, {status: 401}}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	c, _ := New(srv.URL, nil)
	_, err := c.openStream(context.Background(), &callRequest{Op: "GetStreamingEvents", Body: newOp("GetStreamingEvents")})
	if !errors.Is(err, ErrServerBusy) {
		t.Fatalf("err = %v", err)
	}
	_, err = c.openStream(context.Background(), &callRequest{Op: "GetStreamingEvents", Body: newOp("GetStreamingEvents")})
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v", err)
	}
}

func TestClient_MalformedResponses(t *testing.T) {
	valid := string(readTestdata(t, "getfolder", "legacy.response.xml"))
	deep := `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>` +
		strings.Repeat("<a>", 2000) + strings.Repeat("</a>", 2000) + `</s:Body></s:Envelope>`
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"truncated", 200, valid[:len(valid)/2], ErrMalformedResponse},
		{"html", 200, "<html><body>Outlook Web App</body></html>", ErrMalformedResponse},
		{"not xml", 200, "Service is up", ErrMalformedResponse},
		{"empty", 200, "", ErrMalformedResponse},
		{"https namespace", 200, strings.ReplaceAll(valid, "http://schemas.microsoft.com", "https://schemas.microsoft.com"), ErrMalformedResponse},
		{"soap 1.2", 200, strings.ReplaceAll(valid, "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"), ErrMalformedResponse},
		{"undeclared prefix", 200, strings.Replace(valid, `xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"`, "", 1), ewsxml.ErrUndeclaredPrefix},
		{"deeply nested", 200, deep, ewsxml.ErrTooDeep},
		{"too large", 200, valid + strings.Repeat(" ", 70000), ErrResponseTooLarge},
		{"too many tags", 200, strings.Replace(valid, "<m:Folders />", strings.Repeat("<x/>", 9000), 1), ewsxml.ErrTooManyTags},
		{"wrong operation", 200, strings.ReplaceAll(valid, "GetFolderResponse>", "GetItemResponse>"), ErrMalformedResponse},
		{"bad class", 200, strings.Replace(valid, `ResponseClass="Success"`, `ResponseClass="Fine"`, 1), ErrMalformedResponse},
		{"one message for two ids", 200, valid[:strings.Index(valid, `<m:GetFolderResponseMessage ResponseClass="Error">`)] + "</m:ResponseMessages></GetFolderResponse></soap:Body></soap:Envelope>", ErrMalformedResponse},
		{"html 500", 500, "<html>Runtime Error</html>", nil},
		{"redirect", 302, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.status == 302 {
				h.Set("Location", "https://mail.example.com/owa/auth/errorfe.aspx?httpCode=500")
			}
			sc := &scripted{steps: []step{{status: tc.status, header: h, body: []byte(tc.body)}}}
			srv := httptest.NewServer(sc)
			defer srv.Close()
			c, _ := New(srv.URL, &Options{MaxResponseBytes: 64 << 10, MaxResponseTags: 8000, Retry: noRetry()})
			rs, err := c.GetFolder(context.Background(), GetFolderRequest{Folders: []FolderRef{DistinguishedFolder("inbox"), {ID: "x"}}})
			if err == nil {
				t.Fatalf("no error; results %+v", rs)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil {
				var he *HTTPError
				if !errors.As(err, &he) || he.StatusCode != tc.status {
					t.Fatalf("err = %v, want *HTTPError %d", err, tc.status)
				}
			}
			if tc.want == ewsxml.ErrTooDeep || tc.want == ewsxml.ErrUndeclaredPrefix || tc.want == ewsxml.ErrTooManyTags {
				if !errors.Is(err, ErrMalformedResponse) {
					t.Fatalf("err = %v, want it to wrap ErrMalformedResponse too", err)
				}
			}
		})
	}
}

func TestClient_MalformedItemFailsOnlyThatItem(t *testing.T) {
	body := strings.Replace(string(readTestdata(t, "getitem", "batch.response.xml")),
		"<t:Size>2048</t:Size>", "<t:Size>big</t:Size>", 1)
	srv := httptest.NewServer(&scripted{steps: []step{{status: 200, body: []byte(body)}}})
	defer srv.Close()
	c, _ := New(srv.URL, nil)
	rs, err := c.GetItem(context.Background(), GetItemRequest{Items: []ItemID{{ID: "a"}, {ID: "b"}, {ID: "c"}}})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Err != nil || !errors.Is(rs[1].Err, ErrItemNotFound) || !errors.Is(rs[2].Err, ErrMalformedResponse) {
		t.Fatalf("errs = %v / %v / %v", rs[0].Err, rs[1].Err, rs[2].Err)
	}
}

func TestClient_ContextCancelledBeforeSend(t *testing.T) {
	sc := &scripted{steps: []step{{status: 200}}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	c, _ := New(srv.URL, &Options{Auth: NTLM("u", "p")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := getOne(ctx, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestClient_ImpersonationHeaders(t *testing.T) {
	for _, tc := range []struct {
		im   Impersonation
		want string
	}{
		{Impersonation{SMTPAddress: "a@contoso.com"}, "<t:SmtpAddress>a@contoso.com</t:SmtpAddress>"},
		{Impersonation{PrimarySMTPAddress: "b@contoso.com"}, "<t:PrimarySmtpAddress>b@contoso.com</t:PrimarySmtpAddress>"},
		{Impersonation{PrincipalName: "c@contoso.local"}, "<t:PrincipalName>c@contoso.local</t:PrincipalName>"},
		{Impersonation{SID: "S-1-5-21-1"}, "<t:SID>S-1-5-21-1</t:SID>"},
	} {
		rs := newReplayServer(t, 200, readTestdata(t, "getfolder", "legacy.response.xml"))
		c, _ := New(rs.URL, &Options{Impersonation: &tc.im, ServerVersion: "Exchange2010_SP1"})
		if err := getTwoFolders(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		req := string(rs.requests[0])
		want := `<soap:Header><t:RequestServerVersion Version="Exchange2010_SP1"/><t:ExchangeImpersonation><t:ConnectingSID>` + tc.want + `</t:ConnectingSID></t:ExchangeImpersonation></soap:Header>`
		if !strings.Contains(req, want) {
			t.Errorf("request lacks %s:\n%s", want, req)
		}
		h := rs.headers[0]
		if tc.im.PrincipalName == "" && tc.im.SID == "" && h.Get("X-AnchorMailbox") == "" {
			t.Errorf("no anchor for an SMTP impersonation")
		}
		if h.Get("User-Agent") != DefaultUserAgent {
			t.Errorf("User-Agent %q", h.Get("User-Agent"))
		}
		if h.Get("client-request-id") == "" || h.Get("return-client-request-id") != "true" {
			t.Errorf("no client-request-id: %v", h)
		}
	}
}

func TestClient_UnlistedItemAndFolderKinds(t *testing.T) {
	body := strings.NewReplacer("<t:MeetingRequest>", "<t:Task>", "</t:MeetingRequest>", "</t:Task>").
		Replace(string(readTestdata(t, "syncfolderitems", "changes.response.xml")))
	srv := httptest.NewServer(&scripted{steps: []step{{status: 200, body: []byte(body)}}})
	defer srv.Close()
	c, _ := New(srv.URL, nil)
	r, err := c.SyncFolderItems(context.Background(), SyncFolderItemsRequest{Folder: DistinguishedFolder("inbox")})
	if err != nil || r.Changes[2].Item.Kind != "Task" || r.Changes[2].Item.Subject != "Budget Q3" {
		t.Fatalf("err %v, change %+v", err, r.Changes[2])
	}
}

func TestClient_CloseIdleConnections(t *testing.T) {
	ns, _ := newNTLMFake(t, false, nil)
	c, _ := New(ns.URL, &Options{Auth: NTLM(`CONTOSO\mara`, ntlmPassword)})
	for range 2 {
		if err := getTwoFolders(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		c.CloseIdleConnections()
	}
	// Closing forces a new connection, which must authenticate again.
	auths := 0
	for _, n := range ns.authenticated() {
		auths += n
	}
	if auths != 2 {
		t.Fatalf("%d handshakes, want 2", auths)
	}
}

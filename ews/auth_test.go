package ews

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// soapOK serves the canned GetFolder response.
func soapOK(t testing.TB) http.Handler {
	body := readTestdata(t, "getfolder", "legacy.response.xml")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Write(body)
	})
}

func getTwoFolders(ctx context.Context, c *Client) error {
	rs, err := c.GetFolder(ctx, GetFolderRequest{Folders: []FolderRef{DistinguishedFolder("inbox"), {ID: "x"}}})
	if err != nil {
		return err
	}
	return rs[0].Err
}

func TestAuth_NTLMHandshakeOnOneConnection(t *testing.T) {
	ns, _ := newNTLMFake(t, false, nil)
	var dbg bytes.Buffer
	var logs bytes.Buffer
	c, err := New(ns.URL, &Options{Auth: NTLM(`CONTOSO\mara`, ntlmPassword), DebugWriter: &dbg,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := getTwoFolders(context.Background(), c); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	legs := ns.snapshot()
	// anonymous -> 401, NEGOTIATE -> 401 + challenge, AUTHENTICATE -> 200,
	// then the second call rides the authenticated connection.
	want := []struct{ kind, code int }{{0, 401}, {1, 401}, {3, 200}, {0, 200}}
	if len(legs) != len(want) {
		t.Fatalf("legs = %+v", legs)
	}
	for i, w := range want {
		if legs[i].kind != w.kind || legs[i].code != w.code || legs[i].conn != legs[0].conn {
			t.Errorf("leg %d = %+v, want kind %d code %d on %s", i, legs[i], w.kind, w.code, legs[0].conn)
		}
	}
	for _, out := range []string{dbg.String(), logs.String()} {
		if strings.Contains(out, "s3cret-Pa55") || strings.Contains(out, "NTLM TlRMTVNT") {
			t.Errorf("credentials leaked: %s", out)
		}
	}
	if !strings.Contains(dbg.String(), "<m:GetFolder>") {
		t.Errorf("debug dump lacks the request body")
	}
}

func TestAuth_NTLMWrongPassword(t *testing.T) {
	ns, _ := newNTLMFake(t, false, nil)
	c, _ := New(ns.URL, &Options{Auth: NTLM(`CONTOSO\mara`, "wrong-password")})
	err := getTwoFolders(context.Background(), c)
	var he *HTTPError
	if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &he) || he.StatusCode != 401 {
		t.Fatalf("err = %v, want 401", err)
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("password in error: %v", err)
	}
}

func TestAuth_NTLMConcurrentRequestsKeepHandshakesApart(t *testing.T) {
	ns, _ := newNTLMFake(t, false, nil)
	c, _ := New(ns.URL, &Options{Auth: NTLM(`CONTOSO\mara`, ntlmPassword), MaxConnections: 3})
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for range 24 {
		wg.Go(func() { errs <- getTwoFolders(context.Background(), c) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	conns := map[string]bool{}
	for _, l := range ns.snapshot() {
		conns[l.conn] = true
		if l.code == 401 && l.kind == 3 {
			t.Errorf("an AUTHENTICATE leg failed: %+v", l)
		}
	}
	if len(conns) > 3 {
		t.Errorf("%d connections used, MaxConnections is 3", len(conns))
	}
}

func TestAuth_Basic(t *testing.T) {
	ok := soapOK(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, has := r.BasicAuth()
		if !has || u != "mara@contoso.com" || p != "pa:ss" {
			w.Header().Set("WWW-Authenticate", `Basic realm="ews"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ok.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, _ := New(srv.URL, &Options{Auth: Basic("mara@contoso.com", "pa:ss")})
	if err := getTwoFolders(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	bad, _ := New(srv.URL, &Options{Auth: Basic("mara@contoso.com", "nope")})
	if err := getTwoFolders(context.Background(), bad); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	none, _ := New(srv.URL, nil)
	if err := getTwoFolders(context.Background(), none); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
}

func TestAuth_Bearer(t *testing.T) {
	ok := soapOK(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-2" || r.Header.Get("X-AnchorMailbox") != "mara@contoso.com" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ok.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var mu sync.Mutex
	n := 0
	ts := TokenSourceFunc(func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 1 {
			return "tok-1", nil // expired: the server refuses it
		}
		return "tok-2", nil
	})
	var dbg bytes.Buffer
	c, _ := New(srv.URL, &Options{Auth: Bearer(ts), Impersonation: &Impersonation{SMTPAddress: "mara@contoso.com"}, DebugWriter: &dbg})
	if err := getTwoFolders(context.Background(), c); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("first call err = %v, want ErrUnauthorized", err)
	}
	if err := getTwoFolders(context.Background(), c); err != nil {
		t.Fatalf("second call: %v", err)
	}
	if strings.Contains(dbg.String(), "tok-") {
		t.Errorf("token in debug output")
	}
	failing := TokenSourceFunc(func(ctx context.Context) (string, error) { return "", errors.New("refresh token revoked") })
	c2, _ := New(srv.URL, &Options{Auth: Bearer(failing)})
	if err := getTwoFolders(context.Background(), c2); !errors.Is(err, ErrToken) {
		t.Fatalf("err = %v, want ErrToken", err)
	}
}

func TestDebugWriter_RedactsAuthorization(t *testing.T) {
	var b bytes.Buffer
	h := http.Header{"Authorization": {"Basic c2VjcmV0"}, "X-Anchormailbox": {"a@b"}}
	writeHeaders(&b, "> ", h)
	if strings.Contains(b.String(), "c2VjcmV0") || !strings.Contains(b.String(), "Authorization: [redacted]") {
		t.Fatalf("dump = %q", b.String())
	}
}

func TestAuth_NTLMOverTLSWithHTTP2Offered(t *testing.T) {
	ns, hc := newNTLMFake(t, true, nil)
	c, err := New(ns.URL, &Options{HTTPClient: hc, Auth: NTLM(`CONTOSO\mara`, ntlmPassword)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := getTwoFolders(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	legs := ns.snapshot()
	if len(legs) != 4 || legs[2].kind != 3 || legs[3].conn != legs[0].conn {
		t.Fatalf("legs = %+v", legs)
	}
}

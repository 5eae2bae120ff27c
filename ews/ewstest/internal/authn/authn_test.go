package authn

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

var users = map[string]string{"alice": "secret", "Bob": "hunter2"}

// echo answers with the authenticated user, and counts its calls.
type echo struct{ calls atomic.Int32 }

func (e *echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.calls.Add(1)
	u, ok := UserFromContext(r.Context())
	if !ok {
		u = "<anonymous>"
	}
	io.WriteString(w, u)
}

func newServer(t *testing.T, cfg Config) (*httptest.Server, *echo) {
	t.Helper()
	e := &echo{}
	m, err := New(cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(m)
	srv.Config.ConnContext = ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, e
}

func do(t *testing.T, srv *httptest.Server, auth string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("POST", srv.URL+"/EWS/Exchange.asmx", strings.NewReader("<x/>"))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestMiddleware_Basic(t *testing.T) {
	srv, e := newServer(t, Config{Mode: ModeBasic, Users: users})
	tests := []struct {
		name, auth string
		code       int
		user       string
	}{
		{"plain name", BasicHeader("alice", "secret"), 200, "alice"},
		{"upper case name", BasicHeader("ALICE", "secret"), 200, "alice"},
		{"domain backslash", BasicHeader(`EXAMPLE\bob`, "hunter2"), 200, "Bob"},
		{"upn", BasicHeader("bob@example.com", "hunter2"), 200, "Bob"},
		{"wrong password", BasicHeader("alice", "Secret"), 401, ""},
		{"unknown user", BasicHeader("carol", "secret"), 401, ""},
		{"no header", "", 401, ""},
		{"bearer instead", "Bearer abc", 401, ""},
		{"garbage", "Basic !!!", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.calls.Load()
			code, body, h := do(t, srv, tt.auth)
			if code != tt.code {
				t.Fatalf("status %d, want %d", code, tt.code)
			}
			if tt.code == 200 && body != tt.user {
				t.Fatalf("user %q, want %q", body, tt.user)
			}
			if tt.code == 401 {
				if got := h.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic realm=") {
					t.Fatalf("WWW-Authenticate %q", got)
				}
				if e.calls.Load() != before {
					t.Fatal("handler ran for a rejected request")
				}
			}
		})
	}
}

func TestMiddleware_Bearer(t *testing.T) {
	srv, e := newServer(t, Config{Mode: ModeBearer, Users: users, Tokens: map[string]string{"tok-a": "alice", "tok-b": "bob"}})
	code, body, _ := do(t, srv, "Bearer tok-a")
	if code != 200 || body != "alice" {
		t.Fatalf("tok-a: %d %q", code, body)
	}
	code, body, _ = do(t, srv, "bearer tok-b")
	if code != 200 || body != "Bob" {
		t.Fatalf("tok-b: %d %q", code, body)
	}
	n := e.calls.Load()
	code, _, h := do(t, srv, "Bearer tok-c")
	if code != 401 || h.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Fatalf("bad token: %d %q", code, h.Get("WWW-Authenticate"))
	}
	code, _, h = do(t, srv, "")
	if code != 401 || h.Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("no token: %d %q", code, h.Get("WWW-Authenticate"))
	}
	code, _, _ = do(t, srv, BasicHeader("alice", "secret"))
	if code != 401 {
		t.Fatalf("basic in bearer mode: %d", code)
	}
	if e.calls.Load() != n {
		t.Fatal("handler ran for a rejected request")
	}
}

func TestMiddleware_None(t *testing.T) {
	srv, _ := newServer(t, Config{Users: users})
	code, body, _ := do(t, srv, "")
	if code != 200 || body != "<anonymous>" {
		t.Fatalf("anonymous: %d %q", code, body)
	}
	code, body, _ = do(t, srv, BasicHeader("alice", "secret"))
	if code != 200 || body != "alice" {
		t.Fatalf("basic in none mode: %d %q", code, body)
	}
	code, body, _ = do(t, srv, BasicHeader("alice", "wrong"))
	if code != 200 || body != "<anonymous>" {
		t.Fatalf("wrong basic in none mode: %d %q", code, body)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"unknown mode", Config{Mode: "kerberos"}, ErrUnknownMode},
		{"basic without users", Config{Mode: ModeBasic}, ErrNoUsers},
		{"ntlm without users", Config{Mode: ModeNTLM}, ErrNoUsers},
		{"bearer without tokens", Config{Mode: ModeBearer, Users: users}, ErrNoUsers},
		{"token for stranger", Config{Mode: ModeBearer, Users: users, Tokens: map[string]string{"t": "carol"}}, ErrTokenUser},
		{"none", Config{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if !errors.Is(err, tt.want) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
			if _, err := New(tt.cfg, http.NotFoundHandler()); !errors.Is(err, tt.want) {
				t.Fatalf("New() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMiddleware_Lookup(t *testing.T) {
	// Users known only through Lookup (added while the server runs).
	lookup := func(name string) (string, string, bool) {
		if strings.EqualFold(name, "dave") {
			return "dave", "pw", true
		}
		return "", "", false
	}
	srv, _ := newServer(t, Config{Mode: ModeBasic, Lookup: lookup})
	if code, body, _ := do(t, srv, BasicHeader("DAVE@example.com", "pw")); code != 200 || body != "dave" {
		t.Fatalf("lookup user: %d %q", code, body)
	}
	if code, _, _ := do(t, srv, BasicHeader("dave", "px")); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	bsrv, _ := newServer(t, Config{Mode: ModeBearer, Lookup: lookup, Tokens: map[string]string{"t1": "dave", "t2": "erin"}})
	if code, body, _ := do(t, bsrv, "Bearer t1"); code != 200 || body != "dave" {
		t.Fatalf("token of a looked-up user: %d %q", code, body)
	}
	if code, _, _ := do(t, bsrv, "Bearer t2"); code != 401 {
		t.Fatalf("token of a missing user: %d", code)
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"none", "Basic", "BEARER", "ntlm"} {
		if _, err := ParseMode(s); err != nil {
			t.Errorf("ParseMode(%q): %v", s, err)
		}
	}
	if _, err := ParseMode("digest"); !errors.Is(err, ErrUnknownMode) {
		t.Errorf("ParseMode(digest) = %v", err)
	}
}

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{"alice": "alice", `EX\alice`: "alice", "alice@example.com": "alice", `a\b@c`: "b"} {
		if got := CanonicalName(in); got != want {
			t.Errorf("CanonicalName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMiddleware_NTLM(t *testing.T) {
	srv, e := newServer(t, Config{Mode: ModeNTLM, Users: users})
	for _, cred := range []struct{ user, pass, want string }{
		{`EXAMPLE\alice`, "secret", "alice"},
		{"bob@example.com", "hunter2", "Bob"},
		{"alice", "nope", ""},
	} {
		// NTLM authenticates a connection: each identity needs its own.
		c := &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: &http.Transport{}}}
		before := e.calls.Load()
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("<x/>"))
		req.SetBasicAuth(cred.user, cred.pass)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if cred.want == "" {
			if resp.StatusCode != 401 || e.calls.Load() != before {
				t.Fatalf("%s with a wrong password: %d, handler calls %d", cred.user, resp.StatusCode, e.calls.Load()-before)
			}
			continue
		}
		if resp.StatusCode != 200 || string(b) != cred.want {
			t.Fatalf("%s: %d %q", cred.user, resp.StatusCode, b)
		}
	}
}

func TestMiddleware_NTLMWithoutConnContext(t *testing.T) {
	m, err := New(Config{Mode: ModeNTLM, Users: users}, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m)
	defer srv.Close()
	code, _, _ := do(t, srv, "")
	if code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 when ConnContext is missing", code)
	}
}

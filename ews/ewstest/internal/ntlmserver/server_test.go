package ntlmserver

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

var testNow = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func lookup(user, domain string) (string, string, bool) {
	if i := strings.IndexByte(user, '@'); i >= 0 {
		user = user[:i]
	}
	if strings.EqualFold(user, "alice") {
		return "alice", "secret", true
	}
	return "", "", false
}

func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{Domain: "EXAMPLE", Computer: "EXCH01", DNSDomain: "example.com",
		DNSComputer: "exch01.example.com", Lookup: lookup, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// harness is an HTTP server whose handler authenticates with NTLM, and
// which counts connections, handler calls and requests carrying headers.
type harness struct {
	*httptest.Server
	conns    atomic.Int32
	calls    atomic.Int32
	withAuth atomic.Int32
	mu       sync.Mutex
	seen     []string // WWW-Authenticate values sent
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	s := newTestServer(t)
	h := &harness{}
	h.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			h.withAuth.Add(1)
		}
		user, ok := s.Authenticate(w, r)
		if !ok {
			return
		}
		h.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, user+":"+string(body))
	}))
	h.Config.ConnContext = ConnContext
	h.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			h.conns.Add(1)
		}
	}
	h.Start()
	t.Cleanup(h.Close)
	return h
}

func ntlmClient() *http.Client {
	return &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: &http.Transport{}}}
}

func post(t *testing.T, c *http.Client, url, user, pass, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer_GoNTLMSSPHandshake(t *testing.T) {
	for _, name := range []string{"alice", `EXAMPLE\alice`, "alice@example.com", "ALICE"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			c := ntlmClient()
			code, body := post(t, c, h.URL, name, "secret", "<one/>")
			if code != 200 || body != "alice:<one/>" {
				t.Fatalf("first request: %d %q", code, body)
			}
			// The connection is authenticated now: the client's next request
			// (sent without credentials first) needs no new handshake.
			auth := h.withAuth.Load()
			code, body = post(t, c, h.URL, name, "secret", "<two/>")
			if code != 200 || body != "alice:<two/>" {
				t.Fatalf("second request: %d %q", code, body)
			}
			if got := h.withAuth.Load(); got != auth {
				t.Fatalf("second request on the same connection sent %d Authorization headers", got-auth)
			}
			if n := h.conns.Load(); n != 1 {
				t.Fatalf("%d connections, want 1 keep-alive connection", n)
			}
		})
	}
}

func TestServer_NewConnectionMustAuthenticate(t *testing.T) {
	h := newHarness(t)
	c := ntlmClient()
	if code, _ := post(t, c, h.URL, "alice", "secret", "x"); code != 200 {
		t.Fatalf("handshake: %d", code)
	}
	// A different client means a different TCP connection.
	other := &http.Client{Transport: &http.Transport{}}
	code, _ := post(t, other, h.URL, "", "", "x")
	if code != 401 {
		t.Fatalf("unauthenticated request on a new connection: %d", code)
	}
	if h.calls.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", h.calls.Load())
	}
}

func TestServer_WrongPassword(t *testing.T) {
	for _, cred := range [][2]string{{"alice", "Secret"}, {"mallory", "secret"}} {
		h := newHarness(t)
		code, _ := post(t, ntlmClient(), h.URL, cred[0], cred[1], "x")
		if code != 401 {
			t.Fatalf("%v: status %d, want 401", cred, code)
		}
		if h.calls.Load() != 0 {
			t.Fatalf("%v: handler ran", cred)
		}
	}
}

func TestServer_Unauthenticated401(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Post(h.URL, "text/xml", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := resp.Header.Values("WWW-Authenticate")
	if len(got) != 2 || got[0] != "NTLM" || got[1] != "Negotiate" {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

// handshake performs NEGOTIATE and returns the challenge sent back, on c.
func handshake(t *testing.T, c *http.Client, url, scheme string) []byte {
	t.Helper()
	neg, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", url, strings.NewReader("x"))
	req.Header.Set("Authorization", scheme+" "+base64.StdEncoding.EncodeToString(neg))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("negotiate: status %d", resp.StatusCode)
	}
	v := resp.Header.Get("WWW-Authenticate")
	if !strings.HasPrefix(v, scheme+" ") {
		t.Fatalf("challenge header %q", v)
	}
	ch, err := base64.StdEncoding.DecodeString(v[len(scheme)+1:])
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func sendAuth(t *testing.T, c *http.Client, url, scheme string, msg []byte) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader("x"))
	req.Header.Set("Authorization", scheme+" "+base64.StdEncoding.EncodeToString(msg))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestServer_NegotiateScheme(t *testing.T) {
	h := newHarness(t)
	c := &http.Client{Transport: &http.Transport{}}
	ch := handshake(t, c, h.URL, "Negotiate")
	auth, err := ntlmssp.NewAuthenticateMessage(ch, "alice", "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	if code := sendAuth(t, c, h.URL, "Negotiate", auth); code != 200 {
		t.Fatalf("authenticate: %d", code)
	}
	// Replaying the same AUTHENTICATE: the challenge is spent.
	if code := sendAuth(t, c, h.URL, "Negotiate", auth); code != 401 {
		t.Fatalf("replayed authenticate: %d", code)
	}
}

// authMsg builds an AUTHENTICATE message with the given responses.
func authMsg(user, domain string, lm, nt []byte, flags uint32) []byte {
	u, d := encodeUTF16(user), encodeUTF16(domain)
	msg := make([]byte, 64)
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeAuthenticate)
	binary.LittleEndian.PutUint32(msg[60:], flags|flagUnicode)
	put := func(off int, v []byte) {
		binary.LittleEndian.PutUint16(msg[off:], uint16(len(v)))
		binary.LittleEndian.PutUint16(msg[off+2:], uint16(len(v)))
		binary.LittleEndian.PutUint32(msg[off+4:], uint32(len(msg)))
		msg = append(msg, v...)
	}
	put(12, lm)
	put(20, nt)
	put(28, d)
	put(36, u)
	put(44, nil)
	put(52, nil)
	return msg
}

func TestServer_RefusesV1AndAnonymous(t *testing.T) {
	s := newTestServer(t)
	neg, _ := ntlmssp.NewNegotiateMessage("", "")
	ch, err := s.Challenge(neg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{"ntlmv1", authMsg("alice", "EXAMPLE", make([]byte, 24), make([]byte, 24), 0), ErrNTLMv1},
		{"lm only", authMsg("alice", "EXAMPLE", make([]byte, 24), nil, 0), ErrNTLMv1},
		{"anonymous", authMsg("", "", []byte{0}, nil, 0), ErrAnonymous},
		{"anonymous flag", authMsg("alice", "", nil, make([]byte, 60), flagAnonymous), ErrAnonymous},
		{"short v2", authMsg("alice", "EXAMPLE", nil, make([]byte, 30), 0), ErrMalformed},
		{"garbage v2", authMsg("alice", "EXAMPLE", nil, make([]byte, 60), 0), ErrBadCredentials},
		{"negotiate instead", neg, ErrUnexpectedMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Verify(ch, tt.msg); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := s.Verify(nil, tests[0].msg); !errors.Is(err, ErrUnexpectedMessage) {
		t.Fatalf("Verify without challenge = %v", err)
	}

	// Over HTTP, an NTLMv1 answer gets 401 and the handler does not run.
	h := newHarness(t)
	c := &http.Client{Transport: &http.Transport{}}
	handshake(t, c, h.URL, "NTLM")
	if code := sendAuth(t, c, h.URL, "NTLM", tests[0].msg); code != 401 {
		t.Fatalf("v1 over HTTP: %d", code)
	}
	handshake(t, c, h.URL, "NTLM")
	if code := sendAuth(t, c, h.URL, "NTLM", tests[2].msg); code != 401 {
		t.Fatalf("anonymous over HTTP: %d", code)
	}
	if h.calls.Load() != 0 {
		t.Fatal("handler ran")
	}
}

func TestServer_ChallengeContents(t *testing.T) {
	s := newTestServer(t)
	neg, _ := ntlmssp.NewNegotiateMessage("", "")
	ch, err := s.Challenge(neg)
	if err != nil {
		t.Fatal(err)
	}
	m := ch.Message
	if typ, err := MessageType(m); err != nil || typ != typeChallenge {
		t.Fatalf("type %d, %v", typ, err)
	}
	if !bytes.Equal(m[24:32], ch.ServerChallenge[:]) {
		t.Fatal("server challenge not in message")
	}
	flags := binary.LittleEndian.Uint32(m[20:])
	for _, f := range []uint32{flagUnicode, flagNTLM, flagTargetInfo, flagExtendedSessionSecure} {
		if flags&f == 0 {
			t.Errorf("flag %#x not set in %#x", f, flags)
		}
	}
	if flags&flagKeyExch != 0 || flags&flagLMKey != 0 {
		t.Errorf("flags %#x grant what the client did not ask for", flags)
	}
	info, err := field(m, 40)
	if err != nil {
		t.Fatal(err)
	}
	av := map[uint16][]byte{}
	for len(info) >= 4 {
		id, n := binary.LittleEndian.Uint16(info), int(binary.LittleEndian.Uint16(info[2:]))
		av[id] = info[4 : 4+n]
		info = info[4+n:]
		if id == avEOL {
			break
		}
	}
	want := map[uint16]string{avNbDomainName: "EXAMPLE", avNbComputerName: "EXCH01",
		avDNSDomainName: "example.com", avDNSComputerName: "exch01.example.com"}
	for id, v := range want {
		got, _ := decodeUTF16(av[id])
		if got != v {
			t.Errorf("AV %d = %q, want %q", id, got, v)
		}
	}
	if ts := binary.LittleEndian.Uint64(av[avTimestamp]); ts != filetime(testNow) {
		t.Errorf("timestamp %d, want %d", ts, filetime(testNow))
	}
	ch2, _ := s.Challenge(neg)
	if ch2.ServerChallenge == ch.ServerChallenge {
		t.Fatal("two challenges share a nonce")
	}
}

func TestNTOWFv2_MSNLMPVector(t *testing.T) {
	// MS-NLMP 4.2.4.1.1: NTOWFv2("Password", "User", "Domain").
	got := hex.EncodeToString(ntowfv2("Password", "User", "Domain"))
	if got != "0c868a403bfd7a93a3001ef22ef02e3f" {
		t.Fatalf("NTOWFv2 = %s", got)
	}
}

func TestServer_MalformedNeverPanics(t *testing.T) {
	s := newTestServer(t)
	neg, _ := ntlmssp.NewNegotiateMessage("", "")
	ch, _ := s.Challenge(neg)
	good, _ := ntlmssp.NewAuthenticateMessage(ch.Message, "alice", "secret", nil)
	if u, err := s.Verify(ch, good); err != nil || u != "alice" {
		t.Fatalf("good message: %q %v", u, err)
	}
	for n := 0; n < len(good); n++ {
		if _, err := s.Verify(ch, good[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
	for i := 0; i < len(good); i++ {
		bad := bytes.Clone(good)
		bad[i] ^= 0xff
		if u, err := s.Verify(ch, bad); err == nil && i >= 64 {
			// Flipping a byte of the payload must break the proof (the
			// header's unused bytes may be flipped harmlessly).
			t.Fatalf("byte %d flipped: accepted as %q", i, u)
		}
	}
	if _, err := s.Challenge([]byte("NTLMSSP\x00\x01")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short negotiate: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	s, _ := New(Config{Domain: "D", Computer: "C", DNSDomain: "d", DNSComputer: "c", Lookup: lookup})
	neg, _ := ntlmssp.NewNegotiateMessage("", "")
	ch, _ := s.Challenge(neg)
	good, _ := ntlmssp.NewAuthenticateMessage(ch.Message, "alice", "secret", nil)
	f.Add(good)
	f.Add(neg)
	f.Fuzz(func(t *testing.T, msg []byte) {
		s.Verify(ch, msg)
		s.Challenge(msg)
	})
}

func TestServer_ParallelConnections(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ntlmClient()
			pass := "secret"
			if g%4 == 3 {
				pass = "wrong"
			}
			for i := range 5 {
				req, _ := http.NewRequest("POST", h.URL, strings.NewReader("x"))
				req.SetBasicAuth("alice", pass)
				resp, err := c.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				want := 200
				if pass == "wrong" {
					want = 401
				}
				if resp.StatusCode != want {
					errs <- fmt.Sprintf("client %d request %d: %d, want %d", g, i, resp.StatusCode, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := h.calls.Load(); got != 6*5 {
		t.Fatalf("handler ran %d times, want 30", got)
	}
}

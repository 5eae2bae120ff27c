package ews

import (
	"bytes"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mailsync/mailsync/ews/ewstest"
)

// The NTLM tests run the client against the fake Exchange server's own
// NTLMv2 implementation (ewstest with AuthNTLM), which verifies the
// NTProofStr and, as IIS does, authenticates the TCP connection. A
// middleware in front of it records every request leg.

const (
	ntlmUser     = "mara"
	ntlmPassword = "s3cret-Pa55"
	ntlmDomain   = "CONTOSO"
)

// ntlmLeg records one request the server saw.
type ntlmLeg struct {
	conn   string
	kind   int  // NTLM message type of the Authorization header: 0 none, 1 NEGOTIATE, 3 AUTHENTICATE
	code   int  // status answered
	stream bool // a GetStreamingEvents request
}

// ntlmFake is the fake server with NTLM and its leg record.
type ntlmFake struct {
	srv  *ewstest.Server
	URL  string
	mu   sync.Mutex
	legs []ntlmLeg
}

// newNTLMFake starts the fake with NTLM for ntlmUser; tweak may adjust
// its options. With tlsH2 it serves over TLS with HTTP/2 offered, and
// client is the HTTP client trusting it.
func newNTLMFake(t testing.TB, tlsH2 bool, tweak func(*ewstest.Options)) (f *ntlmFake, client *http.Client) {
	t.Helper()
	f = &ntlmFake{}
	opts := ewstest.Options{
		Users:      []ewstest.User{{Name: ntlmUser, Password: ntlmPassword, Address: ntlmUser + "@contoso.com"}},
		Auth:       ewstest.AuthOptions{Mode: ewstest.AuthNTLM, Domain: ntlmDomain},
		Logger:     slog.New(slog.DiscardHandler),
		Middleware: []func(http.Handler) http.Handler{f.record},
	}
	if tweak != nil {
		tweak(&opts)
	}
	f.srv = ewstest.NewUnstartedServer(opts)
	if !tlsH2 {
		f.srv.Start()
		f.URL = f.srv.URL
		t.Cleanup(f.srv.Close)
		return f, nil
	}
	ts := httptest.NewUnstartedServer(f.srv.Handler())
	ts.Config.ConnContext = f.srv.ConnContext
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	f.URL = ts.URL + ewstest.Path
	return f, ts.Client()
}

// record is the middleware that notes each leg, as soon as its status is
// known (a hanging streaming response is noted when its headers go out).
func (f *ntlmFake) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &legRecorder{ResponseWriter: w, f: f, leg: ntlmLeg{conn: r.RemoteAddr, kind: ntlmKind(r.Header.Get("Authorization")),
			stream: bytes.Contains(body, []byte("GetStreamingEvents"))}}
		next.ServeHTTP(rec, r)
		rec.WriteHeader(http.StatusOK) // notes the leg if the handler wrote nothing
	})
}

// snapshot returns the legs recorded so far.
func (f *ntlmFake) snapshot() []ntlmLeg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ntlmLeg(nil), f.legs...)
}

// authenticated returns the connections an AUTHENTICATE leg succeeded
// on, with the number of such legs.
func (f *ntlmFake) authenticated() map[string]int {
	out := map[string]int{}
	for _, l := range f.snapshot() {
		if l.kind == 3 && l.code == http.StatusOK {
			out[l.conn]++
		}
	}
	return out
}

// ntlmKind returns the NTLM message type an Authorization header carries.
func ntlmKind(h string) int {
	tok, ok := strings.CutPrefix(h, "NTLM ")
	if !ok {
		return 0
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || len(b) < 12 {
		return -1
	}
	return int(b[8])
}

// legRecorder notes its leg with the status the handler answers, and
// keeps flushing (streaming responses) working.
type legRecorder struct {
	http.ResponseWriter
	f     *ntlmFake
	leg   ntlmLeg
	noted bool
}

func (w *legRecorder) note(code int) {
	if w.noted {
		return
	}
	w.noted = true
	w.leg.code = code
	w.f.mu.Lock()
	w.f.legs = append(w.f.legs, w.leg)
	w.f.mu.Unlock()
}

func (w *legRecorder) WriteHeader(code int) {
	if w.noted {
		return
	}
	w.note(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *legRecorder) Write(p []byte) (int, error) {
	w.note(http.StatusOK)
	return w.ResponseWriter.Write(p)
}

func (w *legRecorder) Flush() {
	w.note(http.StatusOK)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *legRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

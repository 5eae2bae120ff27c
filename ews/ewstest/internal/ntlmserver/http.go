package ntlmserver

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// connState is the NTLM state of one TCP connection.
type connState struct {
	mu      sync.Mutex
	pending *Challenge
	user    string
}

type connKey struct{}

// ConnContext gives each connection its NTLM state. Install it as
// http.Server.ConnContext (it composes: it only adds a value to ctx).
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

// Authenticate runs one step of the HTTP handshake for r. It returns the
// user name and true when the request is authenticated (by its own
// AUTHENTICATE message or by an earlier handshake on the same connection);
// otherwise it has written the 401 (or 500 without ConnContext) to w and
// returns false, and the caller must not touch w again.
func (s *Server) Authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		drain(r)
		http.Error(w, ErrNoConnState.Error(), http.StatusInternalServerError)
		return "", false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()

	h := r.Header.Get("Authorization")
	if h == "" {
		if cs.user != "" {
			return cs.user, true
		}
		Unauthorized(w, r, "NTLM", "Negotiate")
		return "", false
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "NTLM") && !strings.EqualFold(scheme, "Negotiate") {
		Unauthorized(w, r, "NTLM", "Negotiate")
		return "", false
	}
	// Any new authentication attempt replaces the connection's identity.
	cs.user = ""
	msg, err := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
	if err != nil {
		cs.pending = nil
		Unauthorized(w, r, "NTLM", "Negotiate")
		return "", false
	}
	typ, err := MessageType(msg)
	switch {
	case err != nil:
		cs.pending = nil
		Unauthorized(w, r, "NTLM", "Negotiate")
		return "", false
	case typ == typeNegotiate:
		ch, err := s.Challenge(msg)
		if err != nil {
			cs.pending = nil
			Unauthorized(w, r, "NTLM", "Negotiate")
			return "", false
		}
		cs.pending = ch
		Unauthorized(w, r, scheme+" "+base64.StdEncoding.EncodeToString(ch.Message))
		return "", false
	case typ == typeAuthenticate:
		ch := cs.pending
		cs.pending = nil // a challenge is answered once
		user, err := s.Verify(ch, msg)
		if err != nil {
			Unauthorized(w, r, "NTLM", "Negotiate")
			return "", false
		}
		cs.user = user
		return user, true
	default:
		cs.pending = nil
		Unauthorized(w, r, "NTLM", "Negotiate")
		return "", false
	}
}

// Unauthorized answers 401 with a WWW-Authenticate header per challenge
// and an empty body, after draining r's body, so that the client can go on
// on the same connection (as NTLM's handshake must).
func Unauthorized(w http.ResponseWriter, r *http.Request, challenges ...string) {
	drain(r)
	for _, c := range challenges {
		w.Header().Add("WWW-Authenticate", c)
	}
	// An empty body lets a client reuse the connection at once, which
	// NTLM needs: the handshake must stay on one connection.
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

// drain discards a bounded amount of the body so the connection, and with
// it the NTLM state, survives for the next leg of the handshake.
func drain(r *http.Request) {
	if r.Body != nil {
		io.Copy(io.Discard, io.LimitReader(r.Body, 4<<20))
	}
}

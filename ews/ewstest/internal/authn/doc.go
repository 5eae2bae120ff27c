// Package authn is the authentication layer of the ewstest fake Exchange
// server: an http.Handler middleware that admits a request only with valid
// credentials and records who made it.
//
// # Basics
//
// New wraps the EWS handler for one of four modes: ModeNone (no
// credentials asked for), ModeBasic (RFC 7617 against the users'
// passwords), ModeBearer (configured opaque tokens, each mapped to a user)
// and ModeNTLM (a real NTLMv2 server, package ntlmserver). The wrapped
// handler runs only for an authenticated request; UserFromContext then
// returns the canonical user name (the key of Config.Users), whatever form
// the client gave it in: "alice", "DOMAIN\alice" or "alice@example.com",
// compared without regard to case as Windows does.
//
// Wrong or missing credentials get HTTP 401 with the WWW-Authenticate
// challenge of the mode and nothing else happens: the request body is
// discarded unread by the application and the wrapped handler never runs.
//
// # Caveats
//
// NTLM authenticates the TCP connection, not the request. A server using
// ModeNTLM must install ConnContext as its http.Server.ConnContext (or
// httptest.Server.Config.ConnContext); without it every request must carry
// a full handshake and New's handler answers 500 to NTLM attempts.
//
// As on IIS, a connection authenticated by NTLM stays authenticated as
// that user: a request on it without an Authorization header is served as
// that user, so a client that switches identities must use a new
// connection.
//
// In ModeNone UserFromContext reports no user unless the request carries
// valid Basic credentials, which are honoured as a convenience; the caller
// decides which mailbox an anonymous request acts on.
package authn

package ntlmserver

import "errors"

// Errors reported by the handshake. Over HTTP every one of them becomes a
// 401; they are returned by Server.Challenge and Server.Verify.
var (
	// ErrMalformed reports an NTLM message that cannot be parsed.
	ErrMalformed = errors.New("ntlmserver: malformed NTLM message")
	// ErrUnexpectedMessage reports a message of the wrong type for the
	// state of the handshake (an AUTHENTICATE with no challenge pending).
	ErrUnexpectedMessage = errors.New("ntlmserver: unexpected NTLM message")
	// ErrAnonymous reports an anonymous AUTHENTICATE message.
	ErrAnonymous = errors.New("ntlmserver: anonymous NTLM authentication refused")
	// ErrNTLMv1 reports an NTLMv1 or LM-only response.
	ErrNTLMv1 = errors.New("ntlmserver: NTLMv1 response refused; NTLMv2 required")
	// ErrBadCredentials reports an unknown user or a response that does
	// not match the user's password.
	ErrBadCredentials = errors.New("ntlmserver: bad credentials")
	// ErrNoConnState reports a request served without ConnContext installed.
	ErrNoConnState = errors.New("ntlmserver: no connection state; install ConnContext as http.Server.ConnContext")
	// ErrConfig reports an invalid Config.
	ErrConfig = errors.New("ntlmserver: invalid configuration")
)

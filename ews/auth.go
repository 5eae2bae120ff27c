package ews

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// Auth authenticates requests. Construct one with NTLM, Basic or Bearer;
// for another scheme, leave Options.Auth nil and authenticate in
// Options.HTTPClient's transport. Credentials held by an Auth never appear
// in logs, errors or the DebugWriter, and are sent over plain http only to
// a loopback host unless Options.AllowInsecureAuth says otherwise (New
// fails with ErrInsecureAuth).
type Auth interface {
	// transport wraps base so that it authenticates requests. lanes is
	// the number of concurrent connections allowed (NTLM only); base
	// is a *http.Transport whenever the caller's transport is one, so
	// that NTLM can pin connections.
	transport(base http.RoundTripper, lanes int) http.RoundTripper
	// String names the scheme without credentials.
	String() string
}

// checkAuthTransport refuses to send credentials over plain http to a
// host that is not a loopback address, unless allow: Basic would send the
// password itself, NTLM a response that can be cracked offline or
// relayed, Bearer a token anyone on the path could reuse.
func checkAuthTransport(a Auth, u *url.URL, allow bool) error {
	if a == nil || allow || u.Scheme != "http" || isLoopbackHost(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%w: %w: %s over plain http to %s; use https (or Options.AllowInsecureAuth on a network you trust)",
		ErrInvalidOptions, ErrInsecureAuth, a, u.Hostname())
}

// isLoopbackHost reports whether host is "localhost" (or a name under
// ".localhost") or a loopback IP address (127.0.0.0/8, ::1).
func isLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// NTLM authenticates with NTLMv2 (also offered under Negotiate) through
// github.com/Azure/go-ntlmssp. user may be "DOMAIN\user" or a UPN.
//
// NTLM authenticates a TCP connection, not a request: every request runs its
// whole handshake and body on one dedicated keep-alive connection, and a
// connection is reused only by one request at a time (see
// Options.MaxConnections). Request bodies are buffered so they can be sent
// again on each leg.
func NTLM(user, password string) Auth { return &ntlmAuth{user: user, password: password} }

// Basic authenticates with HTTP Basic (on-premises servers that enable it;
// Exchange Online retired it for EWS).
func Basic(user, password string) Auth { return &basicAuth{user: user, password: password} }

// TokenSource supplies OAuth 2.0 access tokens for Bearer. The caller owns
// acquisition, caching and renewal; Token is called before every request
// and must be safe for concurrent use.
type TokenSource interface {
	// Token returns a valid access token (without the "Bearer " prefix).
	Token(ctx context.Context) (string, error)
}

// TokenSourceFunc adapts a function to TokenSource.
type TokenSourceFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenSourceFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// Bearer authenticates with OAuth 2.0 access tokens from ts, as Exchange
// Online requires. App-only tokens also need Options.Impersonation and an
// anchor mailbox.
func Bearer(ts TokenSource) Auth { return &bearerAuth{ts: ts} }

type basicAuth struct{ user, password string }

func (a *basicAuth) String() string { return "Basic" }

// GoString keeps %#v from printing the credentials.
func (a *basicAuth) GoString() string { return `ews.Basic("[redacted]", "[redacted]")` }

func (a *basicAuth) transport(base http.RoundTripper, _ int) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		r := req.Clone(req.Context())
		r.SetBasicAuth(a.user, a.password)
		return base.RoundTrip(r)
	})
}

type bearerAuth struct{ ts TokenSource }

func (a *bearerAuth) String() string { return "Bearer" }

// GoString keeps %#v from printing the token source.
func (a *bearerAuth) GoString() string { return `ews.Bearer([redacted])` }

func (a *bearerAuth) transport(base http.RoundTripper, _ int) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if a.ts == nil {
			closeBody(req)
			return nil, fmt.Errorf("%w: no TokenSource", ErrToken)
		}
		tok, err := a.ts.Token(req.Context())
		if err != nil {
			closeBody(req)
			return nil, fmt.Errorf("%w: %w", ErrToken, err)
		}
		r := req.Clone(req.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
		return base.RoundTrip(r)
	})
}

type ntlmAuth struct{ user, password string }

func (a *ntlmAuth) String() string { return "NTLM" }

// GoString keeps %#v from printing the credentials.
func (a *ntlmAuth) GoString() string { return `ews.NTLM("[redacted]", "[redacted]")` }

// transport returns a pool of lanes: each lane is a transport limited to
// one connection, and a request holds a lane from its first handshake leg
// until its response body is closed, so the three legs and the
// authenticated request share one connection that nobody else uses
// meanwhile.
func (a *ntlmAuth) transport(base http.RoundTripper, lanes int) http.RoundTripper {
	p := &ntlmPool{auth: a, sem: make(chan struct{}, lanes)}
	for range lanes {
		p.idle = append(p.idle, singleConn(base))
	}
	return p
}

// singleConn returns a transport of its own with at most one connection,
// HTTP/1.1 only (NTLM does not work over HTTP/2), when base is an
// *http.Transport; otherwise base itself, which cannot be pinned.
func singleConn(base http.RoundTripper) http.RoundTripper {
	t, ok := base.(*http.Transport)
	if !ok {
		return base
	}
	return http1Only(t)
}

// http1Only returns a clone of t limited to one HTTP/1.1 connection: no
// "h2" in ALPN, no HTTP/2 upgrade.
func http1Only(t *http.Transport) *http.Transport {
	t = t.Clone()
	t.MaxConnsPerHost = 1
	t.MaxIdleConnsPerHost = 1
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	var p http.Protocols
	p.SetHTTP1(true)
	t.Protocols = &p
	if t.TLSClientConfig != nil {
		t.TLSClientConfig = t.TLSClientConfig.Clone()
		t.TLSClientConfig.NextProtos = slices.DeleteFunc(t.TLSClientConfig.NextProtos, func(p string) bool { return p != "http/1.1" })
	}
	return t
}

// ntlmPool hands out lanes last-in first-out, so that an idle client keeps
// reusing its most recently authenticated connection.
type ntlmPool struct {
	auth *ntlmAuth
	sem  chan struct{}
	mu   sync.Mutex
	idle []http.RoundTripper
}

func (p *ntlmPool) acquire(ctx context.Context) (http.RoundTripper, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lane := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	return lane, nil
}

func (p *ntlmPool) release(lane http.RoundTripper) {
	p.mu.Lock()
	p.idle = append(p.idle, lane)
	p.mu.Unlock()
	<-p.sem
}

// CloseIdleConnections closes the idle connections of the lanes not in
// use; http.Client.CloseIdleConnections calls it.
func (p *ntlmPool) CloseIdleConnections() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.idle {
		if t, ok := l.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	}
}

func (p *ntlmPool) RoundTrip(req *http.Request) (*http.Response, error) {
	lane, err := p.acquire(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := roundTripNTLM(lane, p.auth, req)
	if err != nil {
		p.release(lane)
		return nil, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: func() { p.release(lane) }}
	return resp, nil
}

func roundTripNTLM(rt http.RoundTripper, a *ntlmAuth, req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	// The negotiator reads the credentials from the Basic header and never
	// sends them as Basic (AllowBasicAuth is false).
	r.SetBasicAuth(a.user, a.password)
	// When a handshake leg fails in transport (a dropped connection, a
	// cancelled context), the negotiator swallows the error and returns
	// the first leg's 401, which would read as bad credentials. The legs
	// run one after another on this goroutine; remember the failure and
	// return it instead.
	var legErr error
	record := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		legErr = err
		return resp, err
	})
	resp, err := ntlmssp.Negotiator{RoundTripper: record}.RoundTrip(r)
	if err == nil && legErr != nil && resp.StatusCode == http.StatusUnauthorized {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return nil, legErr
	}
	return resp, err
}

// releaseBody runs release once, when the body is closed.
type releaseBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

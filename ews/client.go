// Issuing a call from another file of package ews
//
// Every operation follows the same three steps; see folder.go (GetFolder) for a
// complete example.
//
//  1. Build the operation element with newOp("GetFolder") (it carries the
//     m: prefix; the envelope binds m: and t:) and add children with the m:
//     and t: prefixes, using the helpers in xmlbuild.go (addFolderRef,
//     addItemID, addFolderShape, addItemShape, ...).
//
//  2. Call c.call(ctx, &callRequest{Op: "GetFolder", Body: el}). Optional
//     fields: Anchor (X-AnchorMailbox for this call, overriding
//     Options.AnchorMailbox), PreferAffinity (X-PreferServerAffinity:
//     true), Group (the affinity group whose X-BackEndOverrideCookie is sent
//     with the request and which captures a cookie the response sets; ""
//     is the client's default group), Header (any extra HTTP headers),
//     Impersonation (overrides Options.Impersonation for this call),
//     NoRetry (no back-off retries, e.g. for non-idempotent calls).
//     call builds the envelope (RequestServerVersion and
//     ExchangeImpersonation headers), POSTs it with the affinity headers
//     and cookie, retries on ErrorServerBusy/503/429 as Options.Retry says,
//     reads a size-limited body and decodes it. A request-wide failure
//     (transport, HTTP status, SOAP fault, malformed body) is returned as
//     the error: *HTTPError, *FaultError, or an error wrapping
//     ErrMalformedResponse. Otherwise the *soapResponse holds one
//     responseMessage per m:*ResponseMessage in document order: Elem is
//     the message element (namespaces resolved, so match children with
//     ewsxml.Is(el, ewsxml.NSMessages, "Changes") and never by prefix),
//     Class its ResponseClass and Err a *ResponseError when the class is
//     Error (or Warning with a code). Decode each payload from Elem,
//     skipping the status children (MessageText, ResponseCode,
//     DescriptiveLinkKey, MessageXml) — payloadChildren does that — and
//     wrap payload errors with malformed(op, err).
//
//  3. Streaming: c.openStream(ctx, &callRequest{...}) POSTs the same kind
//     of envelope on a transport of its own (a dedicated connection, which
//     NTLM authenticates separately; no Options.HTTPClient timeout) and,
//     on HTTP 200, returns the *http.Response with its body unread and not
//     size-limited; the caller reads envelopes from it and must close it.
//     A non-200 status is decoded and returned as an error as in step 2.
//     No retries.
//
// Affinity cookies: c.backEndCookie(group) returns the
// X-BackEndOverrideCookie value cached for an affinity group ("" if none)
// and c.setBackEndCookie(group, v) stores or (with v == "") forgets one.
// call and openStream send the cookie of callRequest.Group and capture any
// new value the server sets.

package ews

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// Client is an EWS client for one endpoint. It is safe for concurrent use
// by multiple goroutines. Create it with New.
type Client struct {
	endpoint string
	opts     Options
	retry    RetryPolicy
	log      *slog.Logger

	httpc  *http.Client      // sync calls
	base   http.RoundTripper // unauthenticated base transport, cloned per stream
	jar    http.CookieJar
	debugM sync.Mutex

	cookieMu sync.Mutex
	cookies  map[string]string // affinity group -> X-BackEndOverrideCookie

	version atomic.Pointer[ServerVersionInfo]
}

// ServerVersionInfo is the ServerVersionInfo SOAP header of a response.
// Fields the server omits are zero.
type ServerVersionInfo struct {
	MajorVersion     int
	MinorVersion     int
	MajorBuildNumber int
	MinorBuildNumber int
	// Version is the schema version, e.g. "V2_10" or "Exchange2013".
	Version string
}

// backEndCookieName is the affinity cookie (EWS-PROTOCOL.md §1, §10).
const backEndCookieName = "X-BackEndOverrideCookie"

// New returns a client for the EWS endpoint URL, e.g.
// "https://mail.example.com/EWS/Exchange.asmx". It performs no I/O. A nil
// opts means the zero Options. The URL must be http or https and must not
// carry credentials (use Options.Auth); with Options.Auth, plain http is
// refused (ErrInsecureAuth) unless the host is a loopback address or
// Options.AllowInsecureAuth is set.
func New(endpoint string, opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Impersonation != nil { // copy: the caller may reuse its value
		im := *o.Impersonation
		o.Impersonation = &im
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		// The parse error quotes the input, which may hold credentials.
		return nil, fmt.Errorf("%w: endpoint is not a valid URL", ErrInvalidOptions)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%w: endpoint %q is not an http(s) URL", ErrInvalidOptions, u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: endpoint URL must not carry credentials; use Options.Auth", ErrInvalidOptions)
	}
	if err := checkAuthTransport(o.Auth, u, o.AllowInsecureAuth); err != nil {
		return nil, err
	}
	o.ServerVersion = cmp.Or(o.ServerVersion, DefaultServerVersion)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.UserAgent = cmp.Or(o.UserAgent, DefaultUserAgent)
	o.MaxResponseBytes = cmp.Or(o.MaxResponseBytes, DefaultMaxResponseBytes)
	o.MaxConnections = cmp.Or(o.MaxConnections, DefaultMaxConnections)
	o.MaxResponseTags = cmp.Or(o.MaxResponseTags, DefaultMaxResponseTags)
	o.Clock = clockOrSystem(o.Clock)
	c := &Client{
		endpoint: u.String(),
		opts:     o,
		retry:    o.Retry.withDefaults(),
		log:      o.Logger.With(LogKeyEndpoint, u.Redacted()),
		cookies:  make(map[string]string),
	}
	var timeout time.Duration
	if o.HTTPClient != nil {
		c.base = o.HTTPClient.Transport
		c.jar = o.HTTPClient.Jar
		timeout = o.HTTPClient.Timeout
	}
	if c.base == nil {
		c.base = http.DefaultTransport.(*http.Transport).Clone()
	}
	rt := c.base
	if o.Auth != nil {
		rt = o.Auth.transport(c.base, o.MaxConnections)
	}
	c.httpc = &http.Client{Transport: rt, Jar: c.jar, Timeout: timeout, CheckRedirect: noRedirect}
	return c, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// ServerVersion returns the ServerVersionInfo of the most recent response
// that carried one, and whether there was one.
func (c *Client) ServerVersion() (ServerVersionInfo, bool) {
	if v := c.version.Load(); v != nil {
		return *v, true
	}
	return ServerVersionInfo{}, false
}

// callRequest is one SOAP call; see the comment at the top of this file.
type callRequest struct {
	Op             string
	Body           *etree.Element
	Anchor         string
	PreferAffinity bool
	Group          string
	Header         http.Header
	Impersonation  *Impersonation
	NoRetry        bool
	// Idempotent marks operations that are safe to send again after a
	// network error (reads and ICS syncs from a given state); they are
	// retried as RetryPolicy says. Others return the *NetworkError.
	Idempotent bool
}

// soapResponse is a decoded response envelope.
type soapResponse struct {
	Header        http.Header
	ServerVersion *ServerVersionInfo
	Messages      []responseMessage
	// mime holds MimeContent texts lifted out before parsing (mime.go).
	mime [][]byte
	// fast is the payload the fast path decoded (sync_fast.go), if any.
	fast any
}

// responseMessage is one m:*ResponseMessage.
type responseMessage struct {
	Elem  *etree.Element
	Class string
	Code  Code
	Err   error
}

// newOp returns the operation element m:<op>.
func newOp(op string) *etree.Element { return etree.NewElement("m:" + op) }

// call sends r and decodes the response, retrying as Options.Retry says.
func (c *Client) call(ctx context.Context, r *callRequest) (*soapResponse, error) {
	payload, err := c.envelope(r)
	if err != nil {
		return nil, err
	}
	reqID := newRequestID()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		resp, err := c.roundTrip(ctx, r, payload, reqID)
		busy, hint := retryable(resp, err)
		var ne *NetworkError
		network := !busy && r.Idempotent && errors.As(err, &ne) && ne.IsTransient() && ctx.Err() == nil
		serverID := ""
		if resp != nil {
			serverID = resp.Header.Get("request-id")
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "ews call",
			slog.String(LogKeyOp, r.Op), slog.Int(LogKeyAttempt, attempt),
			slog.String(LogKeyClientRequestID, reqID), slog.String(LogKeyRequestID, serverID),
			slog.Duration(LogKeyDuration, time.Since(start)), slog.Any(LogKeyError, err))
		if !(busy || network) || r.NoRetry || attempt >= c.retry.MaxAttempts {
			return resp, err
		}
		if err == nil {
			err = busyMessageErr(resp)
		}
		d := c.retry.delay(attempt+1, hint)
		msg := "ews server busy, backing off"
		if network {
			d = c.retry.networkDelay(attempt + 1)
			msg = "ews network error, retrying"
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, msg,
			slog.String(LogKeyOp, r.Op), slog.Int(LogKeyAttempt, attempt),
			slog.Duration(LogKeyBackOff, d), slog.Any(LogKeyError, err))
		if serr := debounce.Sleep(ctx, c.opts.Clock, d); serr != nil {
			return nil, fmt.Errorf("ews: %s: back-off interrupted: %w (after %w)", r.Op, serr, err)
		}
	}
}

// retryable reports whether a call result asks for a retry, and the
// server's delay hint.
func retryable(resp *soapResponse, err error) (bool, time.Duration) {
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) && (he.StatusCode == http.StatusServiceUnavailable || he.StatusCode == http.StatusTooManyRequests) {
			return true, he.RetryAfter
		}
		var fe *FaultError
		if errors.As(err, &fe) && fe.Code == ErrServerBusy {
			return true, fe.BackOff
		}
		return false, 0
	}
	if re, ok := busyMessageErr(resp).(*ResponseError); ok {
		return true, re.BackOff
	}
	return false, 0
}

// busyMessageErr returns the first response message error asking the client
// to slow down, or nil.
func busyMessageErr(resp *soapResponse) error {
	if resp == nil {
		return nil
	}
	for _, m := range resp.Messages {
		if re, ok := m.Err.(*ResponseError); ok && re.busy() {
			return re
		}
	}
	return nil
}

// envelope serialises the request envelope for r.
func (c *Client) envelope(r *callRequest) ([]byte, error) {
	if r.Body == nil || r.Op == "" {
		return nil, invalidf(r.Op, "empty call")
	}
	env := ewsxml.NewEnvelope()
	env.Header.CreateElement("t:RequestServerVersion").CreateAttr("Version", c.opts.ServerVersion)
	im := c.opts.Impersonation
	if r.Impersonation != nil {
		if err := r.Impersonation.Validate(); err != nil {
			return nil, err
		}
		im = r.Impersonation
	}
	if im != nil {
		sid := env.Header.CreateElement("t:ExchangeImpersonation").CreateElement("t:ConnectingSID")
		switch {
		case im.PrincipalName != "":
			ewsxml.AddText(sid, "t:PrincipalName", im.PrincipalName)
		case im.SID != "":
			ewsxml.AddText(sid, "t:SID", im.SID)
		case im.PrimarySMTPAddress != "":
			ewsxml.AddText(sid, "t:PrimarySmtpAddress", im.PrimarySMTPAddress)
		default:
			ewsxml.AddText(sid, "t:SmtpAddress", im.SMTPAddress)
		}
	}
	env.Body.AddChild(r.Body)
	var buf bytes.Buffer
	if err := ewsxml.Write(&buf, env.Doc); err != nil {
		return nil, fmt.Errorf("ews: %s: encoding request: %w", r.Op, err)
	}
	return buf.Bytes(), nil
}

// newHTTPRequest builds the POST for r with routing headers and cookie.
func (c *Client) newHTTPRequest(ctx context.Context, r *callRequest, payload []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("ews: %s: %w", r.Op, err)
	}
	h := req.Header
	for k, vs := range r.Header {
		h[k] = append([]string(nil), vs...)
	}
	h.Set("Content-Type", "text/xml; charset=utf-8")
	h.Set("Accept", "text/xml")
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", c.opts.UserAgent)
	}
	anchor := r.Anchor
	if anchor == "" {
		anchor = c.opts.AnchorMailbox
	}
	if anchor == "" {
		im := r.Impersonation
		if im == nil {
			im = c.opts.Impersonation
		}
		anchor = im.smtp()
	}
	if anchor != "" {
		h.Set("X-AnchorMailbox", anchor)
	}
	if r.PreferAffinity || c.opts.PreferServerAffinity {
		h.Set("X-PreferServerAffinity", "true")
	}
	if v := c.backEndCookie(r.Group); v != "" {
		req.AddCookie(&http.Cookie{Name: backEndCookieName, Value: v})
	}
	return req, nil
}

// roundTrip performs one attempt.
func (c *Client) roundTrip(ctx context.Context, r *callRequest, payload []byte, reqID string) (*soapResponse, error) {
	req, err := c.newHTTPRequest(ctx, r, payload)
	if err != nil {
		return nil, err
	}
	req.Header.Set("client-request-id", reqID)
	req.Header.Set("return-client-request-id", "true")
	c.dumpRequest(req, payload)
	resp, err := c.httpc.Do(req)
	if err != nil {
		if isNetworkError(err) {
			return nil, &NetworkError{Op: r.Op, Err: err}
		}
		return nil, fmt.Errorf("ews: %s: %w", r.Op, err)
	}
	defer resp.Body.Close()
	c.captureCookie(r.Group, resp)
	body, rerr := readLimited(resp.Body, resp.ContentLength, c.opts.MaxResponseBytes)
	c.dumpResponse(resp, body)
	if rerr != nil {
		if errors.Is(rerr, ErrResponseTooLarge) {
			return nil, fmt.Errorf("ews: %s: %w (limit %d bytes)", r.Op, ErrResponseTooLarge, c.opts.MaxResponseBytes)
		}
		return nil, &NetworkError{Op: r.Op, Err: fmt.Errorf("reading response: %w", rerr)}
	}
	return c.decodeHTTP(r.Op, resp, body)
}

// decodeHTTP turns a status and body into a response or a typed error.
func (c *Client) decodeHTTP(op string, resp *http.Response, body []byte) (*soapResponse, error) {
	switch resp.StatusCode {
	case http.StatusOK, http.StatusInternalServerError:
		sr, err := decodeResponse(op, body, c.opts.MaxResponseTags)
		if err != nil {
			var fe *FaultError
			if errors.As(err, &fe) {
				fe.StatusCode = resp.StatusCode
				return nil, fe
			}
			if resp.StatusCode != http.StatusOK {
				return nil, c.httpError(op, resp)
			}
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			// A 500 that carries a regular response message: keep it, the
			// messages hold the per-message errors.
			c.log.Debug("ews response with HTTP 500 but no fault", LogKeyOp, op)
		}
		if sr.ServerVersion != nil {
			c.version.Store(sr.ServerVersion)
		}
		sr.Header = resp.Header
		return sr, nil
	}
	if looksLikeXML(body) {
		// Some proxies and servers answer faults with other statuses.
		if _, err := decodeEnvelope(op, body, c.opts.MaxResponseTags); err != nil {
			var fe *FaultError
			if errors.As(err, &fe) {
				fe.StatusCode = resp.StatusCode
				return nil, fe
			}
		}
	}
	return nil, c.httpError(op, resp)
}

func looksLikeXML(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '<'
}

func (c *Client) httpError(op string, resp *http.Response) *HTTPError {
	he := &HTTPError{Op: op, StatusCode: resp.StatusCode, Status: resp.Status}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		he.RetryAfter = parseRetryAfter(ra, c.opts.Clock.Now())
	}
	if resp.StatusCode/100 == 3 {
		if loc := resp.Header.Get("Location"); loc != "" {
			if u, err := url.Parse(loc); err == nil {
				he.Location = u.Redacted()
			}
		}
	}
	return he
}

// parseRetryAfter reads delay-seconds or an HTTP date; bad values are zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 || n > 86400 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// readLimited reads all of r, failing with ErrResponseTooLarge past max.
// size is the length the response declares (http.Response.ContentLength,
// -1 when unknown) and only a hint: the result and the limit are the same
// whatever it says. A declared length within max and maxPreallocBytes is
// read into one buffer of that size plus one byte (so that a body longer
// than declared is seen, and read on); any other body is read in pooled
// chunks and copied once into a buffer of its size. Either way the body
// costs one allocation of about its size, where io.ReadAll's growing
// slices cost about twice that.
func readLimited(r io.Reader, size, max int64) ([]byte, error) {
	if size < 0 || size > max || size > maxPreallocBytes {
		return readChunks(r, max)
	}
	lr := limitPast(r, max)
	b := make([]byte, 0, size+1)
	for {
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) { // longer than declared
			b = append(b, 0)[:len(b)]
		}
	}
	if int64(len(b)) > max {
		return nil, ErrResponseTooLarge
	}
	return b, nil
}

// maxPreallocBytes bounds what a declared Content-Length allocates before
// the body arrives; a longer body is read in chunks as it comes.
const maxPreallocBytes = 8 << 20

// readChunkBytes is the size of the scratch chunks readChunks reads into.
const readChunkBytes = 32 << 10

// readChunkPool holds readChunks' scratch chunks. They never leave
// readChunks: the body it returns is a fresh copy.
var readChunkPool = sync.Pool{New: func() any { return new([readChunkBytes]byte) }}

// readChunks is readLimited for a body of unknown length.
func readChunks(r io.Reader, max int64) ([]byte, error) {
	lr := limitPast(r, max)
	var spare [8]*[readChunkBytes]byte
	chunks := spare[:0]
	defer func() {
		for _, c := range chunks {
			readChunkPool.Put(c)
		}
	}()
	total := 0
	for {
		c := readChunkPool.Get().(*[readChunkBytes]byte)
		chunks = append(chunks, c)
		n, err := fill(lr, c[:])
		total += n
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if int64(total) > max {
		return nil, ErrResponseTooLarge
	}
	b := make([]byte, total)
	for i, c := range chunks {
		copy(b[i*readChunkBytes:], c[:])
	}
	return b, nil
}

// limitPast limits r to one byte past max, so that a body longer than
// max is seen.
func limitPast(r io.Reader, max int64) *io.LimitedReader {
	return &io.LimitedReader{R: r, N: max + min(1, math.MaxInt64-max)}
}

// fill reads into b until it is full or r fails; it returns io.EOF only
// when r ended before b was full.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// openStream POSTs r on a dedicated connection and returns the response
// with its body unread; see the comment at the top of this file.
func (c *Client) openStream(ctx context.Context, r *callRequest) (*http.Response, error) {
	payload, err := c.envelope(r)
	if err != nil {
		return nil, err
	}
	req, err := c.newHTTPRequest(ctx, r, payload)
	if err != nil {
		return nil, err
	}
	var own *http.Transport
	base := c.base
	if t, ok := base.(*http.Transport); ok {
		own = t.Clone()
		base = own
	}
	rt := base
	if c.opts.Auth != nil {
		rt = c.opts.Auth.transport(base, 1)
	}
	hc := &http.Client{Transport: rt, Jar: c.jar, CheckRedirect: noRedirect}
	// closeConns drops the stream's dedicated connection; a transport the
	// caller supplied that is not an *http.Transport is shared and left
	// alone.
	closeConns := func() {
		if own != nil {
			hc.CloseIdleConnections()
			own.CloseIdleConnections()
		}
	}
	c.dumpRequest(req, payload)
	resp, err := hc.Do(req)
	if err != nil {
		closeConns()
		return nil, fmt.Errorf("ews: %s: %w", r.Op, err)
	}
	c.captureCookie(r.Group, resp)
	if resp.StatusCode != http.StatusOK {
		defer func() {
			resp.Body.Close()
			closeConns()
		}()
		body, rerr := readLimited(resp.Body, resp.ContentLength, c.opts.MaxResponseBytes)
		c.dumpResponse(resp, body)
		if rerr != nil {
			return nil, c.httpError(r.Op, resp)
		}
		_, err := c.decodeHTTP(r.Op, resp, body)
		if err == nil {
			err = c.httpError(r.Op, resp)
		}
		return nil, err
	}
	c.dumpResponse(resp, nil)
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: closeConns}
	return resp, nil
}

// backEndCookie returns the X-BackEndOverrideCookie cached for group.
func (c *Client) backEndCookie(group string) string {
	c.cookieMu.Lock()
	defer c.cookieMu.Unlock()
	return c.cookies[group]
}

// setBackEndCookie caches v for group; an empty v forgets the group's
// cookie.
func (c *Client) setBackEndCookie(group, v string) {
	c.cookieMu.Lock()
	defer c.cookieMu.Unlock()
	if v == "" {
		delete(c.cookies, group)
		return
	}
	c.cookies[group] = v
}

// captureCookie caches an X-BackEndOverrideCookie the response sets. An
// expired cookie (Max-Age < 0) clears the cache.
func (c *Client) captureCookie(group string, resp *http.Response) {
	for _, ck := range resp.Cookies() {
		if ck.Name != backEndCookieName {
			continue
		}
		if ck.MaxAge < 0 {
			c.setBackEndCookie(group, "")
		} else {
			c.setBackEndCookie(group, ck.Value)
		}
	}
}

// newRequestID returns a random client-request-id in GUID form, which
// Exchange logs and echoes so that a call can be traced on the server.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// CloseIdleConnections closes the idle connections of the client's own
// transports (with NTLM, every lane), e.g. at shutdown. The client stays
// usable; later calls open new connections.
func (c *Client) CloseIdleConnections() {
	c.httpc.CloseIdleConnections()
	if t, ok := c.base.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// redactedHeaders are never written to the DebugWriter.
var redactedHeaders = map[string]bool{"Authorization": true, "Proxy-Authorization": true}

func (c *Client) dumpRequest(req *http.Request, body []byte) {
	if c.opts.DebugWriter != nil {
		c.dump(">", req.Method+" "+req.URL.Redacted(), req.Header, "", body)
	}
}

func (c *Client) dumpResponse(resp *http.Response, body []byte) {
	if c.opts.DebugWriter == nil {
		return
	}
	note := ""
	if body == nil && resp.StatusCode == http.StatusOK {
		note = "(streamed body not shown)"
	}
	c.dump("<", resp.Proto+" "+resp.Status, resp.Header, note, body)
}

// dump writes one leg of an exchange to the DebugWriter in a single Write:
// the first line and the headers (credentials redacted) behind dir, a line
// of dir alone, then note and body.
func (c *Client) dump(dir, first string, h http.Header, note string, body []byte) {
	c.debugM.Lock()
	defer c.debugM.Unlock()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s\n", dir, first)
	writeHeaders(&b, dir+" ", h)
	b.WriteString(dir + "\n")
	b.WriteString(note)
	b.Write(body)
	b.WriteString("\n")
	_, _ = c.opts.DebugWriter.Write(b.Bytes())
}

func writeHeaders(b *bytes.Buffer, prefix string, h http.Header) {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			if redactedHeaders[http.CanonicalHeaderKey(k)] {
				v = "[redacted]"
			}
			fmt.Fprintf(b, "%s%s: %s\n", prefix, k, v)
		}
	}
}

// isNetworkError reports whether err from the HTTP client is a failure of
// the connection (or the call's context) rather than of the client's own
// configuration, such as a failing TokenSource.
func isNetworkError(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // *url.Error itself implements net.Error
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

package ews

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Defaults applied by New to zero Options fields.
const (
	// DefaultServerVersion is sent as RequestServerVersion when
	// Options.ServerVersion is empty; it suits Exchange 2013 and later,
	// including Exchange Online.
	DefaultServerVersion = "Exchange2013"
	// DefaultUserAgent is sent when Options.UserAgent is empty.
	DefaultUserAgent = "mailsync-ews/1"
	// DefaultMaxResponseBytes bounds a response body when
	// Options.MaxResponseBytes is zero.
	DefaultMaxResponseBytes = 64 << 20
	// DefaultMaxResponseTags bounds the markup of a response when
	// Options.MaxResponseTags is zero. A 512-change SyncFolderItems page
	// with full message metadata has about 100,000 tags.
	DefaultMaxResponseTags = 2 << 20
	// DefaultMaxConnections bounds concurrent NTLM connections when
	// Options.MaxConnections is zero.
	DefaultMaxConnections = 8
)

// Options configures a Client. A nil *Options passed to New means the zero
// value, and every zero field takes the default its doc names.
type Options struct {
	// HTTPClient sends the requests. Nil means a client over a clone of
	// http.DefaultTransport. Its Transport must not add authentication
	// of its own when Auth is set. The client never follows redirects
	// (a redirect is returned as an *HTTPError). Timeouts come from the
	// context of each call; HTTPClient.Timeout, if set, applies to every
	// call except streaming requests. A Jar, if set, is used too, but it
	// keeps one cookie set per host: leave it nil so that the client keeps
	// X-BackEndOverrideCookie per affinity group.
	HTTPClient *http.Client

	// Auth authenticates requests: NTLM, Basic or Bearer. Nil sends no
	// credentials (e.g. when HTTPClient's transport authenticates).
	Auth Auth

	// AllowInsecureAuth lets Auth send credentials over plain http to a
	// host that is not a loopback address (127.0.0.0/8, ::1, localhost).
	// Without it New refuses such an endpoint with ErrInsecureAuth: use
	// https. Set it only on a network you trust end to end.
	AllowInsecureAuth bool

	// ServerVersion is the RequestServerVersion Version attribute, e.g.
	// "Exchange2010_SP1". Default DefaultServerVersion.
	ServerVersion string

	// Impersonation, when non-nil, adds an ExchangeImpersonation header
	// to every request (the account needs the ApplicationImpersonation
	// role).
	Impersonation *Impersonation

	// AnchorMailbox is sent as X-AnchorMailbox on every request. When
	// empty and Impersonation names an SMTP address, that address is
	// sent, as Exchange Online requires.
	AnchorMailbox string

	// PreferServerAffinity sends X-PreferServerAffinity: true on every
	// request.
	PreferServerAffinity bool

	// UserAgent is sent as User-Agent (Exchange logs it per request).
	// Default DefaultUserAgent.
	UserAgent string

	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger

	// DebugWriter, when non-nil, receives a dump of every request and
	// response (headers and SOAP bodies). Authorization headers are
	// redacted, but bodies may hold mailbox content: use only for
	// debugging.
	DebugWriter io.Writer

	// MaxResponseBytes bounds each response body; a longer body fails
	// with ErrResponseTooLarge. Default DefaultMaxResponseBytes.
	// Streaming responses are bounded per envelope by their reader, not
	// here.
	MaxResponseBytes int64

	// MaxResponseTags bounds the number of '<' characters (start and end
	// tags, comments) in a response, so that a hostile body within
	// MaxResponseBytes cannot make the parsed tree take gigabytes; more
	// fails with ErrMalformedResponse. Default DefaultMaxResponseTags.
	MaxResponseTags int

	// MaxConnections bounds concurrent requests when Auth is NTLM: each
	// request holds one of MaxConnections dedicated keep-alive
	// connections for its whole handshake and body, because NTLM
	// authenticates the connection. Default DefaultMaxConnections.
	MaxConnections int

	// Retry is the back-off policy for ErrorServerBusy and HTTP 503.
	Retry RetryPolicy

	// Clock times the retry back-off and reads Retry-After dates. Nil
	// means the wall clock; tests pass a fake (see Clock).
	Clock Clock
}

// Impersonation names the mailbox to act as through the
// ExchangeImpersonation header's ConnectingSID. Exactly one field must be
// set.
type Impersonation struct {
	// SMTPAddress is sent as t:SmtpAddress.
	SMTPAddress string
	// PrimarySMTPAddress is sent as t:PrimarySmtpAddress.
	PrimarySMTPAddress string
	// PrincipalName is sent as t:PrincipalName (a UPN).
	PrincipalName string
	// SID is sent as t:SID (security identifier in SDDL form).
	SID string
}

// smtp returns the SMTP address the impersonation names, or "".
func (im *Impersonation) smtp() string {
	if im == nil {
		return ""
	}
	if im.SMTPAddress != "" {
		return im.SMTPAddress
	}
	return im.PrimarySMTPAddress
}

// Validate reports an error unless exactly one field is set.
func (im *Impersonation) Validate() error {
	n := 0
	for _, s := range []string{im.SMTPAddress, im.PrimarySMTPAddress, im.PrincipalName, im.SID} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: Impersonation needs exactly one of SMTPAddress, PrimarySMTPAddress, PrincipalName, SID (got %d)", ErrInvalidOptions, n)
	}
	return nil
}

// RetryPolicy says how calls are retried when the server asks the client to
// slow down: ErrorServerBusy (as a SOAP fault, in a ResponseMessage, or as
// the inner code of ErrorInternalServerError), HTTP 503 and 429; and how
// idempotent calls are retried after a network error. The server's
// hint (BackOffMilliseconds, Retry-After) is honoured when present, capped
// at MaxServerDelay; otherwise the delay grows exponentially from
// BaseDelay to MaxDelay with jitter, as Backoff computes it. Every wait is cancelled by the
// call's context. The zero value takes the documented defaults.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts per call, first
	// included. Default 4; 1 disables retries.
	MaxAttempts int
	// BaseDelay is the first computed delay. Default 10 s.
	BaseDelay time.Duration
	// MaxDelay caps computed delays. Default 60 s.
	MaxDelay time.Duration
	// MaxServerDelay caps a server hint. Default 5 min.
	MaxServerDelay time.Duration
	// NetworkBaseDelay is the first delay before an idempotent call
	// (GetFolder, FindFolder, GetItem, SyncFolderHierarchy,
	// SyncFolderItems) is sent again after a *NetworkError; it doubles
	// up to MaxDelay. Default 1 s. Other calls are not retried after a
	// network error: the server may have acted on them.
	NetworkBaseDelay time.Duration
	// Jitter maps a computed delay to the delay actually waited; it is
	// not applied to server hints. Default: uniform in [d/2, d].
	Jitter func(d time.Duration) time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 10 * time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 60 * time.Second
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	if p.MaxServerDelay <= 0 {
		p.MaxServerDelay = 5 * time.Minute
	}
	if p.NetworkBaseDelay <= 0 {
		p.NetworkBaseDelay = time.Second
	}
	return p
}

// delay returns how long to wait before attempt number next (2 for the
// first retry), given the server's hint (zero if none).
func (p RetryPolicy) delay(next int, hint time.Duration) time.Duration {
	return Backoff{Base: p.BaseDelay, Max: p.MaxDelay, MaxHint: p.MaxServerDelay, Jitter: p.Jitter}.Delay(next-2, hint)
}

// networkDelay returns how long to wait before attempt number next after a
// network error.
func (p RetryPolicy) networkDelay(next int) time.Duration {
	return Backoff{Base: p.NetworkBaseDelay, Max: p.MaxDelay, Jitter: p.Jitter}.Delay(next-2, 0)
}

// Validate reports an unusable Options value. New calls it.
func (o *Options) Validate() error {
	if o.Impersonation != nil {
		if err := o.Impersonation.Validate(); err != nil {
			return err
		}
	}
	if v := o.ServerVersion; v != "" {
		for _, r := range v {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
				return fmt.Errorf("%w: ServerVersion %q is not a RequestServerVersion value", ErrInvalidOptions, v)
			}
		}
	}
	if o.MaxResponseBytes < 0 {
		return fmt.Errorf("%w: negative MaxResponseBytes", ErrInvalidOptions)
	}
	if o.MaxResponseTags < 0 {
		return fmt.Errorf("%w: negative MaxResponseTags", ErrInvalidOptions)
	}
	if o.MaxConnections < 0 {
		return fmt.Errorf("%w: negative MaxConnections", ErrInvalidOptions)
	}
	return nil
}

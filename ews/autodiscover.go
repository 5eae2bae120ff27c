package ews

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Autodiscover defaults and limits.
const (
	// DefaultAutodiscoverTTL is how long discovered settings are cached
	// when AutodiscoverOptions.TTL is zero.
	DefaultAutodiscoverTTL = 24 * time.Hour
	// DefaultMaxRedirects bounds the redirects followed per mailbox when
	// AutodiscoverOptions.MaxRedirects is zero (Microsoft: stop after 10).
	DefaultMaxRedirects = 10
	// MaxAutodiscoverUsers is the number of mailboxes asked in one SOAP
	// GetUserSettings request; more are split over several requests.
	MaxAutodiscoverUsers = 100
	// DefaultAutodiscoverTimeout bounds each Autodiscover request when
	// AutodiscoverOptions.RequestTimeout is zero, so that an unreachable
	// candidate does not hold the lookup for the dialer's own timeout.
	DefaultAutodiscoverTimeout = 10 * time.Second
	// DefaultAutodiscoverVersion is sent as RequestedServerVersion when
	// AutodiscoverOptions.RequestedServerVersion is empty.
	DefaultAutodiscoverVersion = "Exchange2013"
)

// AutodiscoverOptions configures an Autodiscoverer. A nil
// *AutodiscoverOptions means the zero value, and every zero field takes
// the default its doc names.
type AutodiscoverOptions struct {
	// Client supplies the transport and credentials of the Autodiscover
	// requests: HTTPClient, Auth, UserAgent, Logger, DebugWriter,
	// MaxResponseBytes, MaxResponseTags, MaxConnections and Clock (which
	// also ages the cache). Pass the Options of the EWS client. Nil means
	// the zero Options.
	Client *Options

	// URL, when set, is the Autodiscover endpoint to ask instead of the
	// candidates derived from each address's domain: a path ending in
	// ".svc" is SOAP Autodiscover, one ending in ".xml" POX. It may be
	// plain http (the caller's choice, e.g. a test server on loopback);
	// redirects from it are still held to the rules below.
	URL string

	// TTL is how long discovered settings are cached. Default
	// DefaultAutodiscoverTTL.
	TTL time.Duration

	// MaxRedirects bounds the address and URL redirects followed per
	// mailbox. Default DefaultMaxRedirects.
	MaxRedirects int

	// AllowRedirect is asked before following a redirect to an address or
	// URL outside the domain of the address being discovered (e.g.
	// contoso.com to outlook.office365.com); nil refuses them all
	// (ErrRedirectRefused). It is never asked about plain-http URLs, which
	// are always refused. It runs on the goroutine that called Discover or
	// DiscoverAll.
	AllowRedirect func(Redirect) bool

	// Settings are requested from SOAP Autodiscover besides the ones
	// UserSettings decodes; their values land in UserSettings.Settings.
	Settings []string

	// RequestTimeout bounds each request. Default
	// DefaultAutodiscoverTimeout.
	RequestTimeout time.Duration

	// RequestedServerVersion is the SOAP RequestedServerVersion header.
	// Default DefaultAutodiscoverVersion.
	RequestedServerVersion string
}

// Validate reports an unusable AutodiscoverOptions value.
// NewAutodiscoverer calls it.
func (o *AutodiscoverOptions) Validate() error {
	if o.URL != "" {
		if _, err := parseAutodiscoverURL(o.URL); err != nil {
			return err
		}
	}
	if o.TTL < 0 || o.RequestTimeout < 0 || o.MaxRedirects < 0 {
		return fmt.Errorf("%w: negative TTL, RequestTimeout or MaxRedirects", ErrInvalidOptions)
	}
	for _, s := range o.Settings {
		if s == "" || strings.ContainsAny(s, " \t\r\n<>&") {
			return fmt.Errorf("%w: setting name %q", ErrInvalidOptions, s)
		}
	}
	if o.Client != nil {
		return o.Client.Validate()
	}
	return nil
}

// RedirectKind says what an Autodiscover redirect points at.
type RedirectKind string

// Kinds of redirect.
const (
	// RedirectToAddress: RedirectAddress (SOAP) or redirectAddr (POX):
	// discover another address instead.
	RedirectToAddress RedirectKind = "address"
	// RedirectToURL: RedirectUrl (SOAP), redirectUrl (POX), an HTTP 301/302
	// from a candidate, or the Location of the HTTP redirect method: ask
	// another Autodiscover URL.
	RedirectToURL RedirectKind = "url"
)

// Redirect is a redirect AutodiscoverOptions.AllowRedirect is asked about.
type Redirect struct {
	// Kind is what To is.
	Kind RedirectKind
	// Mailbox is the address being discovered at this hop.
	Mailbox string
	// From is the Autodiscover URL that sent the redirect.
	From string
	// To is the new address or URL.
	To string
}

// UserSettings are the Autodiscover settings of one mailbox.
type UserSettings struct {
	// Address is the address that was asked for, as given.
	Address string
	// SMTPAddress is the mailbox's AutoDiscoverSMTPAddress, else the
	// address the last address redirect named, else Address (lower case).
	SMTPAddress string
	// ExternalEwsURL and InternalEwsURL are the EWS endpoints (POX: the
	// EwsUrl of the EXPR and EXCH protocols).
	ExternalEwsURL string
	InternalEwsURL string
	// GroupingInformation groups mailboxes for affinity: mailboxes with
	// the same GroupingInformation and EWS URL share a mailbox server (see
	// GroupByAffinity).
	GroupingInformation string
	// DisplayName is UserDisplayName.
	DisplayName string
	// CasVersion is the Client Access server's version, e.g. "15.01.2507.006".
	CasVersion string
	// EwsSupportedSchemas are the RequestServerVersion values the server
	// accepts, e.g. "Exchange2013".
	EwsSupportedSchemas []string
	// Settings holds every setting returned, by name (POX answers are
	// mapped to the SOAP names).
	Settings map[string]string
	// SettingErrors lists settings the server could not return.
	SettingErrors []SettingError
	// AutodiscoverURL is the endpoint that answered.
	AutodiscoverURL string
	// POX is true when the answer came from POX Autodiscover.
	POX bool
	// Redirects is the number of redirects followed to get here.
	Redirects int
	// Expires is when the cached copy expires.
	Expires time.Time
}

// EwsURL returns the EWS endpoint to use: ExternalEwsURL, else
// InternalEwsURL.
func (s *UserSettings) EwsURL() string {
	if s.ExternalEwsURL != "" {
		return s.ExternalEwsURL
	}
	return s.InternalEwsURL
}

// NewClient returns a client for the mailbox's EWS URL (see New).
func (s *UserSettings) NewClient(opts *Options) (*Client, error) { return New(s.EwsURL(), opts) }

// fromSettings fills the typed fields from Settings.
func (s *UserSettings) fromSettings() {
	m := s.Settings
	s.ExternalEwsURL = m[SettingExternalEwsURL]
	s.InternalEwsURL = m[SettingInternalEwsURL]
	s.GroupingInformation = m[SettingGroupingInformation]
	s.DisplayName = m[SettingUserDisplayName]
	s.SMTPAddress = m[SettingAutoDiscoverSMTPAddress]
	s.CasVersion = m[SettingCasVersion]
	s.EwsSupportedSchemas = nil
	for v := range strings.SplitSeq(m[SettingEwsSupportedSchemas], ",") {
		if v = strings.TrimSpace(v); v != "" {
			s.EwsSupportedSchemas = append(s.EwsSupportedSchemas, v)
		}
	}
}

func (s *UserSettings) clone() *UserSettings {
	c := *s
	c.Settings = maps.Clone(s.Settings)
	c.EwsSupportedSchemas = slices.Clone(s.EwsSupportedSchemas)
	c.SettingErrors = slices.Clone(s.SettingErrors)
	return &c
}

// DiscoverResult is the outcome of Autodiscover for one address.
type DiscoverResult struct {
	// Address is the address asked for, as given.
	Address string
	// Settings are the mailbox's settings; nil when Err is set.
	Settings *UserSettings
	// Err is the mailbox's failure: an *AutodiscoverError (InvalidUser,
	// ...), ErrRedirectRefused, ErrTooManyRedirects, ErrAutodiscoverFailed,
	// or ErrInvalidRequest for an address that is not one.
	Err error
}

// Autodiscoverer finds mailboxes' EWS URLs and GroupingInformation with
// Autodiscover and caches them. It is safe for concurrent use; concurrent
// lookups of the same uncached address may each ask the server.
//
// For each domain it tries, in order (Microsoft's "Autodiscover for
// Exchange"; AD SCP lookup and DNS SRV records are not used):
//
//  1. https://<domain>/autodiscover/autodiscover.svc (SOAP)
//  2. https://autodiscover.<domain>/autodiscover/autodiscover.svc (SOAP)
//  3. https://<domain>/autodiscover/autodiscover.xml (POX)
//  4. https://autodiscover.<domain>/autodiscover/autodiscover.xml (POX)
//  5. an unauthenticated GET of http://autodiscover.<domain>/autodiscover/autodiscover.xml,
//     whose 301/302 Location (https only) is then asked
//
// or only AutodiscoverOptions.URL when set; the endpoint that answered a
// domain last is tried first next time. SOAP asks up to
// MaxAutodiscoverUsers mailboxes per request; POX one per request.
// Address and URL redirects are followed up to MaxRedirects hops, never to
// plain http, never back to an address or URL already visited, and outside
// the domain only with AllowRedirect's consent.
type Autodiscoverer struct {
	c        *Client
	opts     AutodiscoverOptions
	explicit *adEndpoint
	clock    Clock
	log      *slog.Logger
	settings []string

	mu        sync.Mutex
	cache     map[string]*UserSettings // by lower-case address
	endpoints map[string]adEndpoint    // by domain: the endpoint that answered last
}

// adEndpoint is one Autodiscover URL and how to ask it.
type adEndpoint struct {
	url     string
	pox     bool
	httpGet bool // the HTTP redirect method: GET, follow Location
	expires time.Time
}

// NewAutodiscoverer returns an Autodiscoverer. It performs no I/O. A nil
// opts means the zero AutodiscoverOptions.
func NewAutodiscoverer(opts *AutodiscoverOptions) (*Autodiscoverer, error) {
	var o AutodiscoverOptions
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var co Options
	if o.Client != nil {
		co = *o.Client
	}
	// The client is only a carrier of transport and credentials: its
	// endpoint is never used (adRoundTrip names the URL of each request).
	c, err := New("https://autodiscover.invalid/autodiscover/autodiscover.svc", &co)
	if err != nil {
		return nil, err
	}
	o.TTL = cmp.Or(o.TTL, DefaultAutodiscoverTTL)
	o.MaxRedirects = cmp.Or(o.MaxRedirects, DefaultMaxRedirects)
	o.RequestTimeout = cmp.Or(o.RequestTimeout, DefaultAutodiscoverTimeout)
	o.RequestedServerVersion = cmp.Or(o.RequestedServerVersion, DefaultAutodiscoverVersion)
	a := &Autodiscoverer{c: c, opts: o, clock: c.opts.Clock, log: c.opts.Logger.With(LogKeyOp, "Autodiscover"),
		cache: map[string]*UserSettings{}, endpoints: map[string]adEndpoint{}}
	a.settings = slices.Clone(defaultSettings)
	for _, s := range o.Settings {
		if !slices.Contains(a.settings, s) {
			a.settings = append(a.settings, s)
		}
	}
	if o.URL != "" {
		ep, _ := parseAutodiscoverURL(o.URL)
		if u, err := url.Parse(ep.url); err == nil {
			if err := checkAuthTransport(co.Auth, u, co.AllowInsecureAuth); err != nil {
				return nil, err
			}
		}
		a.explicit = &ep
	}
	return a, nil
}

// parseAutodiscoverURL checks an explicit Autodiscover URL and names its
// flavour.
func parseAutodiscoverURL(raw string) (adEndpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return adEndpoint{}, fmt.Errorf("%w: Autodiscover URL is not a valid URL", ErrInvalidOptions)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil {
		return adEndpoint{}, fmt.Errorf("%w: Autodiscover URL %q is not an http(s) URL without credentials", ErrInvalidOptions, u.Redacted())
	}
	p := strings.ToLower(u.Path)
	switch {
	case strings.HasSuffix(p, ".svc"):
		return adEndpoint{url: u.String()}, nil
	case strings.HasSuffix(p, ".xml"):
		return adEndpoint{url: u.String(), pox: true}, nil
	}
	return adEndpoint{}, fmt.Errorf("%w: Autodiscover URL %q ends neither in .svc (SOAP) nor .xml (POX)", ErrInvalidOptions, u.Redacted())
}

// Discover returns the settings of one mailbox, from the cache when they
// have not expired.
func (a *Autodiscoverer) Discover(ctx context.Context, address string) (*UserSettings, error) {
	rs, err := a.DiscoverAll(ctx, []string{address})
	if err != nil {
		return nil, err
	}
	return rs[0].Settings, rs[0].Err
}

// DiscoverAll returns the settings of many mailboxes, one result per
// address in input order, each with its own Err. Cached settings that have
// not expired are used as they are; the others are asked in as few
// requests as the flavour allows (one SOAP request per domain and
// endpoint for up to MaxAutodiscoverUsers mailboxes). The returned error
// is the context's, when it ended before every mailbox was answered.
func (a *Autodiscoverer) DiscoverAll(ctx context.Context, addresses []string) ([]DiscoverResult, error) {
	results := make([]DiscoverResult, len(addresses))
	now := a.clock.Now()
	pending := map[string]*adUser{}
	var todo []*adUser
	for i, addr := range addresses {
		results[i].Address = addr
		key, err := normalizeAddress(addr)
		if err != nil {
			results[i].Err = err
			continue
		}
		if s := a.cached(key, now); s != nil {
			s.Address = addr
			results[i].Settings = s
			continue
		}
		if u := pending[key]; u != nil {
			u.idx = append(u.idx, i)
			continue
		}
		u := &adUser{key: key, addr: key, idx: []int{i}, seenAddr: map[string]bool{key: true}, seenURL: map[string]bool{}}
		pending[key] = u
		todo = append(todo, u)
	}
	if len(todo) > 0 {
		a.run(ctx, todo)
	}
	for _, u := range todo {
		for _, i := range u.idx {
			if u.settings != nil {
				s := u.settings.clone()
				s.Address = addresses[i]
				results[i].Settings = s
			} else {
				results[i].Err = u.err
			}
		}
	}
	return results, ctx.Err()
}

// Forget drops the cached settings of the given addresses, so that the
// next lookup asks the server again: call it when a mailbox moved
// (ErrMailboxMoveInProgress, ErrorInvalidWatermark after a move).
func (a *Autodiscoverer) Forget(addresses ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, addr := range addresses {
		if key, err := normalizeAddress(addr); err == nil {
			delete(a.cache, key)
		}
	}
}

// Flush drops every cached setting and remembered endpoint.
func (a *Autodiscoverer) Flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.cache)
	clear(a.endpoints)
}

// cached returns a copy of unexpired cached settings, or nil.
func (a *Autodiscoverer) cached(key string, now time.Time) *UserSettings {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.cache[key]
	if s == nil {
		return nil
	}
	if !now.Before(s.Expires) {
		delete(a.cache, key)
		return nil
	}
	return s.clone()
}

// normalizeAddress lower-cases an SMTP address and checks its shape.
func normalizeAddress(addr string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.ContainsAny(a, " \t\r\n<>\"") {
		return "", fmt.Errorf("ews: autodiscover: %w: %q is not an SMTP address", ErrInvalidRequest, addr)
	}
	return a, nil
}

// domainOf returns the domain of a normalized address.
func domainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }

// inDomain reports whether host is domain or one of its subdomains.
func inDomain(host, domain string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// joinAttempts joins the candidates' failures for a final error.
func joinAttempts(attempts []error) error {
	if len(attempts) == 0 {
		return errors.New("no Autodiscover endpoint to try")
	}
	return errors.Join(attempts...)
}

package ews_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

// Autodiscover against the fake: every test runs the real Autodiscoverer
// over loopback HTTP against ewstest's SOAP and POX Autodiscover and
// checks what it found against the fake's own placement of the mailboxes
// (Server.MailboxBackend, GroupingInformationOf).

// adRoutes is an HTTP transport that sends requests for the named host
// names (any scheme) to the fake over loopback http, keeping the Host
// header, and fails requests for any other name as an unreachable host
// would; loopback URLs go through unchanged. It records every request.
type adRoutes struct {
	fake  string // host:port of the fake
	hosts map[string]bool
	base  http.RoundTripper

	mu   sync.Mutex
	seen []string
}

func newADRoutes(srv *ewstest.Server, hosts ...string) *adRoutes {
	u, _ := url.Parse(srv.URL)
	rt := &adRoutes{fake: u.Host, hosts: map[string]bool{}, base: http.DefaultTransport.(*http.Transport).Clone()}
	for _, h := range hosts {
		rt.hosts[h] = true
	}
	return rt
}

func (rt *adRoutes) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.seen = append(rt.seen, req.Method+" "+req.URL.String())
	rt.mu.Unlock()
	switch h := req.URL.Hostname(); {
	case h == "127.0.0.1":
		return rt.base.RoundTrip(req)
	case rt.hosts[h]:
		r := req.Clone(req.Context())
		r.Host = req.URL.Host
		r.URL.Scheme, r.URL.Host = "http", rt.fake
		return rt.base.RoundTrip(r)
	}
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, fmt.Errorf("dial tcp: lookup %s: no such host", req.URL.Hostname())
}

func (rt *adRoutes) requests() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.seen)
}

func (rt *adRoutes) reset() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.seen = nil
}

// adServer starts a fake with users u0..u(n-1)@example.com spread over the
// given databases (round robin), plus alice, with Basic authentication.
func adServer(t testing.TB, n int, databases ...string) *ewstest.Server {
	t.Helper()
	if len(databases) == 0 {
		databases = []string{"DB01"}
	}
	users := []ewstest.User{{Name: "alice", Password: "pw", Address: "alice@example.com", Database: databases[0]}}
	for i := range n {
		users = append(users, ewstest.User{Name: fmt.Sprintf("u%d", i), Password: "pw",
			Address: fmt.Sprintf("u%d@example.com", i), Database: databases[i%len(databases)]})
	}
	srv := ewstest.NewServer(ewstest.Options{Users: users, Auth: ewstest.AuthOptions{Mode: ewstest.AuthBasic},
		Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(srv.Close)
	return srv
}

// adClient returns an Autodiscoverer authenticating as alice over rt, on
// clk, with opts' other fields.
func adClient(t testing.TB, rt http.RoundTripper, clk ews.Clock, opts ews.AutodiscoverOptions) *ews.Autodiscoverer {
	t.Helper()
	opts.Client = &ews.Options{HTTPClient: &http.Client{Transport: rt}, Auth: ews.Basic("alice", "pw"), Clock: clk,
		Logger: slog.New(slog.DiscardHandler)}
	a, err := ews.NewAutodiscoverer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func adClock() *debouncetest.Clock {
	return debouncetest.NewClock(time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC))
}

// httpsEWS makes the fake report an https EWS URL for DB01's mailboxes,
// as Exchange behind TLS does (an https Autodiscover endpoint naming a
// plain-http EWS URL is refused), and returns it.
func httpsEWS(srv *ewstest.Server) string {
	const u = "https://mail.example.com/EWS/Exchange.asmx"
	srv.SetBackendEwsURL(ewstest.BackendOf("DB01"), u)
	return u
}

func gusCount(srv *ewstest.Server) int64 { return srv.RequestStats().Requests["GetUserSettings"] }

func TestAutodiscover_ExplicitSOAP(t *testing.T) {
	srv := adServer(t, 2, "DB01", "DB02")
	a := adClient(t, newADRoutes(srv), adClock(), ews.AutodiscoverOptions{URL: srv.AutodiscoverURL()})
	s, err := a.Discover(context.Background(), "U1@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	backend, _ := srv.MailboxBackend("u1@example.com")
	if s.EwsURL() != srv.URL || s.InternalEwsURL != srv.URL || s.GroupingInformation != ewstest.GroupingInformationOf(backend) {
		t.Fatalf("settings %+v, want EWS %s and grouping of %s", s, srv.URL, backend)
	}
	if s.Address != "U1@Example.com" || s.SMTPAddress != "u1@example.com" || s.POX || s.Redirects != 0 ||
		s.AutodiscoverURL != srv.AutodiscoverURL() || !slices.Contains(s.EwsSupportedSchemas, "Exchange2013") ||
		s.Settings[ews.SettingInternalMailboxServer] != backend || s.CasVersion == "" {
		t.Fatalf("settings %+v", s)
	}
	// The client can use what it found.
	c, err := s.NewClient(&ews.Options{Auth: ews.Basic("u1", "pw")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetFolder(context.Background(), ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("inbox")}}); err != nil {
		t.Fatalf("GetFolder at the discovered URL: %v", err)
	}
}

func TestAutodiscover_ExplicitPOX(t *testing.T) {
	srv := adServer(t, 1, "DB07")
	a := adClient(t, newADRoutes(srv), adClock(), ews.AutodiscoverOptions{URL: srv.AutodiscoverPOXURL()})
	s, err := a.Discover(context.Background(), "u0@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !s.POX || s.ExternalEwsURL != srv.URL || s.InternalEwsURL != srv.URL ||
		s.GroupingInformation != ewstest.GroupingInformationOf(ewstest.BackendOf("DB07")) || s.SMTPAddress != "u0@example.com" {
		t.Fatalf("POX settings %+v", s)
	}
	if n := srv.RequestStats().Requests["Autodiscover"]; n != 1 {
		t.Fatalf("%d POX requests, want 1", n)
	}
	_, err = a.Discover(context.Background(), "nobody@example.com")
	if !errors.Is(err, ews.AutodiscoverInvalidUser) {
		t.Fatalf("unknown mailbox over POX: %v, want InvalidUser", err)
	}
}

func TestAutodiscover_Batching(t *testing.T) {
	srv := adServer(t, 250)
	a := adClient(t, newADRoutes(srv), adClock(), ews.AutodiscoverOptions{URL: srv.AutodiscoverURL()})
	var addrs []string
	for i := range 250 {
		addrs = append(addrs, fmt.Sprintf("u%d@example.com", i))
	}
	addrs = append(addrs, "nobody@example.com", "u7@example.com", "not an address")
	rs, err := a.DiscoverAll(context.Background(), addrs)
	if err != nil {
		t.Fatal(err)
	}
	if n := gusCount(srv); n != 3 {
		t.Fatalf("%d GetUserSettings requests for 251 distinct mailboxes, want 3 (100 per request)", n)
	}
	for i, r := range rs[:250] {
		if r.Err != nil || r.Address != addrs[i] || r.Settings.SMTPAddress != addrs[i] || r.Settings.EwsURL() != srv.URL {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if !errors.Is(rs[250].Err, ews.AutodiscoverInvalidUser) {
		t.Fatalf("unknown mailbox: %v", rs[250].Err)
	}
	if rs[251].Err != nil || rs[251].Settings.SMTPAddress != "u7@example.com" {
		t.Fatalf("duplicate address: %+v", rs[251])
	}
	if !errors.Is(rs[252].Err, ews.ErrInvalidRequest) {
		t.Fatalf("bad address: %v", rs[252].Err)
	}
}

func TestAutodiscover_CandidatesAndEndpointMemory(t *testing.T) {
	srv := adServer(t, 2)
	ewsURL := httpsEWS(srv)
	rt := newADRoutes(srv, "autodiscover.example.com")
	a := adClient(t, rt, adClock(), ews.AutodiscoverOptions{})
	ctx := context.Background()
	if s, err := a.Discover(ctx, "u0@example.com"); err != nil || s.EwsURL() != ewsURL {
		t.Fatalf("%+v, %v", s, err)
	}
	want := []string{
		"POST https://example.com/autodiscover/autodiscover.svc",
		"POST https://autodiscover.example.com/autodiscover/autodiscover.svc",
	}
	if got := rt.requests(); !slices.Equal(got, want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
	// The next mailbox of the domain goes to the endpoint that answered.
	rt.reset()
	if _, err := a.Discover(ctx, "u1@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := rt.requests(); !slices.Equal(got, want[1:]) {
		t.Fatalf("second lookup: requests %q, want %q", got, want[1:])
	}
}

func TestAutodiscover_POXFallback(t *testing.T) {
	srv := adServer(t, 1)
	ewsURL := httpsEWS(srv)
	srv.SetAutodiscoverFailure(ewstest.AutodiscoverFailure{SOAPStatus: http.StatusNotFound})
	rt := newADRoutes(srv, "autodiscover.example.com")
	a := adClient(t, rt, adClock(), ews.AutodiscoverOptions{})
	s, err := a.Discover(context.Background(), "u0@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !s.POX || s.AutodiscoverURL != "https://autodiscover.example.com/autodiscover/autodiscover.xml" || s.EwsURL() != ewsURL {
		t.Fatalf("settings %+v", s)
	}
	want := []string{
		"POST https://example.com/autodiscover/autodiscover.svc",
		"POST https://autodiscover.example.com/autodiscover/autodiscover.svc",
		"POST https://example.com/autodiscover/autodiscover.xml",
		"POST https://autodiscover.example.com/autodiscover/autodiscover.xml",
	}
	if got := rt.requests(); !slices.Equal(got, want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
}

func TestAutodiscover_HTTPRedirectMethod(t *testing.T) {
	srv := adServer(t, 1)
	httpsEWS(srv)
	// Only the plain-http name answers, with a redirect.
	srv.SetAutodiscoverFailure(ewstest.AutodiscoverFailure{SOAPStatus: http.StatusNotFound, POXStatus: http.StatusNotFound})
	rt := newADRoutes(srv, "autodiscover.example.com", "mail.example.com")
	a := adClient(t, rt, adClock(), ews.AutodiscoverOptions{})
	ctx := context.Background()

	srv.SetAutodiscoverHTTPRedirect("http://mail.example.com/autodiscover/autodiscover.xml")
	_, err := a.Discover(ctx, "u0@example.com")
	if !errors.Is(err, ews.ErrRedirectRefused) {
		t.Fatalf("redirect to plain http: %v, want ErrRedirectRefused", err)
	}
	got := rt.requests()
	if last := got[len(got)-1]; last != "GET http://autodiscover.example.com/autodiscover/autodiscover.xml" {
		t.Fatalf("requests %q end with %q, want the unauthenticated GET", got, last)
	}

	srv.SetAutodiscoverFailure(ewstest.AutodiscoverFailure{})
	srv.SetAutodiscoverHTTPRedirect("https://mail.example.com/autodiscover/autodiscover.xml")
	rt2 := newADRoutes(srv, "mail.example.com") // now only the redirect target is reachable over "https"
	rt2.hosts["autodiscover.example.com"] = false
	a2 := adClient(t, &httpOnly{rt2, "autodiscover.example.com"}, adClock(), ews.AutodiscoverOptions{})
	s, err := a2.Discover(ctx, "u0@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if s.AutodiscoverURL != "https://mail.example.com/autodiscover/autodiscover.xml" || !s.POX || s.Redirects != 1 {
		t.Fatalf("settings %+v", s)
	}
}

// httpOnly routes plain-http requests for host to the fake (the HTTP
// redirect method's name answers only on port 80) and everything else to
// next.
type httpOnly struct {
	next *adRoutes
	host string
}

func (h *httpOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && req.URL.Hostname() == h.host {
		if req.Header.Get("Authorization") != "" {
			return nil, errors.New("the HTTP redirect method must not send credentials")
		}
		h.next.hosts[h.host] = true
		defer func() { h.next.hosts[h.host] = false }()
	}
	return h.next.RoundTrip(req)
}

func TestAutodiscover_AddressRedirects(t *testing.T) {
	srv := adServer(t, 12)
	ctx := context.Background()
	var asked []ews.Redirect
	a := adClient(t, newADRoutes(srv), adClock(), ews.AutodiscoverOptions{URL: srv.AutodiscoverURL(),
		AllowRedirect: func(r ews.Redirect) bool { asked = append(asked, r); return strings.HasSuffix(r.To, "@example.com") }})

	srv.SetAutodiscoverUser("alias@example.com", ewstest.AutodiscoverUser{RedirectAddress: "u3@example.com"})
	s, err := a.Discover(ctx, "alias@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if s.SMTPAddress != "u3@example.com" || s.Address != "alias@example.com" || s.Redirects != 1 || len(asked) != 0 {
		t.Fatalf("same-domain redirect: %+v (consent asked %v)", s, asked)
	}

	// Another domain needs consent: refused for other.net, granted for a
	// redirect from sub.other.net back into example.com.
	srv.SetAutodiscoverUser("bob@contoso.net", ewstest.AutodiscoverUser{RedirectAddress: "bob@other.net"})
	if _, err := a.Discover(ctx, "bob@contoso.net"); !errors.Is(err, ews.ErrRedirectRefused) {
		t.Fatalf("redirect to another domain without consent: %v", err)
	}
	srv.SetAutodiscoverUser("carol@contoso.net", ewstest.AutodiscoverUser{RedirectAddress: "u4@example.com"})
	s, err = a.Discover(ctx, "carol@contoso.net")
	if err != nil || s.SMTPAddress != "u4@example.com" {
		t.Fatalf("consented redirect: %+v, %v", s, err)
	}
	if len(asked) != 2 || asked[1] != (ews.Redirect{Kind: ews.RedirectToAddress, Mailbox: "carol@contoso.net",
		From: srv.AutodiscoverURL(), To: "u4@example.com"}) {
		t.Fatalf("consent asked %+v", asked)
	}

	// A redirect to the address asked is refused; a loop and a chain past
	// the bound stop.
	srv.SetAutodiscoverUser("self@example.com", ewstest.AutodiscoverUser{RedirectAddress: "SELF@example.com"})
	if _, err := a.Discover(ctx, "self@example.com"); !errors.Is(err, ews.ErrRedirectRefused) {
		t.Fatalf("redirect to itself: %v", err)
	}
	srv.SetAutodiscoverUser("ping@example.com", ewstest.AutodiscoverUser{RedirectAddress: "pong@example.com"})
	srv.SetAutodiscoverUser("pong@example.com", ewstest.AutodiscoverUser{RedirectAddress: "ping@example.com"})
	if _, err := a.Discover(ctx, "ping@example.com"); !errors.Is(err, ews.ErrTooManyRedirects) {
		t.Fatalf("redirect loop: %v", err)
	}
	for i := range 11 { // c0 -> c1 -> ... -> c11 -> u11: eleven hops to c11
		srv.SetAutodiscoverUser(fmt.Sprintf("c%d@example.com", i), ewstest.AutodiscoverUser{RedirectAddress: fmt.Sprintf("c%d@example.com", i+1)})
	}
	srv.SetAutodiscoverUser("c11@example.com", ewstest.AutodiscoverUser{RedirectAddress: "u11@example.com"})
	if _, err := a.Discover(ctx, "c0@example.com"); !errors.Is(err, ews.ErrTooManyRedirects) {
		t.Fatalf("12 redirects: %v, want ErrTooManyRedirects", err)
	}
	if s, err := a.Discover(ctx, "c2@example.com"); err != nil || s.Redirects != 10 || s.SMTPAddress != "u11@example.com" {
		t.Fatalf("10 redirects (the bound): %+v, %v", s, err)
	}
}

func TestAutodiscover_URLRedirects(t *testing.T) {
	srv := adServer(t, 3)
	ewsURL := httpsEWS(srv)
	ctx := context.Background()
	rt := newADRoutes(srv, "ad2.example.com", "autodiscover.elsewhere.org")
	var asked []ews.Redirect
	a := adClient(t, rt, adClock(), ews.AutodiscoverOptions{URL: srv.AutodiscoverURL(),
		AllowRedirect: func(r ews.Redirect) bool { asked = append(asked, r); return false }})

	// The loopback endpoint sends u0 to https://ad2.example.com, which answers.
	srv.SetAutodiscoverUser("u0@example.com", ewstest.AutodiscoverUser{RedirectURL: "https://ad2.example.com/autodiscover/autodiscover.svc", Host: "127.0.0.1"})
	s, err := a.Discover(ctx, "u0@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if s.AutodiscoverURL != "https://ad2.example.com/autodiscover/autodiscover.svc" || s.Redirects != 1 || s.EwsURL() != ewsURL {
		t.Fatalf("settings %+v", s)
	}

	for _, tc := range []struct {
		name, target string
		want         error
		consent      bool
	}{
		{"plain http", "http://ad2.example.com/autodiscover/autodiscover.svc", ews.ErrRedirectRefused, false},
		{"other domain", "https://autodiscover.elsewhere.org/autodiscover/autodiscover.svc", ews.ErrRedirectRefused, true},
		{"loop", "https://ad2.example.com/autodiscover/autodiscover.svc", ews.ErrTooManyRedirects, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.Flush()
			asked = nil
			// No Host limit: every endpoint redirects u1 again.
			srv.SetAutodiscoverUser("u1@example.com", ewstest.AutodiscoverUser{RedirectURL: tc.target})
			_, err := a.Discover(ctx, "u1@example.com")
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if (len(asked) > 0) != tc.consent {
				t.Fatalf("consent asked %+v", asked)
			}
		})
	}
}

func TestAutodiscover_CacheTTL(t *testing.T) {
	srv := adServer(t, 2)
	clk := adClock()
	a := adClient(t, newADRoutes(srv), clk, ews.AutodiscoverOptions{URL: srv.AutodiscoverURL(), TTL: time.Hour})
	ctx := context.Background()
	first, err := a.Discover(ctx, "u0@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !first.Expires.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("Expires %v, want now+1h", first.Expires)
	}
	first.Settings[ews.SettingExternalEwsURL] = "mutated" // the cache holds its own copy
	clk.Advance(59 * time.Minute)
	for range 3 {
		s, err := a.Discover(ctx, "U0@example.com")
		if err != nil || s.Settings[ews.SettingExternalEwsURL] != srv.URL {
			t.Fatalf("cached lookup: %+v, %v", s, err)
		}
	}
	if n := gusCount(srv); n != 1 {
		t.Fatalf("%d requests for four lookups within the TTL, want 1", n)
	}
	clk.Advance(time.Minute)
	if _, err := a.Discover(ctx, "u0@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := gusCount(srv); n != 2 {
		t.Fatalf("%d requests after the TTL, want 2", n)
	}
	a.Forget("u0@example.com")
	if _, err := a.Discover(ctx, "u0@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := gusCount(srv); n != 3 {
		t.Fatalf("%d requests after Forget, want 3", n)
	}
	// Errors are not cached.
	a.Discover(ctx, "nobody@example.com")
	a.Discover(ctx, "nobody@example.com")
	if n := gusCount(srv); n != 5 {
		t.Fatalf("%d requests after two failed lookups, want 5", n)
	}
}

func TestAutodiscover_Failures(t *testing.T) {
	srv := adServer(t, 1)
	ctx := context.Background()

	srv.SetAutodiscoverFailure(ewstest.AutodiscoverFailure{ErrorCode: "ServerBusy"})
	a := adClient(t, newADRoutes(srv), adClock(), ews.AutodiscoverOptions{URL: srv.AutodiscoverURL()})
	_, err := a.Discover(ctx, "u0@example.com")
	var ae *ews.AutodiscoverError
	if !errors.Is(err, ews.ErrAutodiscoverFailed) || !errors.Is(err, ews.AutodiscoverServerBusy) || !errors.As(err, &ae) || !ae.IsTransient() {
		t.Fatalf("request-wide ServerBusy: %v", err)
	}
	srv.SetAutodiscoverFailure(ewstest.AutodiscoverFailure{})

	srv.SetAutodiscoverUser("u0@example.com", ewstest.AutodiscoverUser{ErrorCode: "InternalServerError"})
	if _, err := a.Discover(ctx, "u0@example.com"); !errors.Is(err, ews.AutodiscoverInternalServerError) || errors.Is(err, ews.ErrAutodiscoverFailed) {
		t.Fatalf("per-user error: %v", err)
	}

	// Wrong credentials everywhere: the failure says so.
	opts := ews.AutodiscoverOptions{URL: srv.AutodiscoverURL(), Client: &ews.Options{Auth: ews.Basic("alice", "wrong")}}
	bad, err := ews.NewAutodiscoverer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Discover(ctx, "alice@example.com"); !errors.Is(err, ews.ErrAutodiscoverFailed) || !errors.Is(err, ews.ErrUnauthorized) {
		t.Fatalf("bad password: %v", err)
	}

	// An https endpoint naming a plain-http EWS URL is refused.
	srv.SetAutodiscoverUser("u0@example.com", ewstest.AutodiscoverUser{})
	tls := adClient(t, newADRoutes(srv, "autodiscover.example.com"), adClock(), ews.AutodiscoverOptions{})
	if _, err := tls.Discover(ctx, "u0@example.com"); !errors.Is(err, ews.ErrRedirectRefused) {
		t.Fatalf("plain-http EWS URL from https: %v", err)
	}

	// Nothing reachable at all.
	none := adClient(t, newADRoutes(srv), adClock(), ews.AutodiscoverOptions{})
	if _, err := none.Discover(ctx, "u0@example.com"); !errors.Is(err, ews.ErrAutodiscoverFailed) {
		t.Fatalf("no endpoint: %v", err)
	}

	for _, bad := range []string{"ftp://x/autodiscover/autodiscover.svc", "https://x/autodiscover/", "https://u:p@x/a.svc"} {
		if _, err := ews.NewAutodiscoverer(&ews.AutodiscoverOptions{URL: bad}); !errors.Is(err, ews.ErrInvalidOptions) {
			t.Errorf("URL %q: %v, want ErrInvalidOptions", bad, err)
		}
	}
}

func TestAutodiscover_NTLM(t *testing.T) {
	srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{{Name: "alice", Password: "pw", Address: "alice@example.com"}},
		Auth: ewstest.AuthOptions{Mode: ewstest.AuthNTLM}, Logger: slog.New(slog.DiscardHandler)})
	defer srv.Close()
	a, err := ews.NewAutodiscoverer(&ews.AutodiscoverOptions{URL: srv.AutodiscoverURL(),
		Client: &ews.Options{Auth: ews.NTLM(`EXAMPLE\alice`, "pw")}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.Discover(context.Background(), "alice@example.com")
	if err != nil || s.EwsURL() != srv.URL {
		t.Fatalf("NTLM: %+v, %v", s, err)
	}
}

package ewstest

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Autodiscover endpoint paths the server serves (matched case-insensitively,
// as IIS does).
const (
	// AutodiscoverSOAPPath is SOAP Autodiscover (GetUserSettings).
	AutodiscoverSOAPPath = "/autodiscover/autodiscover.svc"
	// AutodiscoverPOXPath is POX Autodiscover; an unauthenticated GET on it
	// is the HTTP redirect method (see SetAutodiscoverHTTPRedirect).
	AutodiscoverPOXPath = "/autodiscover/autodiscover.xml"
)

// AutodiscoverUser overrides what Autodiscover answers for one mailbox
// address (which need not have a mailbox). At most one of RedirectAddress,
// RedirectURL and ErrorCode is used, in that order.
type AutodiscoverUser struct {
	// RedirectAddress answers ErrorCode RedirectAddress with this
	// RedirectTarget (POX: Action redirectAddr, RedirectAddr).
	RedirectAddress string
	// RedirectURL answers ErrorCode RedirectUrl with this RedirectTarget
	// (POX: Action redirectUrl, RedirectUrl).
	RedirectURL string
	// ErrorCode answers this UserResponse ErrorCode (e.g. "InvalidUser",
	// "ServerBusy"); POX answers Error 500 for InvalidUser, else 600.
	ErrorCode string
	// ErrorMessage is the ErrorMessage sent with ErrorCode.
	ErrorMessage string
	// Host, when set, limits the override to requests whose Host header
	// (without port) is this, so that a redirect to another host name of
	// the same server is answered normally there.
	Host string
}

// AutodiscoverFailure makes Autodiscover fail as a whole.
type AutodiscoverFailure struct {
	// SOAPStatus, when non-zero, answers every SOAP Autodiscover request
	// with this HTTP status and no body, before authentication (404: a
	// server without SOAP Autodiscover, as Exchange 2007).
	SOAPStatus int
	// POXStatus does the same for POX Autodiscover POSTs.
	POXStatus int
	// ErrorCode, when set, is the request-wide ErrorCode of every
	// GetUserSettings response (e.g. "ServerBusy", "InternalServerError"),
	// with no UserResponses.
	ErrorCode string
}

// autodiscoverState is the Autodiscover configuration of a Server.
type autodiscoverState struct {
	mu       sync.Mutex
	users    map[string]AutodiscoverUser // by lower-case address
	ewsURLs  map[string]string           // by backend
	failure  AutodiscoverFailure
	redirect string // Location of the HTTP redirect method
}

// GroupingInformationOf is the GroupingInformation the server reports for
// the mailboxes of a backend server (see BackendOf): its first DNS label
// in upper case, e.g. "MBX-DB01". Backends and values correspond one to
// one, so mailboxes grouped by it share a backend.
func GroupingInformationOf(backend string) string {
	label, _, _ := strings.Cut(backend, ".")
	return strings.ToUpper(label)
}

// AutodiscoverURL returns the server's SOAP Autodiscover URL, e.g.
// http://127.0.0.1:port/autodiscover/autodiscover.svc ("" before Start).
func (s *Server) AutodiscoverURL() string { return s.rootURL() + AutodiscoverSOAPPath }

// AutodiscoverPOXURL returns the server's POX Autodiscover URL.
func (s *Server) AutodiscoverPOXURL() string { return s.rootURL() + AutodiscoverPOXPath }

func (s *Server) rootURL() string {
	if s.URL == "" {
		return ""
	}
	return strings.TrimSuffix(s.URL, Path)
}

// SetBackendEwsURL sets the EWS URL Autodiscover reports
// (ExternalEwsUrl, InternalEwsUrl, POX EwsUrl) for the mailboxes of a
// backend; "" restores the default, the server's own URL (or, when it
// serves on a listener of the caller's, the request's host with Path).
func (s *Server) SetBackendEwsURL(backend, ewsURL string) {
	st := &s.ad
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ewsURLs == nil {
		st.ewsURLs = map[string]string{}
	}
	if ewsURL == "" {
		delete(st.ewsURLs, backend)
		return
	}
	st.ewsURLs[backend] = ewsURL
}

// SetAutodiscoverUser overrides the Autodiscover answer for address; the
// zero AutodiscoverUser removes the override.
func (s *Server) SetAutodiscoverUser(address string, o AutodiscoverUser) {
	st := &s.ad
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.users == nil {
		st.users = map[string]AutodiscoverUser{}
	}
	if o == (AutodiscoverUser{}) {
		delete(st.users, strings.ToLower(address))
		return
	}
	st.users[strings.ToLower(address)] = o
}

// SetAutodiscoverFailure makes Autodiscover fail as f says; the zero
// value restores normal answers.
func (s *Server) SetAutodiscoverFailure(f AutodiscoverFailure) {
	s.ad.mu.Lock()
	defer s.ad.mu.Unlock()
	s.ad.failure = f
}

// SetAutodiscoverHTTPRedirect makes an unauthenticated GET of
// AutodiscoverPOXPath answer 302 Found with this Location (the HTTP
// redirect method of "Autodiscover for Exchange"); "" restores the default
// (authentication required, then an Error 600).
func (s *Server) SetAutodiscoverHTTPRedirect(location string) {
	s.ad.mu.Lock()
	defer s.ad.mu.Unlock()
	s.ad.redirect = location
}

// override returns the override for address on a request to host.
func (st *autodiscoverState) override(address, host string) (AutodiscoverUser, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	o, ok := st.users[strings.ToLower(address)]
	if ok && o.Host != "" && !strings.EqualFold(o.Host, host) {
		return AutodiscoverUser{}, false
	}
	return o, ok
}

// handleAutodiscover mounts the Autodiscover endpoints on mux; wrap adds
// the server's middleware (authentication, throttling).
func (s *Server) handleAutodiscover(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	soap := wrap(http.HandlerFunc(s.serveAutodiscoverSOAP))
	pox := wrap(http.HandlerFunc(s.serveAutodiscoverPOX))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ad.mu.Lock()
		f, redirect := s.ad.failure, s.ad.redirect
		s.ad.mu.Unlock()
		switch strings.ToLower(r.URL.Path) {
		case AutodiscoverSOAPPath:
			if f.SOAPStatus != 0 {
				w.WriteHeader(f.SOAPStatus)
				return
			}
			soap.ServeHTTP(w, r)
		case AutodiscoverPOXPath:
			if r.Method == http.MethodGet && redirect != "" {
				http.Redirect(w, r, redirect, http.StatusFound)
				return
			}
			if f.POXStatus != 0 && r.Method == http.MethodPost {
				w.WriteHeader(f.POXStatus)
				return
			}
			pox.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	for _, p := range []string{"/autodiscover/", "/Autodiscover/", "/AutoDiscover/"} {
		mux.Handle(p, h)
	}
}

// adMailbox is what Autodiscover reports about one mailbox.
type adMailbox struct {
	m           *Mailbox
	backend     string
	grouping    string
	externalURL string
	internalURL string
}

// lookupAD resolves address for an Autodiscover answer to request r.
func (s *Server) lookupAD(address string, r *http.Request) (adMailbox, bool) {
	m := s.Mailbox(strings.TrimSpace(address))
	if m == nil {
		return adMailbox{}, false
	}
	backend := s.broker().MailboxBackend(s.placed(m))
	s.ad.mu.Lock()
	u := s.ad.ewsURLs[backend]
	s.ad.mu.Unlock()
	if u == "" {
		u = s.URL
	}
	if u == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		u = scheme + "://" + r.Host + Path
	}
	return adMailbox{m: m, backend: backend, grouping: GroupingInformationOf(backend), externalURL: u, internalURL: u}, true
}

// requestHost is the request's Host without its port.
func requestHost(r *http.Request) string {
	if u, err := url.Parse("http://" + r.Host); err == nil {
		return u.Hostname()
	}
	return r.Host
}

package ewstest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/mailsync/mailsync/debounce"
	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

// Path is the EWS endpoint path the server serves.
const Path = "/EWS/Exchange.asmx"

// DefaultTombstoneRetention is how long deleted-item tombstones (and so
// sync states) are kept when Options.TombstoneRetention is zero.
const DefaultTombstoneRetention = 30 * 24 * time.Hour

// User is a mailbox owner.
type User struct {
	// Name is the logon name (for NTLM and Basic auth).
	Name string
	// Password is the user's password.
	Password string
	// Address is the primary SMTP address of the user's mailbox.
	Address string
	// Database is the id of the mailbox database that holds the mailbox;
	// "" means "DB01".
	Database string
}

// ServerVersion is what the server reports in t:ServerVersionInfo.
type ServerVersion struct {
	MajorVersion     int
	MinorVersion     int
	MajorBuildNumber int
	MinorBuildNumber int
	// Version is the schema version name, e.g. "V2017_07_11".
	Version string
}

// DefaultServerVersion is Exchange Server 2016 CU-level build numbers.
var DefaultServerVersion = ServerVersion{MajorVersion: 15, MinorVersion: 1, MajorBuildNumber: 2507, MinorBuildNumber: 6, Version: "V2017_07_11"}

// Options configures a Server. The zero value is usable: no users (add
// mailboxes with Server.AddUser), the real clock, 30-day retention.
type Options struct {
	// Users are the mailbox owners.
	Users []User
	// ImpersonationUsers lists the logon names (or SMTP addresses) that
	// hold the ApplicationImpersonation right; ExchangeImpersonation from
	// anyone else is refused with ErrorImpersonateUserDenied.
	ImpersonationUsers []string
	// Clock is the server's time source; nil means the wall clock. Tests
	// pass a *debouncetest.Clock (see Clock).
	Clock Clock
	// TombstoneRetention is how long deleted items are remembered for ICS;
	// a sync state older than this is invalid. Zero means
	// DefaultTombstoneRetention.
	TombstoneRetention time.Duration
	// ReadFlagMovesCommitTime makes a read-flag-only change move the
	// folder's PR_LOCAL_COMMIT_TIME_MAX. Default false: Exchange's store
	// tracks read state apart from other changes, and this is the
	// pessimistic reading.
	ReadFlagMovesCommitTime bool
	// Version is reported in every response header; zero means
	// DefaultServerVersion.
	Version ServerVersion
	// Logger receives request logs; nil means slog.Default().
	Logger *slog.Logger
	// Compression gzips responses larger than 1 KiB for clients that send
	// Accept-Encoding: gzip, as Exchange's IIS front end does when dynamic
	// compression is on. Off by default.
	Compression bool
	// Auth says how requests are authenticated (see auth.go); the zero
	// value accepts unauthenticated requests.
	Auth AuthOptions
	// Throttle holds the throttling knobs (see auth.go).
	Throttle ThrottleOptions
	// Middleware wraps the SOAP handler, outermost first, outside the
	// authentication and throttling middleware.
	Middleware []func(http.Handler) http.Handler
}

// Validate checks the options: every user needs a logon name and an SMTP
// address, names and addresses must be unique, and durations must not be
// negative. NewUnstartedServer logs and skips users that fail these checks.
func (o *Options) Validate() error {
	names, addrs := map[string]bool{}, map[string]bool{}
	for _, u := range o.Users {
		if err := u.validate(); err != nil {
			return err
		}
		n, a := strings.ToLower(u.Name), strings.ToLower(u.Address)
		if names[n] || addrs[a] {
			return fmt.Errorf("%w: duplicate user %q or address %q", ErrInvalidArgument, u.Name, u.Address)
		}
		names[n], addrs[a] = true, true
	}
	if o.TombstoneRetention < 0 {
		return fmt.Errorf("%w: negative TombstoneRetention", ErrInvalidArgument)
	}
	return nil
}

func (u User) validate() error {
	if u.Name == "" || strings.ContainsAny(u.Name, ":\\") {
		return fmt.Errorf("%w: user name %q is empty or has ':' or '\\'", ErrInvalidArgument, u.Name)
	}
	if at := strings.IndexByte(u.Address, '@'); at <= 0 || at == len(u.Address)-1 || strings.ContainsAny(u.Address, " <>") {
		return fmt.Errorf("%w: %q is not an SMTP address", ErrInvalidArgument, u.Address)
	}
	return nil
}

// eventSink receives the events each mailbox mutation raises. Publish is
// called with the mailbox lock held, in the order the actions happened; it
// must not call back into the Mailbox.
type eventSink interface {
	Publish(database, mailbox string, evs ...notify.Event)
}

// Server is a fake Exchange server for tests, in the spirit of
// net/http/httptest.Server.
type Server struct {
	// URL is the EWS endpoint, http://127.0.0.1:port/EWS/Exchange.asmx,
	// set by Start.
	URL string

	// connContext derives each connection's context (the NTLM
	// middleware keeps per-connection state there); nil for other modes.
	connContext func(ctx context.Context, c net.Conn) context.Context

	opts   Options
	clock  Clock
	log    *slog.Logger
	ts     *httptest.Server
	faults *Faults

	mu        sync.RWMutex
	mailboxes map[string]*Mailbox // by lower-case address
	byGUID    map[string]*Mailbox // by the GUID embedded in ids
	users     map[string]User     // by lower-case logon name
	evsink    eventSink
	testOps   map[string]opHandler // see replaceOp
	extraMW   []func(http.Handler) http.Handler
	throttle  *Throttling

	stats requestStats
	ad    autodiscoverState // see autodiscover.go
}

// NewServer starts and returns a new Server. The caller should call Close
// when finished.
func NewServer(opts Options) *Server {
	s := NewUnstartedServer(opts)
	s.Start()
	return s
}

// NewUnstartedServer returns a Server that is not yet listening, so that
// mailboxes can be set up first. Call Start.
func NewUnstartedServer(opts Options) *Server {
	s := &Server{opts: opts, clock: opts.Clock, log: opts.Logger, mailboxes: map[string]*Mailbox{}, byGUID: map[string]*Mailbox{}, users: map[string]User{}}
	if s.clock == nil {
		s.clock = debounce.SystemClock{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.opts.Version == (ServerVersion{}) {
		s.opts.Version = DefaultServerVersion
	}
	s.faults = &Faults{clock: s.clock}
	for _, u := range opts.Users {
		if err := s.AddUser(u); err != nil {
			s.log.Error("ewstest: bad user", "user", u.Name, "err", err)
		}
	}
	installAuthAndThrottle(s)
	installNotifications(s)
	s.ts = httptest.NewUnstartedServer(s.Handler())
	return s
}

// Start starts the server on 127.0.0.1 at a free port.
func (s *Server) Start() {
	s.ts.Config.ConnContext = s.ConnContext
	s.ts.Start()
	s.URL = s.ts.URL + Path
}

// Close shuts the server down, blocking until all outstanding requests
// have completed. Subscriptions end first, so open GetStreamingEvents
// requests finish and no push notification is posted afterwards.
func (s *Server) Close() {
	s.faults.shutdown()
	closeNotifications(s)
	s.ts.Close()
}

// ConnContext derives a connection's context as the server's own
// listener does: with AuthNTLM it holds the connection's NTLM state. Set
// it as http.Server.ConnContext when serving Handler on a listener of
// your own.
func (s *Server) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if s.connContext == nil {
		return ctx
	}
	return s.connContext(ctx, c)
}

// Client returns an HTTP client configured for the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Faults returns the server's fault-injection controls.
func (s *Server) Faults() *Faults { return s.faults }

// Clock returns the server's clock.
func (s *Server) Clock() Clock { return s.clock }

// AddUser adds a user and creates the user's mailbox with the distinguished
// folders.
func (s *Server) AddUser(u User) error {
	if err := u.validate(); err != nil {
		return err
	}
	if u.Database == "" {
		u.Database = "DB01"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	addr := strings.ToLower(u.Address)
	if _, ok := s.mailboxes[addr]; ok {
		return fmt.Errorf("%w: mailbox %s exists", ErrInvalidArgument, addr)
	}
	if _, ok := s.users[strings.ToLower(u.Name)]; ok {
		return fmt.Errorf("%w: user %s exists", ErrInvalidArgument, u.Name)
	}
	m := newMailbox(s, u)
	if _, dup := s.byGUID[m.guid]; dup {
		return fmt.Errorf("%w: mailbox id of %s collides with another mailbox's", ErrInvalidArgument, addr)
	}
	s.users[strings.ToLower(u.Name)] = u
	s.mailboxes[addr] = m
	s.byGUID[m.guid] = m
	return nil
}

// Users returns the configured users.
func (s *Server) Users() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	return out
}

// LookupUser returns the user with the given logon name (case-insensitive).
func (s *Server) LookupUser(name string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[strings.ToLower(name)]
	return u, ok
}

// Mailbox returns the mailbox with the given SMTP address, or nil.
func (s *Server) Mailbox(address string) *Mailbox {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mailboxes[strings.ToLower(address)]
}

func (s *Server) now() time.Time { return s.clock.Now().UTC() }

func (s *Server) retention() time.Duration {
	if s.opts.TombstoneRetention > 0 {
		return s.opts.TombstoneRetention
	}
	return DefaultTombstoneRetention
}

func (s *Server) sink() eventSink {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.evsink
}

// setEventSink installs the receiver of mailbox events.
func (s *Server) setEventSink(e eventSink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evsink = e
}

// addMiddleware appends an inner middleware (hooks call it before Start).
func (s *Server) addMiddleware(mw func(http.Handler) http.Handler) {
	s.extraMW = append(s.extraMW, mw)
}

// Handler returns the server's HTTP handler: the middleware chain around
// the SOAP endpoint at Path and the Autodiscover endpoints.
func (s *Server) Handler() http.Handler {
	wrap := func(h http.Handler) http.Handler {
		for i := len(s.extraMW) - 1; i >= 0; i-- {
			h = s.extraMW[i](h)
		}
		for i := len(s.opts.Middleware) - 1; i >= 0; i-- {
			h = s.opts.Middleware[i](h)
		}
		return h
	}
	h := wrap(http.HandlerFunc(s.serveSOAP))
	mux := http.NewServeMux()
	s.handleAutodiscover(mux, wrap)
	mux.Handle(Path, h)
	// Exchange matches the path case-insensitively.
	mux.Handle("/ews/exchange.asmx", h)
	mux.Handle("/EWS/exchange.asmx", h)
	return mux
}

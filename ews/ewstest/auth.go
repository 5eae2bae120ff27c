package ewstest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest/internal/authn"
	"github.com/mailsync/mailsync/ews/ewstest/internal/throttle"
)

// Authentication modes for AuthOptions.Mode.
const (
	AuthNone   = "none"
	AuthBasic  = "basic"
	AuthBearer = "bearer"
	AuthNTLM   = "ntlm"
)

// AuthOptions says how the server authenticates requests. The zero value
// asks for nothing (AuthNone).
type AuthOptions struct {
	// Mode is AuthNone, AuthBasic, AuthBearer or AuthNTLM. With AuthNTLM
	// the server runs the real NTLMv2 handshake against the users'
	// passwords and authenticates each TCP connection; with AuthBasic it
	// checks the users' passwords; with AuthBearer it accepts the Tokens.
	// User names are accepted as "name", "DOMAIN\name" or "name@domain",
	// case-insensitively. Wrong credentials get 401 and nothing happens.
	Mode string
	// Tokens maps bearer tokens to logon names (AuthBearer).
	Tokens map[string]string
	// Domain is the NetBIOS domain (NTLM target info). Default "EXAMPLE".
	Domain string
	// DNSDomain is the DNS domain (NTLM target info). Default
	// "example.com".
	DNSDomain string
}

// ThrottleOptions are the server's throttling knobs.
type ThrottleOptions struct {
	// MaxConcurrentRequests is how many requests one user may have in
	// flight; more are refused with an ErrorServerBusy fault (HTTP 500,
	// BackOffMilliseconds). GetStreamingEvents does not count. 0 means
	// unlimited.
	MaxConcurrentRequests int
	// BackOff is the BackOffMilliseconds advised; 0 means 5 s.
	BackOff time.Duration
	// Latency is a real delay added to every request (over the network,
	// whatever the server's clock). Faults.SetLatency is the fake-clock
	// counterpart.
	Latency time.Duration
	// Sleep performs the Latency wait; it returns early with ctx's error
	// when the request is abandoned. Nil means a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// installAuthAndThrottle puts the authentication middleware (outermost)
// and the throttle in front of the SOAP handler.
func installAuthAndThrottle(s *Server) {
	mw, err := s.authMiddleware()
	if err != nil {
		s.log.Error("ewstest: authentication misconfigured; refusing all requests", "err", err)
		s.addMiddleware(func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			})
		})
		return
	}
	if mw != nil {
		s.addMiddleware(mw)
		if strings.EqualFold(s.opts.Auth.Mode, AuthNTLM) {
			s.connContext = authn.ConnContext
		}
	}
	t := s.opts.Throttle
	lim, err := throttle.New(throttle.Config{MaxConcurrent: t.MaxConcurrentRequests, BackOff: t.BackOff,
		Latency: t.Latency, Sleep: t.Sleep}, nil)
	if err != nil {
		s.log.Error("ewstest: throttling misconfigured; ignored", "err", err)
		return
	}
	s.throttle = &Throttling{l: lim}
	s.addMiddleware(func(next http.Handler) http.Handler { return lim.Wrap(next) })
}

func (s *Server) authMiddleware() (func(http.Handler) http.Handler, error) {
	a := s.opts.Auth
	mode, err := authn.ParseMode(a.Mode)
	if a.Mode == "" {
		mode, err = authn.ModeNone, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	cfg := authn.Config{
		Mode:      mode,
		Tokens:    a.Tokens,
		Domain:    a.Domain,
		DNSDomain: a.DNSDomain,
		Logger:    s.log,
		Lookup: func(name string) (string, string, bool) {
			if u, ok := s.LookupUser(name); ok {
				return u.Name, u.Password, true
			}
			// The mailbox address works as a logon name too.
			s.mu.RLock()
			defer s.mu.RUnlock()
			for _, u := range s.users {
				if local, _, _ := strings.Cut(u.Address, "@"); strings.EqualFold(local, name) {
					return u.Name, u.Password, true
				}
			}
			return "", "", false
		},
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	return func(next http.Handler) http.Handler {
		m, err := authn.New(cfg, next)
		if err != nil {
			// Validated above; New fails only on what Validate checks.
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			})
		}
		return m
	}, nil
}

// Throttling holds the server's throttling knobs (ThrottleOptions), which
// can be changed while the server runs. It is safe for concurrent use.
type Throttling struct{ l *throttle.Limiter }

// Throttle returns the server's throttling controls.
func (s *Server) Throttle() *Throttling { return s.throttle }

// SetMaxConcurrentRequests changes the per-user concurrent-request limit
// (0 = unlimited).
func (t *Throttling) SetMaxConcurrentRequests(n int) { t.l.SetMaxConcurrent(n) }

// SetLatency changes the real delay added to each request.
func (t *Throttling) SetLatency(d time.Duration) { t.l.SetLatency(d) }

// SetBackOff changes the BackOffMilliseconds advised with ErrorServerBusy.
func (t *Throttling) SetBackOff(d time.Duration) { t.l.SetBackOff(d) }

// Refused returns how many requests the concurrency limit refused.
func (t *Throttling) Refused() int64 { return t.l.Refused() }

// InFlight returns the number of requests the user (logon name) has in
// flight, GetStreamingEvents excluded.
func (t *Throttling) InFlight(user string) int { return t.l.InFlight(user) }

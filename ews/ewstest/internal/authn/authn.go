package authn

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"

	"github.com/mailsync/mailsync/ews/ewstest/internal/ntlmserver"
)

// Mode selects how requests authenticate.
type Mode string

// The supported modes.
const (
	ModeNone   Mode = "none"
	ModeBasic  Mode = "basic"
	ModeBearer Mode = "bearer"
	ModeNTLM   Mode = "ntlm"
)

// ParseMode returns the Mode named s (case-insensitive), or ErrUnknownMode.
func ParseMode(s string) (Mode, error) {
	m := Mode(strings.ToLower(strings.TrimSpace(s)))
	switch m {
	case ModeNone, ModeBasic, ModeBearer, ModeNTLM:
		return m, nil
	}
	return "", fmt.Errorf("%w: %q (want none, basic, bearer or ntlm)", ErrUnknownMode, s)
}

// Config configures the middleware.
type Config struct {
	// Mode is the authentication scheme; the zero value means ModeNone.
	Mode Mode
	// Users maps each user name to its password. Names are matched
	// without regard to case; the key as written here is what
	// UserFromContext returns.
	Users map[string]string
	// Lookup, when set, is consulted for users not in Users (for a server
	// whose users change while it runs): given a user name without its
	// domain, it returns the canonical name and the password.
	Lookup func(name string) (canonical, password string, ok bool)
	// Tokens maps each bearer token to a user name (ModeBearer); the
	// user must exist when the token is used.
	Tokens map[string]string
	// Domain is the NetBIOS domain the server belongs to (NTLM target
	// info, and the Basic realm). Default "EXAMPLE".
	Domain string
	// DNSDomain is the DNS domain of the server (NTLM target info).
	// Default "example.com".
	DNSDomain string
	// Computer is the NetBIOS name of the server. Default "EXCH01".
	Computer string
	// Logger receives one debug line per rejected request. Default
	// slog.Default().
	Logger *slog.Logger
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch c.Mode {
	case "", ModeNone:
		return nil
	case ModeBasic, ModeNTLM:
		if len(c.Users) == 0 && c.Lookup == nil {
			return fmt.Errorf("%w for mode %s", ErrNoUsers, c.Mode)
		}
		return nil
	case ModeBearer:
		if len(c.Tokens) == 0 {
			return fmt.Errorf("%w: mode bearer needs at least one token", ErrNoUsers)
		}
		if c.Lookup != nil {
			return nil // users may be added later
		}
		for tok, u := range c.Tokens {
			if _, ok := lookupName(c.Users, u); !ok {
				return fmt.Errorf("%w: token %q… maps to %q", ErrTokenUser, prefix(tok), u)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %q", ErrUnknownMode, c.Mode)
}

func prefix(s string) string {
	if len(s) > 4 {
		return s[:4]
	}
	return s
}

type ctxKey int

const userKey ctxKey = 0

// UserFromContext returns the authenticated user name stored in ctx by the
// middleware (the key of Config.Users) and whether there is one.
func UserFromContext(ctx context.Context) (string, bool) {
	u, ok := ctx.Value(userKey).(string)
	return u, ok && u != ""
}

// WithUser returns a copy of ctx carrying user as the authenticated user,
// for callers (and tests) that authenticate by other means.
func WithUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, userKey, user)
}

// ConnContext must be installed as http.Server.ConnContext when Mode is
// ModeNTLM: it gives each TCP connection the state NTLM authenticates. It is
// harmless for the other modes.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return ntlmserver.ConnContext(ctx, c)
}

// Middleware is the authenticating http.Handler built by New.
type Middleware struct {
	cfg  Config
	next http.Handler
	ntlm *ntlmserver.Server
	log  *slog.Logger
}

// New returns a handler that authenticates each request as cfg says and
// calls next with the user in the request context.
func New(cfg Config, next http.Handler) (*Middleware, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Mode = cmp.Or(cfg.Mode, ModeNone)
	cfg.Domain = cmp.Or(cfg.Domain, "EXAMPLE")
	cfg.DNSDomain = cmp.Or(cfg.DNSDomain, "example.com")
	cfg.Computer = cmp.Or(cfg.Computer, "EXCH01")
	m := &Middleware{cfg: cfg, next: next, log: cfg.Logger}
	if m.log == nil {
		m.log = slog.Default()
	}
	if cfg.Mode == ModeNTLM {
		s, err := ntlmserver.New(ntlmserver.Config{
			Domain:      strings.ToUpper(cfg.Domain),
			Computer:    strings.ToUpper(cfg.Computer),
			DNSDomain:   cfg.DNSDomain,
			DNSComputer: strings.ToLower(cfg.Computer) + "." + cfg.DNSDomain,
			Lookup:      m.lookup,
		})
		if err != nil {
			return nil, err
		}
		m.ntlm = s
	}
	return m, nil
}

// Mode returns the mode the middleware enforces.
func (m *Middleware) Mode() Mode { return m.cfg.Mode }

// lookup resolves a user name in any accepted form to the canonical name
// and password.
func (m *Middleware) lookup(name, _ string) (string, string, bool) {
	user := CanonicalName(name)
	if user == "" {
		return "", "", false
	}
	if canon, ok := lookupName(m.cfg.Users, user); ok {
		return canon, m.cfg.Users[canon], true
	}
	if m.cfg.Lookup != nil {
		return m.cfg.Lookup(user)
	}
	return "", "", false
}

// CanonicalName strips the domain from a user name given as
// "DOMAIN\user" or "user@domain", the forms Exchange accepts for the
// mailbox owner.
func CanonicalName(name string) string {
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	return name
}

func lookupName(users map[string]string, name string) (string, bool) {
	if _, ok := users[name]; ok {
		return name, true
	}
	keys := make([]string, 0, len(users))
	for k := range users {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

// ServeHTTP authenticates r and calls the wrapped handler, or answers 401.
func (m *Middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch m.cfg.Mode {
	case ModeNone:
		if user, ok := m.basicUser(r); ok {
			r = r.WithContext(WithUser(r.Context(), user))
		}
		m.next.ServeHTTP(w, r)
	case ModeBasic:
		user, ok := m.basicUser(r)
		if !ok {
			m.reject(w, r, fmt.Sprintf("Basic realm=%q", m.cfg.DNSDomain))
			return
		}
		m.next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), user)))
	case ModeBearer:
		user, ok := m.bearerUser(r)
		if !ok {
			chal := "Bearer"
			if r.Header.Get("Authorization") != "" {
				chal = `Bearer error="invalid_token"`
			}
			m.reject(w, r, chal)
			return
		}
		m.next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), user)))
	case ModeNTLM:
		user, ok := m.ntlm.Authenticate(w, r)
		if !ok {
			return
		}
		m.next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), user)))
	}
}

func (m *Middleware) reject(w http.ResponseWriter, r *http.Request, challenge string) {
	m.log.Debug("ewstest: request not authenticated", "remote", r.RemoteAddr, "mode", string(m.cfg.Mode))
	ntlmserver.Unauthorized(w, r, challenge)
}

func (m *Middleware) basicUser(r *http.Request) (string, bool) {
	name, pass, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	canon, want, ok := m.lookup(name, "")
	if !ok {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(pass), []byte(want)) != 1 {
		return "", false
	}
	return canon, true
}

func (m *Middleware) bearerUser(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", false
	}
	for t, u := range m.cfg.Tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
			canon, _, ok := m.lookup(u, "")
			return canon, ok
		}
	}
	return "", false
}

// BasicHeader returns the Authorization header value for user and pass,
// a convenience for tests and tools.
func BasicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

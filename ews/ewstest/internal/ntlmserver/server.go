package ntlmserver

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"time"
)

// LookupFunc resolves the user name and domain of an AUTHENTICATE message
// to the canonical user name and its password; ok is false for an unknown
// user.
type LookupFunc func(user, domain string) (canonical, password string, ok bool)

// Config configures a Server.
type Config struct {
	// Domain is the NetBIOS domain name (MsvAvNbDomainName, and the
	// challenge's TargetName). Required.
	Domain string
	// Computer is the NetBIOS computer name (MsvAvNbComputerName). Required.
	Computer string
	// DNSDomain and DNSComputer are MsvAvDnsDomainName and
	// MsvAvDnsComputerName. Required.
	DNSDomain   string
	DNSComputer string
	// Lookup resolves users. Required.
	Lookup LookupFunc
	// Now is the time source for MsvAvTimestamp. Default time.Now.
	Now func() time.Time
	// Rand is the source of server challenges. Default crypto/rand.Reader.
	Rand io.Reader
}

// Server verifies NTLMv2 handshakes. It is safe for concurrent use.
type Server struct {
	cfg Config
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Domain == "" || cfg.Computer == "" || cfg.DNSDomain == "" || cfg.DNSComputer == "" {
		return nil, fmt.Errorf("%w: domain and computer names are required", ErrConfig)
	}
	if cfg.Lookup == nil {
		return nil, fmt.Errorf("%w: Lookup is required", ErrConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &Server{cfg: cfg}, nil
}

// Challenge is an issued CHALLENGE message and the state needed to verify
// the answer to it.
type Challenge struct {
	// Message is the encoded CHALLENGE message.
	Message []byte
	// ServerChallenge is its random 8-byte nonce.
	ServerChallenge [8]byte
}

// Challenge parses a NEGOTIATE message and returns the CHALLENGE to send.
func (s *Server) Challenge(negotiateMsg []byte) (*Challenge, error) {
	neg, err := parseNegotiate(negotiateMsg)
	if err != nil {
		return nil, err
	}
	ch := &Challenge{}
	if _, err := io.ReadFull(s.cfg.Rand, ch.ServerChallenge[:]); err != nil {
		return nil, fmt.Errorf("ntlmserver: server challenge: %w", err)
	}
	flags := uint32(flagNTLM | flagRequestTarget | flagTargetTypeDomain | flagTargetInfo)
	flags |= neg.flags & echoed
	if flags&flagUnicode == 0 {
		flags |= flagOEM
	}
	info := targetInfo(s.cfg.Domain, s.cfg.Computer, s.cfg.DNSDomain, s.cfg.DNSComputer, s.cfg.Now())
	ch.Message = buildChallenge(flags, ch.ServerChallenge, s.cfg.Domain, info)
	return ch, nil
}

// Verify checks an AUTHENTICATE message against ch and returns the
// canonical name of the authenticated user.
func (s *Server) Verify(ch *Challenge, authenticateMsg []byte) (string, error) {
	if ch == nil {
		return "", fmt.Errorf("%w: AUTHENTICATE without a challenge", ErrUnexpectedMessage)
	}
	a, err := parseAuthenticate(authenticateMsg)
	if err != nil {
		return "", err
	}
	if a.flags&flagAnonymous != 0 || (a.user == "" && len(a.nt) == 0) {
		return "", ErrAnonymous
	}
	if len(a.nt) <= 24 {
		// 24 bytes is an NTLMv1 response; less is LM only or nothing.
		return "", ErrNTLMv1
	}
	if len(a.nt) < 16+28 {
		return "", fmt.Errorf("%w: NTLMv2 response too short", ErrMalformed)
	}
	canon, password, ok := s.cfg.Lookup(a.user, a.domain)
	if !ok {
		return "", fmt.Errorf("%w: unknown user %q", ErrBadCredentials, a.user)
	}
	key := ntowfv2(password, a.user, a.domain)
	proof, blob := a.nt[:16], a.nt[16:]
	m := hmac.New(md5.New, key)
	m.Write(ch.ServerChallenge[:])
	m.Write(blob)
	if !hmac.Equal(m.Sum(nil), proof) {
		return "", fmt.Errorf("%w: wrong password for %q", ErrBadCredentials, a.user)
	}
	return canon, nil
}

// ntowfv2 is MS-NLMP's NTOWFv2(password, user, domain).
func ntowfv2(password, user, domain string) []byte {
	nt := md4Sum(encodeUTF16(password))
	m := hmac.New(md5.New, nt[:])
	m.Write(encodeUTF16(strings.ToUpper(user) + domain))
	return m.Sum(nil)
}

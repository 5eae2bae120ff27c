package ntlmserver

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/rc4"
	"encoding/binary"
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
	// negotiate is the NEGOTIATE message it answers (for the MIC).
	negotiate []byte
}

// Challenge parses a NEGOTIATE message and returns the CHALLENGE to send.
func (s *Server) Challenge(negotiateMsg []byte) (*Challenge, error) {
	neg, err := parseNegotiate(negotiateMsg)
	if err != nil {
		return nil, err
	}
	ch := &Challenge{negotiate: append([]byte(nil), negotiateMsg...)}
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
	if err := checkMIC(ch, authenticateMsg, a, key, proof, blob); err != nil {
		return "", err
	}
	return canon, nil
}

// checkMIC verifies the AUTHENTICATE message's MIC when the client says it
// sent one (MsvAvFlags bit 0x2 in the NTLMv2 blob's AV pairs), as MS-NLMP
// 3.2.5.1.2 requires: HMAC-MD5 keyed with the exported session key over
// the NEGOTIATE, CHALLENGE and AUTHENTICATE messages (MIC zeroed).
func checkMIC(ch *Challenge, msg []byte, a authenticate, responseKey, proof, blob []byte) error {
	flags, ok := blobAVFlags(blob)
	if !ok || flags&avFlagMIC == 0 {
		return nil
	}
	if len(msg) < micOffset+16 {
		return fmt.Errorf("%w: MIC announced but missing", ErrMalformed)
	}
	m := hmac.New(md5.New, responseKey)
	m.Write(proof)
	sessionBaseKey := m.Sum(nil) // = KeyExchangeKey for NTLMv2
	exported := sessionBaseKey
	if a.flags&flagKeyExch != 0 && len(a.encryptedSessionKey) == 16 {
		c, err := rc4.NewCipher(sessionBaseKey)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		exported = make([]byte, 16)
		c.XORKeyStream(exported, a.encryptedSessionKey)
	}
	zeroed := append([]byte(nil), msg...)
	clear(zeroed[micOffset : micOffset+16])
	mac := hmac.New(md5.New, exported)
	mac.Write(ch.negotiate)
	mac.Write(ch.Message)
	mac.Write(zeroed)
	if !hmac.Equal(mac.Sum(nil), msg[micOffset:micOffset+16]) {
		return fmt.Errorf("%w: MIC does not match", ErrBadCredentials)
	}
	return nil
}

// micOffset is where the MIC sits in an AUTHENTICATE message (after the
// 64-byte fixed part and the 8-byte Version).
const micOffset = 72

// avFlagMIC is the MsvAvFlags bit saying the message carries a MIC.
const avFlagMIC = 0x00000002

// blobAVFlags returns the MsvAvFlags value of an NTLMv2 client blob
// (NTLMv2_CLIENT_CHALLENGE: AV pairs start at offset 28).
func blobAVFlags(blob []byte) (uint32, bool) {
	if len(blob) < 28 {
		return 0, false
	}
	av := blob[28:]
	for len(av) >= 4 {
		id, n := binary.LittleEndian.Uint16(av), int(binary.LittleEndian.Uint16(av[2:]))
		if id == avEOL || 4+n > len(av) {
			return 0, false
		}
		if id == avFlags && n == 4 {
			return binary.LittleEndian.Uint32(av[4:]), true
		}
		av = av[4+n:]
	}
	return 0, false
}

// ntowfv2 is MS-NLMP's NTOWFv2(password, user, domain).
func ntowfv2(password, user, domain string) []byte {
	nt := md4Sum(encodeUTF16(password))
	m := hmac.New(md5.New, nt[:])
	m.Write(encodeUTF16(strings.ToUpper(user) + domain))
	return m.Sum(nil)
}

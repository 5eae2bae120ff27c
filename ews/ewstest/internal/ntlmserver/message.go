package ntlmserver

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf16"
)

var signature = []byte("NTLMSSP\x00")

// Message types.
const (
	typeNegotiate    = 1
	typeChallenge    = 2
	typeAuthenticate = 3
)

// Negotiate flags (MS-NLMP 2.2.2.5).
const (
	flagUnicode               = 0x00000001
	flagOEM                   = 0x00000002
	flagRequestTarget         = 0x00000004
	flagSign                  = 0x00000010
	flagSeal                  = 0x00000020
	flagLMKey                 = 0x00000080
	flagNTLM                  = 0x00000200
	flagAnonymous             = 0x00000800
	flagAlwaysSign            = 0x00008000
	flagTargetTypeDomain      = 0x00010000
	flagExtendedSessionSecure = 0x00080000
	flagTargetInfo            = 0x00800000
	flagVersion               = 0x02000000
	flag128                   = 0x20000000
	flagKeyExch               = 0x40000000
	flag56                    = 0x80000000
)

// echoed is the set of client-requested flags the challenge grants.
const echoed = flagUnicode | flagSign | flagSeal | flagAlwaysSign |
	flagExtendedSessionSecure | flagVersion | flag128 | flagKeyExch | flag56

// AV pair ids (MS-NLMP 2.2.2.1).
const (
	avEOL             = 0
	avNbComputerName  = 1
	avNbDomainName    = 2
	avDNSComputerName = 3
	avDNSDomainName   = 4
	avFlags           = 6
	avTimestamp       = 7
)

// MessageType returns the type of an NTLM message (1 NEGOTIATE,
// 2 CHALLENGE, 3 AUTHENTICATE) after checking its signature.
func MessageType(msg []byte) (uint32, error) {
	if len(msg) < 12 || !bytes.Equal(msg[:8], signature) {
		return 0, fmt.Errorf("%w: bad signature", ErrMalformed)
	}
	return binary.LittleEndian.Uint32(msg[8:12]), nil
}

// negotiate is the part of a NEGOTIATE message the server uses.
type negotiate struct {
	flags uint32
}

func parseNegotiate(msg []byte) (negotiate, error) {
	typ, err := MessageType(msg)
	if err != nil {
		return negotiate{}, err
	}
	if typ != typeNegotiate {
		return negotiate{}, fmt.Errorf("%w: type %d, want NEGOTIATE", ErrUnexpectedMessage, typ)
	}
	if len(msg) < 16 {
		return negotiate{}, fmt.Errorf("%w: NEGOTIATE too short", ErrMalformed)
	}
	return negotiate{flags: binary.LittleEndian.Uint32(msg[12:16])}, nil
}

// field reads the (length, maxlength, offset) descriptor at off.
func field(msg []byte, off int) ([]byte, error) {
	if off+8 > len(msg) {
		return nil, fmt.Errorf("%w: truncated header", ErrMalformed)
	}
	n := int(binary.LittleEndian.Uint16(msg[off:]))
	start := int(binary.LittleEndian.Uint32(msg[off+4:]))
	if n == 0 {
		return nil, nil
	}
	if start < 0 || start > len(msg) || n > len(msg)-start {
		return nil, fmt.Errorf("%w: field out of range", ErrMalformed)
	}
	return msg[start : start+n], nil
}

// authenticate is the parsed AUTHENTICATE message.
type authenticate struct {
	lm, nt []byte
	// encryptedSessionKey is EncryptedRandomSessionKey (with KEY_EXCH).
	encryptedSessionKey []byte
	domain              string
	user                string
	workstation         string
	flags               uint32
}

func parseAuthenticate(msg []byte) (authenticate, error) {
	var a authenticate
	typ, err := MessageType(msg)
	if err != nil {
		return a, err
	}
	if typ != typeAuthenticate {
		return a, fmt.Errorf("%w: type %d, want AUTHENTICATE", ErrUnexpectedMessage, typ)
	}
	if len(msg) < 64 {
		return a, fmt.Errorf("%w: AUTHENTICATE too short", ErrMalformed)
	}
	a.flags = binary.LittleEndian.Uint32(msg[60:64])
	if a.lm, err = field(msg, 12); err != nil {
		return a, err
	}
	if a.nt, err = field(msg, 20); err != nil {
		return a, err
	}
	if a.encryptedSessionKey, err = field(msg, 52); err != nil {
		return a, err
	}
	var raw [3][]byte
	for i, off := range [3]int{28, 36, 44} {
		if raw[i], err = field(msg, off); err != nil {
			return a, err
		}
	}
	dec := decodeOEM
	if a.flags&flagUnicode != 0 {
		dec = decodeUTF16
	}
	if a.domain, err = dec(raw[0]); err != nil {
		return a, err
	}
	if a.user, err = dec(raw[1]); err != nil {
		return a, err
	}
	if a.workstation, err = dec(raw[2]); err != nil {
		return a, err
	}
	return a, nil
}

func decodeOEM(b []byte) (string, error) { return string(b), nil }

func decodeUTF16(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("%w: odd-length UTF-16 string", ErrMalformed)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

func encodeUTF16(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// filetime converts t to a Windows FILETIME (100 ns since 1601-01-01).
func filetime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + 116444736000000000
}

// targetInfo encodes the AV pairs of a CHALLENGE message.
func targetInfo(nbDomain, nbComputer, dnsDomain, dnsComputer string, now time.Time) []byte {
	var b []byte
	put := func(id uint16, v []byte) {
		b = binary.LittleEndian.AppendUint16(b, id)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	put(avNbDomainName, encodeUTF16(nbDomain))
	put(avNbComputerName, encodeUTF16(nbComputer))
	put(avDNSDomainName, encodeUTF16(dnsDomain))
	put(avDNSComputerName, encodeUTF16(dnsComputer))
	put(avTimestamp, binary.LittleEndian.AppendUint64(nil, filetime(now)))
	put(avEOL, nil)
	return b
}

// buildChallenge encodes a CHALLENGE message (MS-NLMP 2.2.1.2).
func buildChallenge(flags uint32, serverChallenge [8]byte, target string, info []byte) []byte {
	var tname []byte
	if flags&flagUnicode != 0 {
		tname = encodeUTF16(target)
	} else {
		tname = []byte(target)
	}
	const hdr = 56
	msg := make([]byte, hdr, hdr+len(tname)+len(info))
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeChallenge)
	binary.LittleEndian.PutUint16(msg[12:], uint16(len(tname)))
	binary.LittleEndian.PutUint16(msg[14:], uint16(len(tname)))
	binary.LittleEndian.PutUint32(msg[16:], hdr)
	binary.LittleEndian.PutUint32(msg[20:], flags)
	copy(msg[24:32], serverChallenge[:])
	binary.LittleEndian.PutUint16(msg[40:], uint16(len(info)))
	binary.LittleEndian.PutUint16(msg[42:], uint16(len(info)))
	binary.LittleEndian.PutUint32(msg[44:], uint32(hdr+len(tname)))
	// Version: Windows Server 2019 (10.0.17763), NTLM revision 15.
	msg[48], msg[49] = 10, 0
	binary.LittleEndian.PutUint16(msg[50:], 17763)
	msg[55] = 0x0f
	msg = append(msg, tname...)
	msg = append(msg, info...)
	return msg
}

package ews

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"math/bits"
	"net/http"
	"strings"
	"sync"
	"unicode/utf16"
)

// ntlmServer is the server side of NTLMv2 for tests: it issues challenges,
// verifies the NTProofStr of AUTHENTICATE messages against a known
// password, and treats authentication as a property of the TCP connection
// (keyed by RemoteAddr), as IIS does.
type ntlmServer struct {
	user, domain, password string
	next                   http.Handler

	mu         sync.Mutex
	challenges map[string][]byte // conn -> server challenge issued
	authed     map[string]bool   // conn -> authenticated
	legs       []ntlmLeg
}

// ntlmLeg records one request seen by the server.
type ntlmLeg struct {
	conn string
	kind int // 0 none, 1 NEGOTIATE, 3 AUTHENTICATE
	code int // status answered
}

func newNTLMServer(user, domain, password string, next http.Handler) *ntlmServer {
	return &ntlmServer{user: user, domain: domain, password: password, next: next,
		challenges: map[string][]byte{}, authed: map[string]bool{}}
}

func (s *ntlmServer) record(conn string, kind, code int) {
	s.legs = append(s.legs, ntlmLeg{conn, kind, code})
}

func (s *ntlmServer) snapshot() []ntlmLeg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ntlmLeg(nil), s.legs...)
}

func (s *ntlmServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn := r.RemoteAddr
	h := r.Header.Get("Authorization")
	s.mu.Lock()
	if h == "" {
		if s.authed[conn] {
			s.record(conn, 0, 200)
			s.mu.Unlock()
			s.next.ServeHTTP(w, r)
			return
		}
		s.record(conn, 0, 401)
		s.mu.Unlock()
		w.Header().Add("WWW-Authenticate", "Negotiate")
		w.Header().Add("WWW-Authenticate", "NTLM")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	scheme, tok, _ := strings.Cut(h, " ")
	msg, err := base64.StdEncoding.DecodeString(tok)
	if (scheme != "NTLM" && scheme != "Negotiate") || err != nil || len(msg) < 12 || !bytes.Equal(msg[:8], []byte("NTLMSSP\x00")) {
		s.record(conn, -1, 400)
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	switch binary.LittleEndian.Uint32(msg[8:12]) {
	case 1:
		chal := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, byte(len(s.legs)), 0xef}
		s.challenges[conn] = chal
		s.record(conn, 1, 401)
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(challengeMessage(chal)))
		w.WriteHeader(http.StatusUnauthorized)
	case 3:
		chal := s.challenges[conn]
		ok := chal != nil && s.verify(msg, chal)
		delete(s.challenges, conn)
		if !ok {
			s.record(conn, 3, 401)
			s.mu.Unlock()
			w.Header().Add("WWW-Authenticate", "NTLM")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.authed[conn] = true
		s.record(conn, 3, 200)
		s.mu.Unlock()
		s.next.ServeHTTP(w, r)
	default:
		s.record(conn, -1, 400)
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
	}
}

// challengeMessage builds a CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) with
// Unicode, NTLM and extended session security, no target info.
func challengeMessage(chal []byte) []byte {
	b := make([]byte, 48)
	copy(b, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(b[8:], 2)
	binary.LittleEndian.PutUint32(b[16:], 48) // empty TargetName at offset 48
	const flags = 0x00000001 | 0x00000200 | 0x00080000
	binary.LittleEndian.PutUint32(b[20:], flags)
	copy(b[24:32], chal)
	binary.LittleEndian.PutUint32(b[44:], 48) // empty TargetInfo
	return b
}

// verify checks an AUTHENTICATE_MESSAGE's user and NTLMv2 proof.
func (s *ntlmServer) verify(msg, chal []byte) bool {
	field := func(off int) []byte {
		if len(msg) < off+8 {
			return nil
		}
		n := int(binary.LittleEndian.Uint16(msg[off:]))
		at := int(binary.LittleEndian.Uint32(msg[off+4:]))
		if at < 0 || n < 0 || at+n > len(msg) {
			return nil
		}
		return msg[at : at+n]
	}
	nt := field(20)
	user := fromUTF16(field(36))
	domain := fromUTF16(field(28))
	if len(nt) < 32 || !strings.EqualFold(user, s.user) || !strings.EqualFold(domain, s.domain) {
		return false
	}
	ntowf := hmacMD5(md4(toUTF16(s.password)), toUTF16(strings.ToUpper(user)+domain))
	proof := hmacMD5(ntowf, append(append([]byte{}, chal...), nt[16:]...))
	return hmac.Equal(proof, nt[:16])
}

func hmacMD5(key, data []byte) []byte {
	m := hmac.New(md5.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func toUTF16(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// md4 is RFC 1320 MD4, needed for the NT hash (not in the standard library).
func md4(msg []byte) []byte {
	ml := uint64(len(msg)) * 8
	msg = append(append([]byte{}, msg...), 0x80)
	for len(msg)%64 != 56 {
		msg = append(msg, 0)
	}
	msg = binary.LittleEndian.AppendUint64(msg, ml)
	a, b, c, d := uint32(0x67452301), uint32(0xefcdab89), uint32(0x98badcfe), uint32(0x10325476)
	var x [16]uint32
	for off := 0; off < len(msg); off += 64 {
		for i := range x {
			x[i] = binary.LittleEndian.Uint32(msg[off+4*i:])
		}
		aa, bb, cc, dd := a, b, c, d
		f := func(x, y, z uint32) uint32 { return x&y | ^x&z }
		g := func(x, y, z uint32) uint32 { return x&y | x&z | y&z }
		h := func(x, y, z uint32) uint32 { return x ^ y ^ z }
		r1 := [4]int{3, 7, 11, 19}
		for i := 0; i < 16; i++ {
			k := i
			t := a + f(b, c, d) + x[k]
			a, b, c, d = d, bits.RotateLeft32(t, r1[i%4]), b, c
		}
		r2 := [4]int{3, 5, 9, 13}
		for i := 0; i < 16; i++ {
			k := (i%4)*4 + i/4
			t := a + g(b, c, d) + x[k] + 0x5a827999
			a, b, c, d = d, bits.RotateLeft32(t, r2[i%4]), b, c
		}
		r3 := [4]int{3, 9, 11, 15}
		order := [16]int{0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15}
		for i := 0; i < 16; i++ {
			t := a + h(b, c, d) + x[order[i]] + 0x6ed9eba1
			a, b, c, d = d, bits.RotateLeft32(t, r3[i%4]), b, c
		}
		a, b, c, d = a+aa, b+bb, c+cc, d+dd
	}
	out := make([]byte, 16)
	binary.LittleEndian.PutUint32(out[0:], a)
	binary.LittleEndian.PutUint32(out[4:], b)
	binary.LittleEndian.PutUint32(out[8:], c)
	binary.LittleEndian.PutUint32(out[12:], d)
	return out
}

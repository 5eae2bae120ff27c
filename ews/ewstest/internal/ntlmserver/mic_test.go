package ntlmserver

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

func hmacMD5(key []byte, parts ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// buildMICAuth builds an NTLMv2 AUTHENTICATE message that announces a MIC
// (MsvAvFlags 0x2) and carries one computed per MS-NLMP 3.1.5.1.2, without
// key exchange. mutate may alter the message after the MIC is computed.
func buildMICAuth(t *testing.T, neg []byte, ch *Challenge, user, domain, password string, mutate func([]byte)) []byte {
	t.Helper()
	info, err := field(ch.Message, 40)
	if err != nil {
		t.Fatal(err)
	}
	info = info[:len(info)-4] // drop MsvAvEOL
	info = binary.LittleEndian.AppendUint16(info, avFlags)
	info = binary.LittleEndian.AppendUint16(info, 4)
	info = binary.LittleEndian.AppendUint32(info, avFlagMIC)
	info = append(info, 0, 0, 0, 0) // MsvAvEOL
	blob := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	blob = binary.LittleEndian.AppendUint64(blob, filetime(testNow))
	blob = append(blob, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0, 0, 0, 0)
	blob = append(blob, info...)
	blob = append(blob, 0, 0, 0, 0)
	key := ntowfv2(password, user, domain)
	proof := hmacMD5(key, ch.ServerChallenge[:], blob)
	nt := append(append([]byte(nil), proof...), blob...)

	msg := make([]byte, 88)
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeAuthenticate)
	binary.LittleEndian.PutUint32(msg[60:], flagUnicode|flagNTLM|flagExtendedSessionSecure|flagVersion)
	put := func(off int, v []byte) {
		binary.LittleEndian.PutUint16(msg[off:], uint16(len(v)))
		binary.LittleEndian.PutUint16(msg[off+2:], uint16(len(v)))
		binary.LittleEndian.PutUint32(msg[off+4:], uint32(len(msg)))
		msg = append(msg, v...)
	}
	put(12, nil)
	put(20, nt)
	put(28, encodeUTF16(domain))
	put(36, encodeUTF16(user))
	put(44, nil)
	put(52, nil)
	mic := hmacMD5(hmacMD5(key, proof), neg, ch.Message, msg)
	copy(msg[micOffset:], mic)
	if mutate != nil {
		mutate(msg)
	}
	return msg
}

func TestServer_VerifiesMIC(t *testing.T) {
	s := newTestServer(t)
	neg, _ := ntlmssp.NewNegotiateMessage("", "")
	newCh := func() *Challenge {
		ch, err := s.Challenge(neg)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	ch := newCh()
	if u, err := s.Verify(ch, buildMICAuth(t, neg, ch, "alice", "EXAMPLE", "secret", nil)); err != nil || u != "alice" {
		t.Fatalf("valid MIC: %q %v", u, err)
	}
	ch = newCh()
	flip := func(b []byte) { b[micOffset] ^= 1 }
	if _, err := s.Verify(ch, buildMICAuth(t, neg, ch, "alice", "EXAMPLE", "secret", flip)); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("tampered MIC: %v", err)
	}
	// A MIC computed over another NEGOTIATE (a downgraded handshake) fails.
	ch = newCh()
	other := bytes.Clone(neg)
	other[12] ^= 0x10
	if _, err := s.Verify(ch, buildMICAuth(t, other, ch, "alice", "EXAMPLE", "secret", nil)); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("MIC over another NEGOTIATE: %v", err)
	}
	// MIC announced, message too short to hold it.
	ch = newCh()
	short := buildMICAuth(t, neg, ch, "alice", "EXAMPLE", "secret", nil)
	if _, err := s.Verify(ch, short[:80]); err == nil {
		t.Fatal("truncated MIC accepted")
	}
}

func TestNTLMv2_MSNLMPVector(t *testing.T) {
	// MS-NLMP 4.2.4: User "User", UserDom "Domain", Password "Password",
	// server challenge 0123456789abcdef, client challenge aa×8, time 0,
	// AV pairs NbDomainName "Domain" and NbComputerName "Server".
	sc, _ := hex.DecodeString("0123456789abcdef")
	var av []byte
	for _, p := range []struct {
		id uint16
		v  string
	}{{avNbDomainName, "Domain"}, {avNbComputerName, "Server"}} {
		av = binary.LittleEndian.AppendUint16(av, p.id)
		av = binary.LittleEndian.AppendUint16(av, uint16(2*len(p.v)))
		av = append(av, encodeUTF16(p.v)...)
	}
	av = append(av, 0, 0, 0, 0)
	blob := append([]byte{1, 1, 0, 0, 0, 0, 0, 0}, make([]byte, 8)...)
	blob = append(blob, bytes.Repeat([]byte{0xaa}, 8)...)
	blob = append(blob, 0, 0, 0, 0)
	blob = append(blob, av...)
	blob = append(blob, 0, 0, 0, 0)
	key := ntowfv2("Password", "User", "Domain")
	proof := hmacMD5(key, sc, blob)
	if got := hex.EncodeToString(proof); got != "68cd0ab851e51c96aabc927bebef6a1c" {
		t.Errorf("NTProofStr = %s", got)
	}
	if got := hex.EncodeToString(hmacMD5(key, proof)); got != "8de40ccadbc14a82f15cb0ad0de95ca3" {
		t.Errorf("SessionBaseKey = %s", got)
	}
}

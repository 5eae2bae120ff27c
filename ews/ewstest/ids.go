package ewstest

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
)

// Exchange ItemIds and FolderIds are base64 of a binary record that names
// the mailbox and the store entry; a typical ItemId starts "AAMkA". The
// fake builds ids with the same outer shape: a fixed header, the mailbox's
// GUID as 36 ASCII characters, a kind byte and an 8-byte value that is a
// bijective mix of a per-mailbox counter (so ids are unique but do not look
// sequential). ChangeKeys are base64 of a short record holding the mailbox
// key and the object's latest change number, so every modification gives a
// new ChangeKey.

const (
	idKindItem   byte = 0x46
	idKindFolder byte = 0x01
)

// splitmix64 is a bijection on uint64 with good diffusion.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// mailboxKey derives a stable 64-bit key from an SMTP address.
func mailboxKey(address string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(address))
	return h.Sum64()
}

// mailboxGUID formats a GUID-shaped string derived from key.
func mailboxGUID(key uint64) string {
	a, b := splitmix64(key), splitmix64(key^0x5bd1e995)
	const hexd = "0123456789abcdef"
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], a)
	binary.BigEndian.PutUint64(raw[8:], b)
	out := make([]byte, 0, 36)
	for i, c := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[c>>4], hexd[c&15])
	}
	return string(out)
}

// newID returns a fresh opaque id of the given kind. Caller holds m.mu.
func (m *Mailbox) newID(kind byte) string {
	m.idSeq++
	var b [4 + 36 + 2 + 8]byte
	b[0], b[1], b[2], b[3] = 0x00, 0x03, 0x24, 0x00
	copy(b[4:40], m.guid)
	b[40] = kind
	b[41] = 0x00
	binary.BigEndian.PutUint64(b[42:], splitmix64(m.idSeq^m.key))
	return base64.StdEncoding.EncodeToString(b[:])
}

// changeKey renders a ChangeKey for an object whose latest change number is
// cn. Folder change keys start "AQAAA", item change keys "CQAAA", as on
// Exchange.
func (m *Mailbox) changeKey(folder bool, cn uint64) string {
	var b [8 + 8 + 8]byte
	if folder {
		b[0] = 0x01
	} else {
		b[0] = 0x09
	}
	b[4] = 0x10
	binary.LittleEndian.PutUint64(b[8:], m.key)
	binary.BigEndian.PutUint64(b[16:], cn)
	return base64.StdEncoding.EncodeToString(b[:])
}

package ewsxml

import (
	"bytes"
	"unicode/utf8"
)

// Byte classes of names (ASCII only; the scanner leaves other names to
// Parse).
const (
	nameNone uint8 = iota
	nameStart
	nameChar
	nameColon
	nameHigh
)

// Byte classes of character data.
const (
	textOK uint8 = iota
	textBad
	textAmp
	textCR
	textBracket
	textLT
	textHigh
)

var nameClass, textClass [256]uint8

func init() {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
			nameClass[c] = nameStart
		case c >= '0' && c <= '9', c == '.', c == '-':
			nameClass[c] = nameChar
		case c == ':':
			nameClass[c] = nameColon
		case c >= utf8.RuneSelf:
			nameClass[c] = nameHigh
		}
		switch {
		case c >= utf8.RuneSelf:
			textClass[c] = textHigh
		case c == '&':
			textClass[c] = textAmp
		case c == '\r':
			textClass[c] = textCR
		case c == ']':
			textClass[c] = textBracket
		case c == '<':
			textClass[c] = textLT
		case c < 0x20 && c != '\t' && c != '\n':
			textClass[c] = textBad
		}
	}
}

// checkText reports whether seg is character data (attr: an attribute
// value) that Parse accepts and the scanner decodes, and whether it is
// plain, needing no decoding (no references, no \r).
func checkText(seg []byte, attr bool) (plain, ok bool) {
	plain = true
	for i := 0; i < len(seg); {
		switch textClass[seg[i]] {
		case textOK:
			i++
		case textAmp:
			n, _ := entityAt(seg[i:])
			if n == 0 {
				return false, false
			}
			plain = false
			i += n
		case textCR:
			plain = false
			i++
		case textBracket:
			if !attr && i+2 < len(seg) && seg[i+1] == ']' && seg[i+2] == '>' {
				return false, false
			}
			i++
		case textHigh:
			r, size := utf8.DecodeRune(seg[i:])
			if r == utf8.RuneError && size == 1 || !isXMLChar(uint64(r)) {
				return false, false
			}
			i += size
		default: // textBad, textLT
			return false, false
		}
	}
	return plain, true
}

// checkCDATA reports whether body is CDATA content the scanner reads as
// Parse does, and whether it is plain (no \r).
func checkCDATA(body []byte) (plain, ok bool) {
	if bytes.Contains(body, []byte("&#")) || bytes.Contains(body, []byte(mimeMarker)) {
		return false, false // the tree path rewrites these in the raw bytes
	}
	plain = true
	for i := 0; i < len(body); {
		switch textClass[body[i]] {
		case textBad:
			return false, false
		case textCR:
			plain = false
			i++
		case textHigh:
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size == 1 || !isXMLChar(uint64(r)) {
				return false, false
			}
			i += size
		default:
			i++
		}
	}
	return plain, true
}

// entityAt reads the reference at b (b[0] == '&') and returns its length
// (0 when the scanner does not take it) and its character. A numeric
// reference to a character XML forbids, or past 32 bits, is U+FFFD, as
// ParseBytes reads it.
func entityAt(b []byte) (int, rune) {
	if len(b) < 3 {
		return 0, 0
	}
	if b[1] != '#' {
		for _, e := range namedEntities {
			if bytes.HasPrefix(b[1:], []byte(e.name)) {
				return 1 + len(e.name), e.r
			}
		}
		return 0, 0
	}
	base, start := uint64(10), 2
	if b[2] == 'x' {
		base, start = 16, 3
	}
	var n uint64
	end := start
	for end < len(b) && end-start < 16 {
		c := b[end]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			goto done
		}
		n = n*base + d
		end++
	}
done:
	if end == start || end >= len(b) || b[end] != ';' {
		return 0, 0
	}
	if n > 0xFFFFFFFF || !isXMLChar(n) {
		return end + 1, utf8.RuneError
	}
	return end + 1, rune(n)
}

var namedEntities = [...]struct {
	name string
	r    rune
}{{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"apos;", '\''}, {"quot;", '"'}}

// appendText appends seg, checked by checkText, with references replaced
// and \r\n and \r as \n.
func appendText(dst, seg []byte) []byte {
	for i := 0; i < len(seg); {
		c := seg[i]
		switch c {
		case '&':
			n, r := entityAt(seg[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
		case '\r':
			dst = append(dst, '\n')
			i++
			if i < len(seg) && seg[i] == '\n' {
				i++
			}
		default:
			j := i + 1
			for j < len(seg) && seg[j] != '&' && seg[j] != '\r' {
				j++
			}
			dst = append(dst, seg[i:j]...)
			i = j
		}
	}
	return dst
}

// appendCR appends CDATA content with \r\n and \r as \n.
func appendCR(dst, body []byte) []byte {
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\r' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '\n')
		if i+1 < len(body) && body[i+1] == '\n' {
			i++
		}
	}
	return dst
}

package ews

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
)

// The XML tokenizer reads character data a byte at a time, which makes
// large MimeContent (base64 of whole messages) the slowest part of a
// GetItem response by far. extractMIME lifts such content out of the raw
// body before parsing: each qualifying MimeContent element keeps its tags
// but its text becomes a placeholder "#<n>", and the base64 bytes are
// decoded straight from the body. Content is lifted only when it is plain
// base64 (no entities, no markup), so the XML parser still judges
// everything else, and a placeholder can never be confused with real
// content ('#' is not in the base64 alphabet).

const mimeTag = "MimeContent"

// extractMIME returns body with qualifying MimeContent texts replaced by
// placeholders, and the lifted texts (sub-slices of body) in order. When
// nothing qualifies it returns body itself and nil.
func extractMIME(body []byte) ([]byte, [][]byte) {
	if !bytes.Contains(body, []byte(mimeTag)) {
		return body, nil
	}
	var out []byte
	var lifted [][]byte
	last, from := 0, 0
	for {
		i := bytes.Index(body[from:], []byte(mimeTag))
		if i < 0 {
			break
		}
		i += from
		from = i + len(mimeTag)
		start, end, next, ok := mimeContentAt(body, i)
		if !ok {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(body)/4)
		}
		out = append(out, body[last:start]...)
		out = append(out, '#')
		out = strconv.AppendInt(out, int64(len(lifted)), 10)
		lifted = append(lifted, body[start:end])
		last, from = end, next
	}
	if lifted == nil {
		return body, nil
	}
	return append(out, body[last:]...), lifted
}

// mimeContentAt checks that the name at body[i:] begins a start tag
// <[prefix:]MimeContent ...> (not self-closing) whose text is plain base64
// followed by the matching end tag. It returns the text's bounds and the
// index after the end tag.
func mimeContentAt(body []byte, i int) (start, end, next int, ok bool) {
	// Walk back over an optional prefix to '<'.
	j := i - 1
	if j >= 0 && body[j] == ':' {
		j--
		for j >= 0 && isNameByte(body[j]) {
			j--
		}
	}
	if j < 0 || body[j] != '<' {
		return 0, 0, 0, false
	}
	qname := body[j+1 : i+len(mimeTag)]
	if len(qname) == 0 || qname[0] == ':' {
		return 0, 0, 0, false
	}
	// The name must end here, then attributes up to '>' (quotes may hold
	// '>').
	k := i + len(mimeTag)
	if k >= len(body) || !(body[k] == '>' || isSpace(body[k])) {
		return 0, 0, 0, false
	}
	var quote byte
	for ; k < len(body); k++ {
		c := body[k]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '<':
			return 0, 0, 0, false
		case c == '>':
			goto tagEnd
		}
	}
	return 0, 0, 0, false
tagEnd:
	if body[k-1] == '/' {
		return 0, 0, 0, false // self-closing: no text
	}
	start = k + 1
	lt := bytes.IndexByte(body[start:], '<')
	if lt < 0 {
		return 0, 0, 0, false
	}
	end = start + lt
	for _, c := range body[start:end] {
		if !isBase64Byte(c) && !isSpace(c) {
			return 0, 0, 0, false
		}
	}
	// The matching end tag: "</" qname optional-space ">".
	rest := body[end:]
	if !bytes.HasPrefix(rest, []byte("</")) || !bytes.HasPrefix(rest[2:], qname) {
		return 0, 0, 0, false
	}
	n := 2 + len(qname)
	for n < len(rest) && isSpace(rest[n]) {
		n++
	}
	if n >= len(rest) || rest[n] != '>' {
		return 0, 0, 0, false
	}
	return start, end, end + n + 1, true
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c >= 0x80
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isBase64Byte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

// mimeText decodes a MimeContent text: a placeholder refers to lifted
// content, anything else is base64 read by the XML parser.
func mimeText(text string, lifted [][]byte) ([]byte, error) {
	if len(text) > 0 && text[0] == '#' {
		n, err := strconv.Atoi(text[1:])
		if err != nil || n < 0 || n >= len(lifted) {
			return nil, fmt.Errorf("MimeContent placeholder %q out of range", text)
		}
		src := lifted[n]
		dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
		m, err := decodeBase64Bytes(dst, src)
		if err != nil {
			return nil, err
		}
		return dst[:m], nil
	}
	return decodeBase64(text)
}

// decodeBase64Bytes decodes src into dst, ignoring white space.
func decodeBase64Bytes(dst, src []byte) (int, error) {
	if bytes.ContainsAny(src, " \t") {
		src = bytes.Map(func(r rune) rune {
			if r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, src)
	}
	// StdEncoding skips \r and \n itself.
	n, err := base64.StdEncoding.Decode(dst, src)
	if err != nil {
		return 0, fmt.Errorf("MimeContent is not base64: %w", err)
	}
	return n, nil
}

package ewsxml

import (
	"bytes"
	"errors"
	"fmt"
)

// DefaultMaxAttrs bounds the attributes of one element when Limits.MaxAttrs
// is zero. EWS elements carry at most about ten (ServerVersionInfo with
// its namespace declarations).
const DefaultMaxAttrs = 64

// ErrTooManyAttributes reports an element with more than Limits.MaxAttrs
// attributes, or a document with more attributes in all than
// Limits.MaxTags.
var ErrTooManyAttributes = errors.New("ewsxml: too many attributes")

// Limits bounds what a document may cost once parsed; CheckLimits and the
// Scanner check them while reading the bytes, before anything is built.
type Limits struct {
	// MaxTags bounds the markup: the '<' characters of the document plus
	// one for each self-closing tag (which stands for a start and an end
	// tag), and also the number of attributes in all. Zero means no
	// limit.
	MaxTags int
	// MaxAttrs bounds the attributes (namespace declarations included)
	// of one element. Zero means DefaultMaxAttrs.
	MaxAttrs int
	// MaxDepth bounds element nesting (the root is depth 1). Zero means
	// DefaultMaxDepth.
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = DefaultMaxAttrs
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// maxNS is the bound on namespace declarations in scope (MaxNamespaces,
// which Parse also checks once the tree is built).
func (Limits) maxNS() int { return MaxNamespaces }

// CheckLimits scans b as encoding/xml tokenizes it, without building
// anything, and returns an error wrapping ErrTooManyTags,
// ErrTooManyAttributes, ErrTooManyNamespaces (more than MaxNamespaces
// declarations in scope) or ErrTooDeep when b exceeds l. Malformed input
// it stops reading at is not its concern: the parser fails at the same
// place, having read no more than CheckLimits checked. It allocates only
// a stack of l.MaxDepth counters.
func CheckLimits(b []byte, l Limits) error {
	l = l.withDefaults()
	tags := 0
	if l.MaxTags > 0 {
		tags = bytes.Count(b, []byte{'<'})
		if tags > l.MaxTags {
			return fmt.Errorf("%w: %d tags, limit %d", ErrTooManyTags, tags, l.MaxTags)
		}
	}
	var stack []int // namespace declarations per open element
	inScope, attrs := 0, 0
	for p := 0; ; {
		i := bytes.IndexByte(b[p:], '<')
		if i < 0 {
			return nil
		}
		p += i
		rest := b[p:]
		switch {
		case bytes.HasPrefix(rest, []byte("</")):
			k := bytes.IndexByte(rest, '>')
			if k < 0 {
				return nil
			}
			if n := len(stack); n > 0 {
				inScope -= stack[n-1]
				stack = stack[:n-1]
			}
			p += k + 1
		case bytes.HasPrefix(rest, []byte("<?")):
			k := bytes.Index(rest[2:], []byte("?>"))
			if k < 0 {
				return nil
			}
			p += 2 + k + 2
		case bytes.HasPrefix(rest, []byte("<!--")):
			k := bytes.Index(rest[4:], []byte("-->"))
			if k < 0 {
				return nil
			}
			p += 4 + k + 3
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			k := bytes.Index(rest[9:], []byte("]]>"))
			if k < 0 {
				return nil
			}
			p += 9 + k + 3
		case bytes.HasPrefix(rest, []byte("<!")):
			n := directiveLen(rest)
			if n < 0 {
				return nil
			}
			p += n
		default:
			q, decls, n, empty := startTagLen(rest, l.MaxAttrs)
			if q == -1 {
				return nil
			}
			if inScope+decls > MaxNamespaces {
				return fmt.Errorf("%w (limit %d)", ErrTooManyNamespaces, MaxNamespaces)
			}
			if attrs += n; q == -2 || l.MaxTags > 0 && attrs > l.MaxTags {
				return fmt.Errorf("%w: more than %d on one element or %d in all", ErrTooManyAttributes, l.MaxAttrs, l.MaxTags)
			}
			if len(stack)+1 > l.MaxDepth {
				return fmt.Errorf("%w (limit %d)", ErrTooDeep, l.MaxDepth)
			}
			if empty {
				if tags++; l.MaxTags > 0 && tags > l.MaxTags {
					return fmt.Errorf("%w: more than %d tags (a self-closing tag counts twice)", ErrTooManyTags, l.MaxTags)
				}
			} else {
				stack = append(stack, decls)
				inScope += decls
			}
			p += q
		}
	}
}

// isXMLNameByte is encoding/xml's name byte test, with every non-ASCII
// byte taken as it takes them.
func isXMLNameByte(c byte) bool {
	return nameClass[c] != nameNone
}

// startTagLen reads the start tag at b (b[0] == '<') with encoding/xml's
// strict grammar and returns its length (-1 where the parser fails, -2
// past maxAttrs attributes, where it stops), the namespace declarations
// and attributes it holds, and whether it is self-closing.
func startTagLen(b []byte, maxAttrs int) (n, decls, attrs int, empty bool) {
	p := 1
	for p < len(b) && isXMLNameByte(b[p]) {
		p++
	}
	if p == 1 {
		return -1, 0, 0, false
	}
	for {
		for p < len(b) && isSpaceByte(b[p]) {
			p++
		}
		if p >= len(b) {
			return -1, 0, 0, false
		}
		switch b[p] {
		case '>':
			return p + 1, decls, attrs, false
		case '/':
			if p+1 < len(b) && b[p+1] == '>' {
				return p + 2, decls, attrs, true
			}
			return -1, 0, 0, false
		}
		start := p
		for p < len(b) && isXMLNameByte(b[p]) {
			p++
		}
		if p == start {
			return -1, 0, 0, false
		}
		name := b[start:p]
		attrs++
		if string(name) == "xmlns" || bytes.HasPrefix(name, []byte("xmlns:")) {
			decls++
		}
		if attrs > maxAttrs {
			return -2, decls, attrs, false
		}
		for p < len(b) && isSpaceByte(b[p]) {
			p++
		}
		if p >= len(b) || b[p] != '=' {
			return -1, 0, 0, false
		}
		p++
		for p < len(b) && isSpaceByte(b[p]) {
			p++
		}
		if p >= len(b) || b[p] != '"' && b[p] != '\'' {
			return -1, 0, 0, false
		}
		k := bytes.IndexByte(b[p+1:], b[p])
		if k < 0 {
			return -1, 0, 0, false
		}
		p += 1 + k + 1
	}
}

// directiveLen returns the length of the directive at b (b starts with
// "<!" and is no comment or CDATA section), read as encoding/xml reads
// it: quoted '>' and nested <...> do not end it, comments inside are
// skipped; -1 when it does not end.
func directiveLen(b []byte) int {
	if len(b) < 3 {
		return -1
	}
	var quote byte
	depth := 0
	for p := 3; p < len(b); p++ { // encoding/xml does not look at b[2]
		c := b[p]
		if quote == 0 && c == '>' && depth == 0 {
			return p + 1
		}
		switch {
		case c == quote:
			quote = 0
		case quote != 0:
		case c == '\'' || c == '"':
			quote = c
		case c == '>':
			depth--
		case c == '<':
			if bytes.HasPrefix(b[p:], []byte("<!--")) {
				k := bytes.Index(b[p+4:], []byte("-->"))
				if k < 0 {
					return -1
				}
				p += 4 + k + 2
				continue
			}
			depth++
		}
	}
	return -1
}
